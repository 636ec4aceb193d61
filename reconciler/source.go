package reconciler

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitproto "github.com/go-git/go-git/v5/plumbing/transport/git"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// Auth is how a Source authenticates to its remote; the zero value is none
// (a public https repository or a local path). Its String never shows the
// secrets, so an Auth can be logged.
type Auth struct {
	// Username is the https basic-auth user; "git" when only Token is set.
	Username string `json:"username,omitempty"`
	// Token is the https token or password.
	Token string `json:"token,omitempty"`
	// SSHKey is a PEM private key, for ssh URLs.
	SSHKey []byte `json:"ssh_key,omitempty"`
	// SSHKeyPassphrase decrypts SSHKey when it is encrypted.
	SSHKeyPassphrase string `json:"ssh_key_passphrase,omitempty"`
	// KnownHosts is known_hosts content the ssh server's host key must
	// match. When it is empty, host keys are NOT checked: anyone who can
	// intercept the connection can pose as the server.
	KnownHosts []byte `json:"known_hosts,omitempty"`
}

func (a Auth) isZero() bool {
	return a.Username == "" && a.Token == "" && len(a.SSHKey) == 0 && a.SSHKeyPassphrase == "" && len(a.KnownHosts) == 0
}

func (a Auth) httpUser() string { return tokenUser(a, "") }

// tokenUser is the basic-auth user sent with a token: Auth's, else the
// URL's (as in https://oauth2@host/repo), else "git".
func tokenUser(a Auth, urlUser string) string {
	switch {
	case a.Username != "":
		return a.Username
	case urlUser != "":
		return urlUser
	}
	return "git"
}

// String describes the kind of authentication without its secrets.
func (a Auth) String() string {
	switch {
	case len(a.SSHKey) > 0 && len(a.KnownHosts) == 0:
		return "ssh key auth (host keys not checked)"
	case len(a.SSHKey) > 0:
		return "ssh key auth"
	case a.Token != "":
		return "token auth for user " + a.httpUser()
	case a.isZero():
		return "no auth"
	}
	return "incomplete auth"
}

// GoString keeps %#v from printing the fields, which hold the secrets.
func (a Auth) GoString() string { return "reconciler.Auth{" + a.String() + "}" }

// SourceConfig configures a Source.
type SourceConfig struct {
	// URL is https://, http://, ssh://, user@host:path, git://, file:// or
	// a local path. Credentials in an http(s) URL are used when Auth has
	// none, and are never shown in messages.
	URL string
	// Branch is the tracked branch; empty means the remote's default (HEAD).
	Branch string
	Auth   Auth
	// Dir is where the source keeps its mirror and checkouts; it is created
	// if missing and belongs to this Source alone.
	Dir string
	// HTTPClient, when set, is used for http(s) remotes.
	HTTPClient *http.Client
}

// String shows the configuration without credentials.
func (c SourceConfig) String() string {
	return fmt.Sprintf("{URL:%s Branch:%s Auth:%s Dir:%s}", stripUserinfo(c.URL), c.Branch, c.Auth, c.Dir)
}

// GoString keeps %#v from printing the credentials.
func (c SourceConfig) GoString() string { return "reconciler.SourceConfig" + c.String() }

// Checkout is a commit's tree written to disk.
type Checkout struct {
	// Dir holds the commit's files. It stays until a few newer checkouts
	// of the same Source have been made.
	Dir     string
	Commit  string
	Message string // first line
	Author  string
	Time    time.Time // author time
}

// CommitInfo describes a commit of the local mirror.
type CommitInfo struct {
	Commit  string
	Message string // first line
	Author  string
	Time    time.Time // author time
}

// keepCheckouts is how many checkout directories a Source keeps: the current
// one and a couple of older ones a reader may still be loading.
const keepCheckouts = 3

// maxHavesPerRef bounds how much of each local branch's history a fetch
// offers the server as already present. The tip alone is enough unless the
// remote history was rewritten.
const maxHavesPerRef = 32

// Source follows one branch of a git repository: Head asks the remote where
// the branch is, Checkout writes a commit's files to disk. A bare mirror
// under Dir keeps the objects, so later fetches transfer only what is new.
//
// One goroutine drives Checkout and Commit; Head may be called from others
// at the same time.
type Source struct {
	display   string // URL without credentials, for messages
	branch    string // without refs/heads/; empty = remote HEAD
	local     bool
	endpoint  *transport.Endpoint
	transport transport.Transport
	auth      transport.AuthMethod
	secrets   []string // redacted from every error text
	dir       string

	mu        sync.Mutex // guards mirror, store and checkouts
	mirror    *git.Repository
	store     storage.Storer // the mirror's
	checkouts []string
}

// NewSource prepares a source: it checks the URL and credentials and opens
// (or creates) the mirror under cfg.Dir. It does not contact the remote.
// Checkout directories left by an earlier Source on the same Dir are
// removed.
func NewSource(cfg SourceConfig) (*Source, error) {
	s := &Source{display: stripUserinfo(cfg.URL), dir: cfg.Dir}
	s.secrets = secretsOf(cfg)
	if cfg.URL == "" {
		return nil, errors.New("git source: no URL: set the repository URL (https://, ssh:// or a local path)")
	}
	if cfg.Dir == "" {
		return nil, s.errorf("no working directory: set SourceConfig.Dir")
	}
	s.branch = strings.TrimPrefix(cfg.Branch, "refs/heads/")
	if s.branch != "" {
		if err := plumbing.NewBranchReferenceName(s.branch).Validate(); err != nil {
			return nil, s.errorf("branch %q is not a valid branch name", s.branch)
		}
	}
	if err := s.setupRemote(cfg); err != nil {
		return nil, err
	}
	if err := s.openMirror(); err != nil {
		return nil, err
	}
	return s, nil
}

// setupRemote picks the transport and the credentials for the URL's scheme.
func (s *Source) setupRemote(cfg SourceConfig) error {
	ep, err := transport.NewEndpoint(cfg.URL)
	if err != nil {
		// The parse error would repeat the URL with its credentials.
		return s.errorf("not a git URL: use https://host/org/repo.git, ssh://git@host/org/repo.git, git@host:org/repo.git, file:///path or a local path")
	}
	a := cfg.Auth
	switch ep.Protocol {
	case "file":
		if !a.isZero() {
			return s.errorf("credentials (%s) are set but the URL is a local path: remove them or use a remote URL", a)
		}
		s.local = true
		s.transport = localTransport{}
	case "http", "https":
		if len(a.SSHKey) > 0 {
			return s.errorf("an ssh key is set but the URL is %s: use an ssh:// or git@host:path URL, or a token", ep.Protocol)
		}
		user, pass := ep.User, ep.Password
		ep.User, ep.Password = "", "" // keep them out of request URLs and errors
		switch {
		case a.Token != "":
			s.auth = &githttp.BasicAuth{Username: tokenUser(a, user), Password: a.Token}
		case a.Username != "":
			return s.errorf("a username is set without a token: give the token or password too (swarmops repo set --token-file FILE)")
		case user != "" || pass != "":
			s.auth = &githttp.BasicAuth{Username: user, Password: pass}
		}
		s.transport = githttp.NewClient(cfg.HTTPClient)
	case "ssh":
		if a.Token != "" {
			return s.errorf("a token is set but the URL is ssh: use an https:// URL with a token, or an ssh key")
		}
		auth, err := sshAuth(ep, a)
		if err != nil {
			return s.errorf("%w", err)
		}
		s.auth = auth
		s.transport = gitssh.DefaultClient
	case "git":
		if !a.isZero() {
			return s.errorf("credentials are set but git:// has no authentication: use https:// or ssh://")
		}
		s.transport = gitproto.DefaultClient
	default:
		return s.errorf("unsupported URL scheme %q: use https, ssh, git, file or a local path", ep.Protocol)
	}
	s.endpoint = ep
	return nil
}

// sshDialTimeout bounds the ssh connect, which the transport does without a
// context.
const sshDialTimeout = 30 * time.Second

// sshKeyAuth is key authentication with a dial timeout.
type sshKeyAuth struct{ *gitssh.PublicKeys }

func (a sshKeyAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = sshDialTimeout
	return cfg, nil
}

func sshAuth(ep *transport.Endpoint, a Auth) (transport.AuthMethod, error) {
	if len(a.SSHKey) == 0 {
		return nil, errors.New("an ssh URL needs a private key: give the deploy key (swarmops repo set --ssh-key-file FILE)")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	// The parse error names only the problem, never the key's bytes.
	keys, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
	if err != nil {
		return nil, fmt.Errorf("ssh private key: %w (is it a PEM key, and is the passphrase right?)", err)
	}
	if len(a.KnownHosts) == 0 {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		return sshKeyAuth{keys}, nil
	}
	db, err := knownHostsDB(a.KnownHosts)
	if err != nil {
		return nil, err
	}
	port := ep.Port
	if port == 0 {
		port = gitssh.DefaultPort
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	// Offer only the key types known_hosts has for the host, or the server
	// may present another type and fail the check.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	return sshKeyAuth{keys}, nil
}

// knownHostsDB parses known_hosts content; the parser reads files only.
func knownHostsDB(content []byte) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp("", "known_hosts-")
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known hosts: not known_hosts content: %w", err)
	}
	return db, nil
}

// openMirror opens the bare mirror under dir, creating it if needed. The
// mirror is only a cache: one that does not open is made anew.
func (s *Source) openMirror() error {
	mirror := filepath.Join(s.dir, "mirror.git")
	checkouts := filepath.Join(s.dir, "checkouts")
	if err := os.RemoveAll(checkouts); err != nil {
		return s.errorf("remove old checkouts: %w", err)
	}
	if err := os.MkdirAll(checkouts, 0o755); err != nil {
		return s.errorf("create working directory: %w", err)
	}
	repo, err := git.PlainOpen(mirror)
	if err != nil {
		if err := os.RemoveAll(mirror); err != nil {
			return s.errorf("remove unusable mirror: %w", err)
		}
		if repo, err = git.PlainInit(mirror, true); err != nil {
			return s.errorf("create mirror in %s: %w", mirror, err)
		}
	}
	s.mirror, s.store = repo, repo.Storer
	return nil
}

// Head asks the remote which commit the branch points at: one exchange of
// the ref advertisement (ls-remote), nothing is fetched.
func (s *Source) Head(ctx context.Context) (string, error) {
	sess, _, _, hash, err := s.listRemote(ctx)
	if err != nil {
		return "", err
	}
	_ = sess.Close() // nothing was requested, there is nothing to report
	return hash.String(), nil
}

// listRemote opens a session and finds the tracked branch's tip in the
// remote's advertisement. The caller closes the session.
func (s *Source) listRemote(ctx context.Context) (transport.UploadPackSession, *packp.AdvRefs, plumbing.ReferenceName, plumbing.Hash, error) {
	sess, err := s.transport.NewUploadPackSession(s.endpoint, s.auth)
	if err != nil {
		return nil, nil, "", plumbing.ZeroHash, s.remoteErr(err)
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		_ = sess.Close()
		return nil, nil, "", plumbing.ZeroHash, s.remoteErr(err)
	}
	name, hash, err := s.branchTip(ar)
	if err != nil {
		_ = sess.Close()
		return nil, nil, "", plumbing.ZeroHash, err
	}
	return sess, ar, name, hash, nil
}

func (s *Source) branchTip(ar *packp.AdvRefs) (plumbing.ReferenceName, plumbing.Hash, error) {
	refs, err := ar.AllReferences()
	if err != nil {
		return "", plumbing.ZeroHash, s.errorf("read the remote's refs: %w", err)
	}
	name := plumbing.NewBranchReferenceName(s.branch)
	if s.branch == "" {
		head, err := refs.Reference(plumbing.HEAD)
		switch {
		case err == nil && head.Type() == plumbing.SymbolicReference:
			name = head.Target()
		case ar.Head != nil:
			return plumbing.HEAD, *ar.Head, nil
		default:
			return "", plumbing.ZeroHash, s.errorf("the remote has no default branch (HEAD): set the branch to track (swarmops repo set --git URL --branch NAME)")
		}
	}
	if h, ok := ar.References[name.String()]; ok {
		return name, h, nil
	}
	return "", plumbing.ZeroHash, s.errorf("branch %q does not exist on the remote (it has %s): push the branch, or track an existing one (swarmops repo set --git URL --branch NAME)",
		name.Short(), remoteBranches(ar))
}

func remoteBranches(ar *packp.AdvRefs) string {
	var names []string
	for n := range ar.References {
		if r := plumbing.ReferenceName(n); r.IsBranch() {
			names = append(names, r.Short())
		}
	}
	if len(names) == 0 {
		return "no branches"
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], "…")
	}
	return "branches " + strings.Join(names, ", ")
}

// Checkout makes sure commit (a full hash) is in the mirror, fetching the
// branch if it is not, and writes the commit's tree to a new directory
// under Dir. Only the last few checkout directories are kept.
//
// Regular files get mode 0644, or 0755 when git has them executable.
// Submodules are skipped. A symbolic link is written only when it resolves
// inside the checkout (following the tree's other links); one that would
// lead outside is skipped without error. A tree entry whose name could
// write outside the directory or into git's ("..", "/", "\\", ".git")
// fails the checkout.
func (s *Source) Checkout(ctx context.Context, commit string) (*Checkout, error) {
	h, ok := parseFullHash(commit)
	if !ok {
		return nil, s.errorf("checkout %q: not a full commit hash (40 hex digits)", commit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := object.GetCommit(s.store, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		if err := s.fetch(ctx); err != nil {
			return nil, err
		}
		c, err = object.GetCommit(s.store, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, s.errorf("commit %s is not on %s: it may have been force-pushed away; use the branch's current head", h, s.branchLabel())
		}
	}
	if err != nil {
		return nil, s.errorf("read commit %s: %w", h, err)
	}
	dir, err := s.writeCheckout(ctx, c)
	if err != nil {
		return nil, err
	}
	info := commitInfo(c)
	return &Checkout{Dir: dir, Commit: info.Commit, Message: info.Message, Author: info.Author, Time: info.Time}, nil
}

func (s *Source) branchLabel() string {
	if s.branch == "" {
		return "the default branch"
	}
	return "branch " + strconv.Quote(s.branch)
}

func (s *Source) writeCheckout(ctx context.Context, c *object.Commit) (string, error) {
	tree, err := c.Tree()
	if err != nil {
		return "", s.errorf("read the tree of %s: %w", c.Hash, err)
	}
	dir, err := os.MkdirTemp(filepath.Join(s.dir, "checkouts"), c.Hash.String()[:12]+"-")
	if err != nil {
		return "", s.errorf("checkout %s: %w", c.Hash, err)
	}
	if err := writeTree(ctx, s.store, tree, dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", s.errorf("checkout %s: %w", c.Hash, err)
	}
	s.checkouts = append(s.checkouts, dir)
	for len(s.checkouts) > keepCheckouts {
		// Best effort: a directory that cannot be removed now is removed
		// with the rest by the next NewSource on this Dir.
		_ = os.RemoveAll(s.checkouts[0])
		s.checkouts = s.checkouts[1:]
	}
	return dir, nil
}

// fetch brings the branch's tip and what it needs into the mirror, offering
// the mirror's recent commits so the server sends only what is new.
func (s *Source) fetch(ctx context.Context) (err error) {
	sess, ar, name, tip, err := s.listRemote(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sess.Close(); err == nil && cerr != nil {
			err = s.remoteErr(cerr)
		}
	}()
	if _, err := object.GetCommit(s.store, tip); err != nil {
		if err := s.fetchPack(ctx, sess, ar, tip); err != nil {
			return err
		}
	}
	if name == plumbing.HEAD {
		name = "refs/remote-head" // a detached remote HEAD still anchors later haves
	}
	if err := s.store.SetReference(plumbing.NewHashReference(name, tip)); err != nil {
		return s.errorf("record %s in the mirror: %w", name.Short(), err)
	}
	// After the ref: a repack keeps only what the refs reach.
	s.repackIfNeeded()
	return nil
}

// fetchPack asks the session's server, whose advertisement ar is, for the
// objects of tip that the mirror lacks.
func (s *Source) fetchPack(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, tip plumbing.Hash) error {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	req.Wants = []plumbing.Hash{tip}
	req.Haves = s.haves()
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return s.remoteErr(err)
	}
	defer resp.Close()
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if err := packfile.UpdateObjectStorage(s.store, pack); err != nil {
		return s.errorf("fetch %s: %w", s.branchLabel(), unwrapGit(err))
	}
	return nil
}

// maxPacks is how many packs (one per fetch that brought something) the
// mirror collects before they are merged into one: every object lookup goes
// through each pack's index.
const maxPacks = 16

func (s *Source) repackIfNeeded() {
	packed, ok := s.store.(storer.PackedObjectStorer)
	if !ok {
		return
	}
	if packs, err := packed.ObjectPacks(); err != nil || len(packs) <= maxPacks {
		return
	}
	// Best effort: a repack that fails is tried again after the next fetch.
	_ = s.mirror.RepackObjects(&git.RepackConfig{})
	// The storage goes on with the pack list it had cached: reopen it.
	if repo, err := git.PlainOpen(filepath.Join(s.dir, "mirror.git")); err == nil {
		if c, ok := s.store.(io.Closer); ok {
			_ = c.Close()
		}
		s.mirror, s.store = repo, repo.Storer
	}
}

func (s *Source) haves() []plumbing.Hash {
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	refs, err := s.store.IterReferences()
	if err != nil {
		return nil // offering nothing costs bandwidth, not correctness
	}
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		h := r.Hash()
		for i := 0; i < maxHavesPerRef && r.Type() == plumbing.HashReference && !seen[h]; i++ {
			c, err := object.GetCommit(s.store, h)
			if err != nil {
				break
			}
			seen[h] = true
			out = append(out, h)
			if c.NumParents() == 0 {
				break
			}
			h = c.ParentHashes[0]
		}
		return nil
	})
	return out
}

// Commit describes a commit already in the mirror, given its full hash or a
// unique prefix of at least 4 hex digits.
func (s *Source) Commit(ctx context.Context, rev string) (CommitInfo, error) {
	rev = strings.ToLower(strings.TrimSpace(rev))
	if len(rev) < 4 || len(rev) > 40 || strings.Trim(rev, "0123456789abcdef") != "" {
		return CommitInfo{}, s.errorf("%q is not a commit hash: give 4 to 40 hex digits", rev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matches []plumbing.Hash
	if h, ok := parseFullHash(rev); ok {
		matches = append(matches, h)
	} else {
		iter, err := s.store.IterEncodedObjects(plumbing.CommitObject)
		if err != nil {
			return CommitInfo{}, s.errorf("list commits: %w", err)
		}
		err = iter.ForEach(func(o plumbing.EncodedObject) error {
			if strings.HasPrefix(o.Hash().String(), rev) {
				matches = append(matches, o.Hash())
			}
			return ctx.Err()
		})
		if err != nil {
			return CommitInfo{}, s.errorf("list commits: %w", err)
		}
	}
	switch len(matches) {
	case 0:
		return CommitInfo{}, s.errorf("no commit %s in the local copy: it is not on %s, or has not been fetched yet", rev, s.branchLabel())
	case 1:
	default:
		return CommitInfo{}, s.errorf("commit prefix %s is ambiguous (%d commits match): give more digits", rev, len(matches))
	}
	c, err := object.GetCommit(s.store, matches[0])
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return CommitInfo{}, s.errorf("no commit %s in the local copy: it is not on %s, or has not been fetched yet", rev, s.branchLabel())
	}
	if err != nil {
		return CommitInfo{}, s.errorf("read commit %s: %w", rev, err)
	}
	return commitInfo(c), nil
}

func commitInfo(c *object.Commit) CommitInfo {
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return CommitInfo{Commit: c.Hash.String(), Message: strings.TrimSpace(msg), Author: c.Author.Name, Time: c.Author.When}
}

func parseFullHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

// maxLinkTarget bounds what is read as a symbolic link's target.
const maxLinkTarget = 4096

// maxLinkHops is how many links one resolution may follow, as the kernel's
// limit; more counts as leaving the checkout.
const maxLinkHops = 40

type fixedLoader struct{ store storer.Storer }

func (l fixedLoader) Load(*transport.Endpoint) (storer.Storer, error) { return l.store, nil }

// localSession drops haves the repository lacks: unlike git's upload-pack,
// the in-process server fails on them (after a force-push, say).
type localSession struct {
	transport.UploadPackSession
	store storer.Storer
}

func (l *localSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	known := req.Haves[:0:0]
	for _, h := range req.Haves {
		if l.store.HasEncodedObject(h) == nil {
			known = append(known, h)
		}
	}
	req.Haves = known
	return l.UploadPackSession.UploadPack(ctx, req)
}

// remoteErr turns a transport error into one that says what to do.
func (s *Source) remoteErr(err error) error {
	err = unwrapGit(err)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return s.errorf("authentication failed (%s): check the credentials: %w", s.authLabel(), err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return s.errorf("access denied (%s): the credentials cannot read this repository: %w", s.authLabel(), err)
	case errors.Is(err, transport.ErrRepositoryNotFound) && s.local:
		return s.errorf("no git repository at this path: check the path: %w", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return s.errorf("repository not found: check the URL (some hosts also answer this to missing credentials): %w", err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return s.errorf("the repository is empty: push a first commit: %w", err)
	case strings.Contains(err.Error(), "ssh: handshake failed"):
		return s.errorf("ssh handshake failed: check the host key in known_hosts and that the deploy key is authorized: %w", err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return s.errorf("cannot reach the remote: %w", err)
	}
	return s.errorf("%w", err)
}

func (s *Source) authLabel() string {
	if s.auth == nil {
		return "no credentials"
	}
	return s.auth.Name()
}

// unwrapGit peels go-git's wrappers, which hide their cause from errors.As.
func unwrapGit(err error) error {
	for {
		switch e := err.(type) {
		case *plumbing.UnexpectedError:
			err = e.Err
		case *plumbing.PermanentError:
			err = e.Err
		default:
			return err
		}
	}
}

// sourceError is an error whose text has had the credentials removed.
type sourceError struct {
	msg string
	err error
}

func (e *sourceError) Error() string { return e.msg }
func (e *sourceError) Unwrap() error { return e.err }

// errorf prefixes the source's URL and removes any credential from the
// text, whatever the wrapped error says.
func (s *Source) errorf(format string, args ...any) error {
	err := fmt.Errorf("git source %s: "+format, append([]any{s.display}, args...)...)
	msg := err.Error()
	for _, secret := range s.secrets {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	// Servers put their reply's body in errors: keep it to one short line.
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	return &sourceError{msg: msg, err: errors.Unwrap(err)}
}

// maxErrorText bounds an error's text, which may quote a server's page.
const maxErrorText = 1024

// secretsOf lists the strings no message may contain: the token, the
// passphrase, the URL's password and their basic-auth encodings.
func secretsOf(cfg SourceConfig) []string {
	var out []string
	add := func(user, secret string) {
		if secret == "" {
			return
		}
		out = append(out, secret, base64.StdEncoding.EncodeToString([]byte(user+":"+secret)))
	}
	_, user, pass := splitUserinfo(cfg.URL)
	add(tokenUser(cfg.Auth, user), cfg.Auth.Token)
	add("", cfg.Auth.SSHKeyPassphrase)
	add(user, pass)
	if dec, err := url.PathUnescape(pass); err == nil && dec != pass {
		add(user, dec)
	}
	return out
}

func stripUserinfo(raw string) string { display, _, _ := splitUserinfo(raw); return display }

// splitUserinfo takes "user:password@" out of a URL with a scheme. It works
// on the text rather than parsing it, since a password may contain
// characters a URL parser mistakes for a fragment or a port. A path, or
// user@host:path (whose user is no secret), is returned as it is.
func splitUserinfo(raw string) (display, user, pass string) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, "", ""
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw, "", ""
	}
	user, pass, _ = strings.Cut(authority[:at], ":")
	return scheme + "://" + rest[at+1:], user, pass
}
