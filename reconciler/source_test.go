package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustSource(t testing.TB, cfg SourceConfig) *Source {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := NewSource(cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

func mustHead(t testing.TB, s *Source) string {
	t.Helper()
	h, err := s.Head(testContext(t))
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func mustCheckout(t testing.TB, s *Source, commit string) *Checkout {
	t.Helper()
	co, err := s.Checkout(testContext(t), commit)
	if err != nil {
		t.Fatalf("Checkout %s: %v", commit, err)
	}
	return co
}

func assertFile(t testing.TB, dir, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if string(got) != want {
		t.Fatalf("%s = %q, want %q", name, got, want)
	}
}

func assertErrorContains(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func packCount(t testing.TB, dir string) []os.FileInfo {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "mirror.git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	var out []os.FileInfo
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fi)
	}
	return out
}

func TestSourceLocalHeadAndCheckout(t *testing.T) {
	for _, kind := range []string{"path", "file URL"} {
		t.Run(kind, func(t *testing.T) {
			repo := newTestRepo(t)
			repo.write("stacks/shop/compose.yml", "services: {web: {image: nginx}}\n")
			c1 := repo.commit("add shop\n\nlonger description")
			url := repo.dir
			if kind == "file URL" {
				url = "file://" + repo.dir
			}
			s := mustSource(t, SourceConfig{URL: url, Branch: "main"})
			if got := mustHead(t, s); got != c1 {
				t.Fatalf("Head = %s, want %s", got, c1)
			}
			co := mustCheckout(t, s, c1)
			assertFile(t, co.Dir, "stacks/shop/compose.yml", "services: {web: {image: nginx}}\n")
			if co.Commit != c1 || co.Message != "add shop" || co.Author != "t" || co.Time.IsZero() {
				t.Fatalf("checkout info = %+v", co)
			}

			repo.write("stacks/shop/compose.yml", "services: {web: {image: nginx:2}}\n")
			c2 := repo.commit("bump")
			if got := mustHead(t, s); got != c2 {
				t.Fatalf("Head after a new commit = %s, want %s", got, c2)
			}
			co2 := mustCheckout(t, s, c2)
			if co2.Dir == co.Dir {
				t.Fatal("the new checkout reused the old directory")
			}
			assertFile(t, co2.Dir, "stacks/shop/compose.yml", "services: {web: {image: nginx:2}}\n")
			assertFile(t, co.Dir, "stacks/shop/compose.yml", "services: {web: {image: nginx}}\n")
		})
	}
}

func TestSourceFetchesIncrementallyAndKeepsItsMirror(t *testing.T) {
	repo := newTestRepo(t)
	for i := range 50 {
		// Incompressible content, so pack sizes follow what was sent.
		repo.write(fmt.Sprintf("stacks/s%02d/compose.yml", i), fmt.Sprintf("services: {app: {image: app:%d}}\n# %s\n", i, randomText(t, 1024)))
	}
	c1 := repo.commit("fifty stacks")
	dir := t.TempDir()
	s := mustSource(t, SourceConfig{URL: repo.dir, Dir: dir})
	mustCheckout(t, s, c1)
	first := packCount(t, dir)
	if len(first) != 1 {
		t.Fatalf("after the first fetch the mirror has %d packs, want 1", len(first))
	}

	repo.write("stacks/s07/compose.yml", "services: {app: {image: app:new}}\n")
	c2 := repo.commit("change one stack")
	// A new Source on the same Dir (a restarted leader) reuses the mirror.
	s = mustSource(t, SourceConfig{URL: repo.dir, Dir: dir})
	co := mustCheckout(t, s, c2)
	assertFile(t, co.Dir, "stacks/s07/compose.yml", "services: {app: {image: app:new}}\n")
	packs := packCount(t, dir)
	if len(packs) != 2 {
		t.Fatalf("after the second fetch the mirror has %d packs, want 2 (the first kept, one new)", len(packs))
	}
	var newest os.FileInfo
	for _, p := range packs {
		if p.Name() != first[0].Name() {
			newest = p
		}
	}
	if newest == nil || newest.Size()*4 > first[0].Size() {
		t.Fatalf("second pack %v is not much smaller than the first (%d bytes): the fetch was not incremental", newest.Size(), first[0].Size())
	}

	// Commits already fetched check out with the remote gone.
	if err := os.Rename(repo.dir, repo.dir+".gone"); err != nil {
		t.Fatal(err)
	}
	co1 := mustCheckout(t, s, c1)
	if got, _ := os.ReadFile(filepath.Join(co1.Dir, "stacks/s07/compose.yml")); !strings.HasPrefix(string(got), "services: {app: {image: app:7}}\n") {
		t.Fatalf("s07 at the first commit = %q", got)
	}
}

func randomText(t testing.TB, n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestSourceKeepsTheLastCheckouts(t *testing.T) {
	repo := newTestRepo(t)
	var commits []string
	for i := range 4 {
		repo.write("n", fmt.Sprint(i))
		commits = append(commits, repo.commit(fmt.Sprint("commit ", i)))
	}
	s := mustSource(t, SourceConfig{URL: repo.dir})
	var dirs []string
	for _, c := range commits {
		dirs = append(dirs, mustCheckout(t, s, c).Dir)
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Fatalf("the oldest checkout %s is still there (err %v), want it removed", dirs[0], err)
	}
	for i, d := range dirs[1:] {
		assertFile(t, d, "n", fmt.Sprint(i+1))
	}
	// A new Source removes what an earlier one left.
	mustSource(t, SourceConfig{URL: repo.dir, Dir: s.dir})
	if _, err := os.Stat(dirs[3]); !os.IsNotExist(err) {
		t.Fatalf("checkout %s left by an earlier Source is still there (err %v)", dirs[3], err)
	}
}

func TestSourceRepacksItsMirror(t *testing.T) {
	repo := newTestRepo(t)
	s := mustSource(t, SourceConfig{URL: repo.dir})
	var commits []string
	for i := range maxPacks + 4 {
		repo.write("n", fmt.Sprint(i))
		commits = append(commits, repo.commit(fmt.Sprint("commit ", i)))
		mustCheckout(t, s, commits[i])
	}
	if n := len(packCount(t, s.dir)); n > maxPacks {
		t.Fatalf("the mirror has %d packs after %d fetches, want at most %d", n, len(commits), maxPacks)
	}
	for i, c := range commits {
		assertFile(t, mustCheckout(t, s, c).Dir, "n", fmt.Sprint(i))
	}
}

func TestSourceDefaultBranchFollowsRemoteHEAD(t *testing.T) {
	repo := newTestRepo(t)
	onMain := repo.commit("on main")
	runGit(t, repo.dir, "checkout", "-q", "-b", "dev")
	onDev := repo.commit("on dev")
	runGit(t, repo.dir, "checkout", "-q", "main")
	s := mustSource(t, SourceConfig{URL: repo.dir})
	if got := mustHead(t, s); got != onMain {
		t.Fatalf("Head = %s, want main's %s", got, onMain)
	}
	runGit(t, repo.dir, "symbolic-ref", "HEAD", "refs/heads/dev")
	if got := mustHead(t, s); got != onDev {
		t.Fatalf("Head after HEAD moved to dev = %s, want %s", got, onDev)
	}
	co := mustCheckout(t, s, onDev)
	if co.Message != "on dev" {
		t.Fatalf("checkout message %q", co.Message)
	}
	if got := mustHead(t, mustSource(t, SourceConfig{URL: repo.dir, Branch: "refs/heads/main"})); got != onMain {
		t.Fatalf("Head of refs/heads/main = %s, want %s", got, onMain)
	}
}

func TestSourceAfterForcePush(t *testing.T) {
	repo := newTestRepo(t)
	repo.write("a", "1")
	base := repo.commit("base")
	repo.write("a", "2")
	old := repo.commit("to be rewritten")
	s := mustSource(t, SourceConfig{URL: repo.dir})
	mustCheckout(t, s, old)
	runGit(t, repo.dir, "reset", "-q", "--hard", base)
	runGit(t, repo.dir, "reflog", "expire", "--expire=now", "--all")
	runGit(t, repo.dir, "gc", "-q", "--prune=now")
	repo.write("a", "3")
	rewritten := repo.commit("rewritten")
	co := mustCheckout(t, s, rewritten)
	assertFile(t, co.Dir, "a", "3")
}

func TestSourceCheckoutOfACommitNotOnTheBranch(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit("main")
	runGit(t, repo.dir, "checkout", "-q", "-b", "other")
	other := repo.commit("elsewhere")
	s := mustSource(t, SourceConfig{URL: repo.dir, Branch: "main"})
	_, err := s.Checkout(testContext(t), other)
	assertErrorContains(t, err, other, `branch "main"`)
	_, err = s.Checkout(testContext(t), "abc")
	assertErrorContains(t, err, "not a full commit hash")
}

func TestSourceUnknownBranch(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit("one")
	s := mustSource(t, SourceConfig{URL: repo.dir, Branch: "prod"})
	_, err := s.Head(testContext(t))
	assertErrorContains(t, err, repo.dir, `branch "prod" does not exist`, "main", "--branch")
	_, err = s.Checkout(testContext(t), strings.Repeat("a", 40))
	assertErrorContains(t, err, `branch "prod" does not exist`)
}

func TestSourceUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	_, err := mustSource(t, SourceConfig{URL: missing}).Head(testContext(t))
	assertErrorContains(t, err, missing, "no git repository at this path")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/org/repo.git"
	ln.Close() // nothing listens there now
	_, err = mustSource(t, SourceConfig{URL: url}).Head(testContext(t))
	assertErrorContains(t, err, "git source "+url+": cannot reach the remote")
}

func TestSourceCommit(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first\nbody")
	second := repo.commit("second")
	s := mustSource(t, SourceConfig{URL: repo.dir})
	mustCheckout(t, s, second)
	ctx := testContext(t)
	for _, rev := range []string{first, first[:7], strings.ToUpper(first[:10])} {
		info, err := s.Commit(ctx, rev)
		if err != nil {
			t.Fatalf("Commit(%s): %v", rev, err)
		}
		if info.Commit != first || info.Message != "first" || info.Author != "t" {
			t.Fatalf("Commit(%s) = %+v", rev, info)
		}
	}
	_, err := s.Commit(ctx, strings.Repeat("0", 40))
	assertErrorContains(t, err, "no commit 0000000000000000000000000000000000000000")
	_, err = s.Commit(ctx, "abc")
	assertErrorContains(t, err, "4 to 40 hex digits")
	_, err = s.Commit(ctx, "zzzzzzz")
	assertErrorContains(t, err, "not a commit hash")
}

func TestSourceWritesModesLinksAndSkipsSubmodules(t *testing.T) {
	repo := newTestRepo(t)
	repo.write("stacks/app/compose.yml", "services: {}\n")
	repo.write("stacks/app/run.sh", "#!/bin/sh\n")
	repo.write("common.env", "A=1\n")
	if err := os.Chmod(filepath.Join(repo.dir, "stacks/app/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"stacks/app/.env":   "../../common.env", // inside: kept
		"stacks/app/self":   ".",                // inside: kept
		"stacks/up":         "..",               // the root: kept
		"up":                "..",               // the checkout's parent: skipped
		"abs":               "/etc/passwd",      // absolute: skipped
		"stacks/app/toroot": "../..",            // the root itself: kept
		"escape":            "stacks/app/toroot/..",
		"chain":             "stacks/app/self/../../..",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(repo.dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, repo.dir, "add", "-A")
	runGit(t, repo.dir, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("1", 40)+",vendor/sub")
	c := repo.commit("modes")

	co := mustCheckout(t, mustSource(t, SourceConfig{URL: repo.dir}), c)
	fi, err := os.Stat(filepath.Join(co.Dir, "stacks/app/run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh: %v, mode %v, want 0755", err, fi.Mode())
	}
	fi, err = os.Stat(filepath.Join(co.Dir, "stacks/app/compose.yml"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("compose.yml: %v, mode %v, want 0644", err, fi.Mode())
	}
	assertFile(t, co.Dir, "stacks/app/.env", "A=1\n")
	for name, kept := range map[string]bool{
		"stacks/app/.env": true, "stacks/app/self": true, "stacks/app/toroot": true,
		"stacks/up": true, "up": false, "abs": false, "escape": false, "chain": false,
	} {
		_, err := os.Lstat(filepath.Join(co.Dir, filepath.FromSlash(name)))
		if kept != (err == nil) {
			t.Errorf("link %s -> %s: present = %v, want %v", name, links[name], err == nil, kept)
		}
	}
	if _, err := os.Lstat(filepath.Join(co.Dir, "vendor")); !os.IsNotExist(err) {
		t.Errorf("the submodule was written (err %v)", err)
	}
}

// storeTree writes a tree with the given entries into st.
func storeTree(t *testing.T, st *memory.Storage, entries ...object.TreeEntry) *object.Tree {
	t.Helper()
	tree := &object.Tree{Entries: entries}
	o := st.NewEncodedObject()
	if err := tree.Encode(o); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := object.GetTree(st, h)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriteTreeRefusesUnsafeNames(t *testing.T) {
	for _, name := range []string{"..", ".", ".git", ".GIT", "a/b", "a\\b"} {
		t.Run(name, func(t *testing.T) {
			st := memory.NewStorage()
			blob := st.NewEncodedObject()
			blob.SetType(plumbing.BlobObject)
			w, _ := blob.Writer()
			_, _ = w.Write([]byte("x"))
			_ = w.Close()
			bh, _ := st.SetEncodedObject(blob)
			sub := storeTree(t, st, object.TreeEntry{Name: "evil", Mode: filemode.Regular, Hash: bh})
			root := storeTree(t, st, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: sub.Hash})
			out := filepath.Join(t.TempDir(), "co")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			err := writeTree(context.Background(), st, root, out)
			assertErrorContains(t, err, "unsafe file name")
			if _, err := os.Stat(filepath.Join(filepath.Dir(out), "evil")); !os.IsNotExist(err) {
				t.Fatalf("a file was written outside the checkout (err %v)", err)
			}
		})
	}
}

func TestLinkStaysInside(t *testing.T) {
	links := map[string]string{"a/up": "..", "a/loop": "loop2", "a/loop2": "loop"}
	for target, want := range map[string]bool{
		"a/up/x":     true,
		"a/up/..":    false,
		"a/up/a/up":  true,
		"a/loop":     false,
		"/abs":       false,
		"":           false,
		"x/../../y":  false,
		"x/../y/./z": true,
	} {
		links["probe"] = target
		if got := linkStaysInside(links, "probe"); got != want {
			t.Errorf("probe -> %q: inside = %v, want %v", target, got, want)
		}
	}
}

func TestNewSourceConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  SourceConfig
		want string
	}{
		{"no URL", SourceConfig{Dir: dir}, "no URL"},
		{"no dir", SourceConfig{URL: "https://example.com/r.git"}, "SourceConfig.Dir"},
		{"bad branch", SourceConfig{URL: "https://example.com/r.git", Dir: dir, Branch: "a..b"}, "not a valid branch name"},
		{"token on a path", SourceConfig{URL: dir, Dir: dir, Auth: Auth{Token: "tok-secret-1"}}, "local path"},
		{"ssh without key", SourceConfig{URL: "git@example.com:org/r.git", Dir: dir}, "needs a private key"},
		{"bad ssh key", SourceConfig{URL: "ssh://git@example.com/r.git", Dir: dir, Auth: Auth{SSHKey: []byte("not a key"), SSHKeyPassphrase: "pass-secret-1"}}, "ssh private key"},
		{"key on https", SourceConfig{URL: "https://example.com/r.git", Dir: dir, Auth: Auth{SSHKey: []byte("k")}}, "ssh key is set"},
		{"token on ssh", SourceConfig{URL: "ssh://git@example.com/r.git", Dir: dir, Auth: Auth{Token: "tok-secret-1"}}, "token is set"},
		{"user without token", SourceConfig{URL: "https://example.com/r.git", Dir: dir, Auth: Auth{Username: "me"}}, "without a token"},
		{"bad scheme", SourceConfig{URL: "ftp://example.com/r.git", Dir: dir}, `unsupported URL scheme "ftp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSource(tc.cfg)
			assertErrorContains(t, err, tc.want)
			for _, secret := range []string{"tok-secret-1", "pass-secret-1", "not a key"} {
				if strings.Contains(fmt.Sprintf("%v %+v", err, err), secret) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestAuthAndErrorsNeverShowSecrets(t *testing.T) {
	const token, pass = "ghp_tok3nSecretValue", "urlPassw0rdSecret"
	key, _ := testSSHKey(t)
	auths := []Auth{
		{Token: token},
		{Username: "deploy", Token: token},
		{SSHKey: key, SSHKeyPassphrase: pass},
		{SSHKey: key, KnownHosts: []byte("host ssh-ed25519 AAAA")},
	}
	for _, a := range auths {
		cfg := SourceConfig{URL: "https://u:" + pass + "@example.com/r.git", Auth: a}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			for _, v := range []any{a, &a, cfg, &cfg} {
				out := fmt.Sprintf(verb, v)
				if strings.Contains(out, token) || strings.Contains(out, pass) || strings.Contains(out, "PRIVATE KEY") ||
					strings.Contains(out, fmt.Sprintf("%x", token)) {
					t.Fatalf("%s of %T shows a secret: %s", verb, v, out)
				}
			}
		}
	}
	if got := (Auth{Token: token}).String(); got != "token auth for user git" {
		t.Fatalf("String = %q", got)
	}
	if got := (Auth{SSHKey: key}).String(); !strings.Contains(got, "ssh key auth") || !strings.Contains(got, "not checked") {
		t.Fatalf("String = %q", got)
	}

	// An error text that contains the token (as a server might echo it)
	// comes out redacted.
	s := mustSource(t, SourceConfig{URL: "https://u:" + pass + "@example.com/r.git", Auth: Auth{Token: token}})
	err := s.errorf("server said %s and %s: %w", token, pass, context.Canceled)
	for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err.Error())} {
		if strings.Contains(out, token) || strings.Contains(out, pass) {
			t.Fatalf("error shows a secret: %s", out)
		}
	}
	if !strings.Contains(err.Error(), "git source https://example.com/r.git:") {
		t.Fatalf("error %q does not name the URL without its credentials", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatal("the redacted error lost its cause")
	}
}

func TestStripUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:p@ss#w?rd@host/org/repo": "https://host/org/repo",
		"https://user:pw@host":                 "https://host",
		"https://token@host:8443/repo.git":     "https://host:8443/repo.git",
		"https://host/a@b":                     "https://host/a@b",
		"git@github.com:org/repo.git":          "git@github.com:org/repo.git",
		"/srv/git/repo":                        "/srv/git/repo",
	} {
		if got := stripUserinfo(in); got != want {
			t.Errorf("stripUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSourceHTTPTokenAuth(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	root := t.TempDir()
	repo := newTestRepoAt(t, filepath.Join(root, "repo"))
	repo.write("stacks/web/compose.yml", "services: {web: {image: nginx}}\n")
	c1 := repo.commit("web")
	url := serveGitHTTP(t, root, "git", token) + "/repo"

	s := mustSource(t, SourceConfig{URL: url, Branch: "main", Auth: Auth{Token: token}})
	if got := mustHead(t, s); got != c1 {
		t.Fatalf("Head = %s, want %s", got, c1)
	}
	co := mustCheckout(t, s, c1)
	assertFile(t, co.Dir, "stacks/web/compose.yml", "services: {web: {image: nginx}}\n")

	// Credentials in the URL work too, and never show.
	inURL := strings.Replace(url, "http://", "http://git:"+token+"@", 1)
	if got := mustHead(t, mustSource(t, SourceConfig{URL: inURL})); got != c1 {
		t.Fatalf("Head with credentials in the URL = %s, want %s", got, c1)
	}

	for name, cfg := range map[string]SourceConfig{
		"wrong token":       {URL: url, Auth: Auth{Token: token + "-wrong"}},
		"no token":          {URL: url},
		"wrong URL secret":  {URL: strings.Replace(inURL, token, token+"-wrong", 1)},
		"wrong token again": {URL: url, Auth: Auth{Username: "someone", Token: "x" + token}},
	} {
		t.Run(name, func(t *testing.T) {
			s := mustSource(t, cfg)
			_, herr := s.Head(testContext(t))
			_, cerr := s.Checkout(testContext(t), c1)
			for _, err := range []error{herr, cerr} {
				assertErrorContains(t, err, "git source "+url+": authentication failed")
				if out := fmt.Sprintf("%v %+v", err, err); strings.Contains(out, token) {
					t.Fatalf("error shows the token: %s", out)
				}
			}
		})
	}
}

// httpRepo serves a repository with n stacks over smart HTTP and returns a
// Source on it that counts its traffic.
func httpRepo(t testing.TB, stacks int) (*testRepo, *Source, *countingTransport) {
	t.Helper()
	root := t.TempDir()
	repo := newTestRepoAt(t, filepath.Join(root, "repo"))
	for i := range stacks {
		repo.write(fmt.Sprintf("stacks/s%02d/compose.yml", i), fmt.Sprintf("services:\n  app:\n    image: registry.example/app%02d:1.0\n", i))
	}
	repo.commit("stacks")
	counter := &countingTransport{}
	s := mustSource(t, SourceConfig{
		URL:        serveGitHTTP(t, root, "git", "tok") + "/repo",
		Auth:       Auth{Token: "tok"},
		HTTPClient: &http.Client{Transport: counter},
	})
	return repo, s, counter
}

func TestSourceHeadOverHTTPIsOneSmallRequest(t *testing.T) {
	repo, s, counter := httpRepo(t, 100)
	mustCheckout(t, s, mustHead(t, s))
	counter.reset()
	head := mustHead(t, s)
	if n := counter.requests.Load(); n != 1 {
		t.Fatalf("Head made %d HTTP requests, want 1", n)
	}
	if b := counter.bytes.Load(); b == 0 || b > 2048 {
		t.Fatalf("Head on an unchanged remote read %d bytes, want a ref advertisement (under 2 KiB)", b)
	}
	if want := runGit(t, repo.dir, "rev-parse", "HEAD"); head != want {
		t.Fatalf("Head = %s, want %s", head, want)
	}
}

func TestSourceFetchOverHTTPIsIncremental(t *testing.T) {
	repo, s, counter := httpRepo(t, 100)
	mustCheckout(t, s, mustHead(t, s))
	full := counter.bytes.Load()

	repo.write("stacks/s42/compose.yml", "services:\n  app:\n    image: registry.example/app42:2.0\n")
	c2 := repo.commit("bump s42")
	counter.reset()
	co := mustCheckout(t, s, c2)
	assertFile(t, co.Dir, "stacks/s42/compose.yml", "services:\n  app:\n    image: registry.example/app42:2.0\n")
	if n := counter.requests.Load(); n != 2 {
		t.Fatalf("the fetch made %d requests, want 2 (refs, pack)", n)
	}
	if got := counter.bytes.Load(); got*4 > full {
		t.Fatalf("the second fetch read %d bytes, the first %d: not incremental", got, full)
	}

	// A commit already present needs no traffic.
	counter.reset()
	mustCheckout(t, s, c2)
	if n := counter.requests.Load(); n != 0 {
		t.Fatalf("checking out a fetched commit made %d requests", n)
	}
}

func TestSourceOverSSH(t *testing.T) {
	root := t.TempDir()
	repo := newTestRepoAt(t, filepath.Join(root, "repo"))
	repo.write("stacks/db/compose.yml", "services: {db: {image: postgres}}\n")
	c1 := repo.commit("db")
	srv := serveGitSSH(t, root)
	url := "ssh://git@" + srv.addr + "/repo"
	shown := "ssh://" + srv.addr + "/repo" // userinfo is never shown

	s := mustSource(t, SourceConfig{URL: url, Auth: Auth{SSHKey: srv.clientKey, KnownHosts: srv.knownHosts}})
	if got := mustHead(t, s); got != c1 {
		t.Fatalf("Head = %s, want %s", got, c1)
	}
	assertFile(t, mustCheckout(t, s, c1).Dir, "stacks/db/compose.yml", "services: {db: {image: postgres}}\n")

	other := serveGitSSH(t, root) // another host key
	_, err := mustSource(t, SourceConfig{URL: url, Auth: Auth{SSHKey: srv.clientKey, KnownHosts: other.knownHosts}}).Head(testContext(t))
	assertErrorContains(t, err, "git source "+shown, "ssh handshake failed")
	_, err = mustSource(t, SourceConfig{URL: url, Auth: Auth{SSHKey: other.clientKey, KnownHosts: srv.knownHosts}}).Head(testContext(t))
	assertErrorContains(t, err, "git source "+shown, "ssh handshake failed")
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("error shows the key: %v", err)
	}
}

func TestSourceHeadWhileCheckingOut(t *testing.T) {
	repo := newTestRepo(t)
	var commits []string
	for i := range 5 {
		repo.write(fmt.Sprintf("f%d", i), "x")
		commits = append(commits, repo.commit(fmt.Sprint(i)))
	}
	s := mustSource(t, SourceConfig{URL: repo.dir})
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if h, err := s.Head(ctx); err != nil || h != commits[4] {
					errs <- fmt.Errorf("Head = %s, %v", h, err)
				}
			}
		})
	}
	for _, c := range commits {
		if _, err := s.Checkout(ctx, c); err != nil {
			errs <- err
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkHeadUnchanged measures one poll of an unchanged remote over smart
// HTTP, on a repository of 100 stacks.
func BenchmarkHeadUnchanged(b *testing.B) {
	_, s, counter := httpRepo(b, 100)
	ctx := context.Background()
	if _, err := s.Head(ctx); err != nil {
		b.Fatal(err)
	}
	counter.reset()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Head(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(counter.bytes.Load())/float64(b.N), "bytes/op")
	b.ReportMetric(float64(counter.requests.Load())/float64(b.N), "requests/op")
}
