package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"golang.org/x/sys/unix"
)

func filesSpec() Spec {
	return Spec{
		Task: swarm.Task{ID: "t1", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Secrets: []*swarm.SecretReference{
				{SecretID: "s2", SecretName: "b", File: &swarm.SecretReferenceFileTarget{Name: "b", UID: "1000", GID: "", Mode: 0o400}},
				{SecretID: "s1", SecretName: "a", File: &swarm.SecretReferenceFileTarget{Name: "/etc/a", UID: "0", GID: "0", Mode: 0o444}},
			},
			Configs: []*swarm.ConfigReference{
				{ConfigID: "c1", ConfigName: "cred", Runtime: &swarm.ConfigReferenceRuntimeTarget{}},
				{ConfigID: "c2", ConfigName: "conf", File: &swarm.ConfigReferenceFileTarget{Name: "app.conf", UID: "0", GID: "5", Mode: 0o440}},
			},
		}}},
		Secrets: map[string][]byte{"s1": []byte("one"), "s2": []byte("two")},
		Configs: map[string][]byte{"c2": []byte("conf")},
	}
}

func TestFiles(t *testing.T) {
	got, err := filesSpec().Files()
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{Kind: KindSecret, ID: "s2", Name: "b", Target: "b", UID: 1000, GID: 0, Mode: 0o400, Data: []byte("two")},
		{Kind: KindSecret, ID: "s1", Name: "a", Target: "/etc/a", Mode: 0o444, Data: []byte("one")},
		{Kind: KindConfig, ID: "c2", Name: "conf", Target: "app.conf", GID: 5, Mode: 0o440, Data: []byte("conf")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Files =\n%+v\nwant\n%+v", got, want)
	}

	for _, tc := range []struct {
		name  string
		spoil func(*Spec)
		want  string
	}{
		{"no data", func(s *Spec) { delete(s.Secrets, "s1") }, "secret a: its data was not handed"},
		{"no id", func(s *Spec) { s.Task.Spec.ContainerSpec.Configs[1].ConfigID = "" }, "config conf: its data was not handed"},
		{"uid", func(s *Spec) { s.Task.Spec.ContainerSpec.Secrets[0].File.UID = "root" }, `secret b: uid "root": must be a number`},
		{"gid", func(s *Spec) { s.Task.Spec.ContainerSpec.Configs[1].File.GID = "-1" }, `config conf: gid "-1": must be a number`},
		{"target", func(s *Spec) { s.Task.Spec.ContainerSpec.Secrets[1].File.Name = "" }, "secret a has an empty file target"},
		{"file", func(s *Spec) { s.Task.Spec.ContainerSpec.Secrets[1].File = nil }, "secret a has no file target"},
	} {
		s := filesSpec()
		tc.spoil(&s)
		if _, err := s.Files(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Files = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if f, err := (Spec{Task: swarm.Task{ID: "x"}}).Files(); f != nil || err != nil {
		t.Errorf("no container spec: %v %v", f, err)
	}
}

// tmpRoot returns a directory on a disk for a FileDir's root, unmounting
// whatever the test mounts on it.
func tmpRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	t.Cleanup(func() {
		for range 5 { // a failed test may have stacked mounts
			if on, _ := OnTmpfs(dir); !on {
				break
			}
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
				break
			}
		}
	})
	return dir
}

func TestFileDirRefusesADisk(t *testing.T) {
	if on, _ := OnTmpfs(os.TempDir()); on {
		t.Skipf("%s is on tmpfs: no disk to refuse", os.TempDir())
	}
	err := NewFileDir("", "n1", true).Ready()
	if !errors.Is(err, ErrNotTmpfs) || !strings.Contains(err.Error(), "no directory for secrets and configs") {
		t.Errorf("no root: Ready = %v", err)
	}

	root := tmpRoot(t)
	d := NewFileDir(root, "n1", true)
	d.euid = func() int { return 1000 }
	err = d.Ready()
	if !errors.Is(err, ErrNotTmpfs) || !strings.Contains(err.Error(), root) ||
		!strings.Contains(err.Error(), "mount -t tmpfs -o mode=0700 tmpfs "+root) || !strings.Contains(err.Error(), "not root") {
		t.Errorf("not root: Ready = %v, want a refusal naming %s and the fix", err, root)
	}
	d.euid = func() int { return 0 }
	d.mount = func(string) error { return unix.EPERM }
	if err := d.Ready(); !errors.Is(err, ErrNotTmpfs) || !strings.Contains(err.Error(), "mounting a tmpfs there failed") {
		t.Errorf("mount refused: Ready = %v", err)
	}
	// A caller that writes anyway writes nothing.
	if _, err := d.Write("t1", "secrets/s1", File{Kind: KindSecret, Name: "a", Data: []byte("x"), Mode: 0o444}); !errors.Is(err, ErrNotTmpfs) {
		t.Errorf("Write on a disk = %v, want ErrNotTmpfs", err)
	}
	if _, err := os.Stat(filepath.Join(root, "n1", "t1")); !os.IsNotExist(err) {
		t.Errorf("a task dir was made on a disk: %v", err)
	}
}

func TestFileDirOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true runs as root (it starts dockerd); mounting a tmpfs needs root")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	root := tmpRoot(t)
	d := NewFileDir(root, "n1", true)
	mounts := 0
	d.mount = func(dir string) error { mounts++; return mountTmpfs(dir) }
	if err := d.Ready(); err != nil {
		t.Fatal(err)
	}
	if on, err := OnTmpfs(root); !on || err != nil {
		t.Fatalf("root on tmpfs: %v %v", on, err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("root mode: %v %v, want 0700", fi.Mode(), err)
	}
	f := File{Kind: KindSecret, Name: "a", Data: []byte("secret"), UID: 1000, GID: 2000, Mode: 0o400}
	path, err := d.Write("t1", "secrets/s1", f)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(root, "n1", "t1", "secrets", "s1") {
		t.Errorf("path = %s", path)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Uid != 1000 || st.Gid != 2000 || st.Mode&0o777 != 0o400 {
		t.Errorf("file uid %d gid %d mode %o (%v), want 1000 2000 400", st.Uid, st.Gid, st.Mode&0o777, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "secret" {
		t.Errorf("data = %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("the write left %v", ents)
	}
	// Ready again (a restarted agent): the tmpfs and its files stay.
	again := NewFileDir(root, "n1", true)
	again.mount = d.mount
	if err := again.Ready(); err != nil || mounts != 1 {
		t.Errorf("Ready again: %v, %d mounts", err, mounts)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the file after Ready again: %v", err)
	}
	for _, bad := range [][2]string{{"..", "secrets/s1"}, {"t1", "../../x"}, {"t1", "secrets/"}, {"t/1", "x"}} {
		if _, err := d.Write(bad[0], bad[1], f); err == nil {
			t.Errorf("Write(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if err := d.Remove("t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "n1", "t1")); !os.IsNotExist(err) {
		t.Errorf("after Remove: %v", err)
	}
	if err := d.Remove("t1"); err != nil {
		t.Errorf("Remove twice: %v", err)
	}
}
