package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotTmpfs is wrapped by the error of a FileDir whose root is not on
// tmpfs and cannot be made so: the runtime then refuses tasks that
// reference a secret or config rather than write them to a disk.
var ErrNotTmpfs = errors.New("not on tmpfs")

// FileDir keeps the secret and config files of one node's tasks in memory:
// under a root directory that must be on tmpfs, one directory per task
// (<root>/<node ID>/<task ID>/). The files outlive the agent, so that the
// containers a restarted agent adopts keep theirs, and go with Remove.
type FileDir struct {
	root        string
	node        string
	dir         string // root/node
	strictOwner bool

	// Replaced in tests: whether the process may mount, and the mount.
	euid  func() int
	mount func(dir string) error
}

// NewFileDir returns the file directory of node nodeID under root. With
// strictOwner, a file that cannot be given its reference's owner (the
// agent is not root) is an error unless its mode lets anybody read it;
// without, it keeps the agent as owner, which suits processes that run as
// the agent's user.
func NewFileDir(root, nodeID string, strictOwner bool) *FileDir {
	d := &FileDir{node: nodeID, strictOwner: strictOwner, euid: os.Geteuid, mount: mountTmpfs}
	if root != "" {
		if abs, err := filepath.Abs(root); err == nil {
			root = abs
		}
		d.root, d.dir = root, filepath.Join(root, nodeID)
	}
	return d
}

// Root is the directory the files live under, as given to NewFileDir.
func (d *FileDir) Root() string { return d.root }

// Ready makes sure the root is on tmpfs, creating it if missing: a root
// that is not is mounted with a private tmpfs (mode 0700) when the process
// is root, and refused otherwise with an error wrapping ErrNotTmpfs that
// names the directory and the fix. A tmpfs already there, with the files
// of running tasks, is kept as is.
func (d *FileDir) Ready() error {
	if d.root == "" {
		return fmt.Errorf("no directory for secrets and configs was configured: %w; give the runtime one on tmpfs (e.g. /run/swarmops/secrets)", ErrNotTmpfs)
	}
	if err := os.MkdirAll(d.root, 0o700); err != nil {
		return fmt.Errorf("secrets dir %s: %w", d.root, err)
	}
	fs, err := fsType(d.root)
	if err != nil {
		return fmt.Errorf("secrets dir %s: %w", d.root, err)
	}
	if fs != "tmpfs" {
		if d.euid() != 0 {
			return fmt.Errorf("secrets dir %s is on %s, %w, and the agent is not root so it cannot mount one: "+
				"mount it first (mount -t tmpfs -o mode=0700 tmpfs %s) or run the agent as root", d.root, fs, ErrNotTmpfs, d.root)
		}
		if err := d.mount(d.root); err != nil {
			return fmt.Errorf("secrets dir %s is on %s, %w, and mounting a tmpfs there failed (%v): "+
				"mount it first (mount -t tmpfs -o mode=0700 tmpfs %s)", d.root, fs, ErrNotTmpfs, err, d.root)
		}
		if fs, err := fsType(d.root); err != nil || fs != "tmpfs" {
			return fmt.Errorf("secrets dir %s: still %s after mounting a tmpfs: %w", d.root, fs, ErrNotTmpfs)
		}
	}
	if err := pathElem(d.node); err != nil {
		return fmt.Errorf("secrets dir %s: node ID %q: %w", d.root, d.node, err)
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("secrets dir %s: %w", d.dir, err)
	}
	return nil
}

// mountTmpfs mounts a tmpfs on dir, only root may enter it, and makes it
// private so that it shows in no other mount namespace's peers.
func mountTmpfs(dir string) error {
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make tmpfs private: %w", err)
	}
	return nil
}

// fsType names the file system path is on.
func fsType(path string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "", fmt.Errorf("statfs: %w", err)
	}
	switch int64(st.Type) {
	case unix.TMPFS_MAGIC:
		return "tmpfs", nil
	case unix.EXT4_SUPER_MAGIC:
		return "ext4", nil
	case unix.XFS_SUPER_MAGIC:
		return "xfs", nil
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs", nil
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs", nil
	case unix.RAMFS_MAGIC:
		return "ramfs", nil
	}
	return fmt.Sprintf("a file system of type %#x", st.Type), nil
}

// OnTmpfs reports whether path is on tmpfs.
func OnTmpfs(path string) (bool, error) {
	fs, err := fsType(path)
	return fs == "tmpfs", err
}

// TaskDir is the directory of a task's files.
func (d *FileDir) TaskDir(taskID string) string { return filepath.Join(d.dir, taskID) }

// Write writes f's data to rel (a slash-separated path) in the task's
// directory with f's mode and owner, and returns the file's path. The
// file appears whole or not at all, so a container started meanwhile
// never sees a part of it. Call Ready first: Write refuses to write
// anywhere but on tmpfs.
func (d *FileDir) Write(taskID, rel string, f File) (string, error) {
	if d.dir == "" {
		return "", fmt.Errorf("%s %s: no secrets dir: %w", f.Kind, f.Name, ErrNotTmpfs)
	}
	if fs, err := fsType(d.root); err != nil || fs != "tmpfs" {
		return "", fmt.Errorf("%s %s: secrets dir %s: %w", f.Kind, f.Name, d.root, ErrNotTmpfs)
	}
	if err := pathElem(taskID); err != nil {
		return "", fmt.Errorf("task ID %q: %w", taskID, err)
	}
	for _, e := range strings.Split(rel, "/") {
		if err := pathElem(e); err != nil {
			return "", fmt.Errorf("%s %s: file %q: %w", f.Kind, f.Name, rel, err)
		}
	}
	path := filepath.Join(d.TaskDir(taskID), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("%s %s: %w", f.Kind, f.Name, err)
	}
	tmp := path + ".tmp"
	if err := d.writeFile(tmp, f); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("%s %s: %w", f.Kind, f.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("%s %s: %w", f.Kind, f.Name, err)
	}
	return path, nil
}

func (d *FileDir) writeFile(path string, f File) error {
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(f.Data); err != nil {
		return err
	}
	if err := w.Chown(f.UID, f.GID); err != nil {
		readable := f.Mode&0o004 != 0
		if !errors.Is(err, unix.EPERM) || (d.strictOwner && !readable) {
			return fmt.Errorf("give it to uid %d gid %d: %w; run the agent as root, or give the file a mode anybody may read (0444)", f.UID, f.GID, err)
		}
	}
	// After the chown, which may clear mode bits.
	if err := w.Chmod(f.Mode.Perm()); err != nil {
		return err
	}
	return w.Close()
}

// pathElem refuses what could leave the task's directory.
func pathElem(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, 0) {
		return errors.New("not a plain file name")
	}
	return nil
}

// Remove deletes the task's files. Removing a task without files succeeds.
func (d *FileDir) Remove(taskID string) error {
	if d.dir == "" {
		return nil
	}
	if err := pathElem(taskID); err != nil {
		return fmt.Errorf("task ID %q: %w", taskID, err)
	}
	if err := os.RemoveAll(d.TaskDir(taskID)); err != nil {
		return fmt.Errorf("remove files of task %s: %w", taskID, err)
	}
	return nil
}
