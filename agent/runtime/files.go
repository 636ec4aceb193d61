package runtime

import (
	"fmt"
	"os"
	"strconv"
)

// Kinds of a task's file.
const (
	KindSecret = "secret"
	KindConfig = "config"
)

// A File is one secret or config a task references, with its data: what a
// runtime writes to tmpfs and shows the task.
type File struct {
	Kind   string // KindSecret or KindConfig
	ID     string // the secret's or config's ID, as Spec's maps key it
	Name   string // its name, for errors
	Target string // the reference's File.Name: where the task looks for it
	UID    int
	GID    int
	Mode   os.FileMode
	Data   []byte
}

// Files returns the secret and config files of the spec's task, secrets
// first, each in the order the container spec lists them, with their data
// from s.Secrets and s.Configs. A config reference with a runtime target
// (a Windows credential spec) has no file and is left out. A reference with
// no data in the spec, no file target or an owner that is not a number is
// an error naming it.
func (s Spec) Files() ([]File, error) {
	cs := s.Task.Spec.ContainerSpec
	if cs == nil {
		return nil, nil
	}
	var out []File
	for _, ref := range cs.Secrets {
		if ref == nil {
			continue
		}
		if ref.File == nil {
			return nil, fmt.Errorf("task %s: secret %s has no file target: give the reference a target", s.Task.ID, refName(ref.SecretName, ref.SecretID))
		}
		f, err := s.file(KindSecret, ref.SecretID, ref.SecretName, ref.File.Name, ref.File.UID, ref.File.GID, ref.File.Mode, s.Secrets)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for _, ref := range cs.Configs {
		if ref == nil || ref.File == nil {
			continue // a runtime target: read by the engine, never mounted
		}
		f, err := s.file(KindConfig, ref.ConfigID, ref.ConfigName, ref.File.Name, ref.File.UID, ref.File.GID, ref.File.Mode, s.Configs)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (s Spec) file(kind, id, name, target, uid, gid string, mode os.FileMode, data map[string][]byte) (File, error) {
	f := File{Kind: kind, ID: id, Name: refName(name, id), Target: target, Mode: mode}
	d, ok := data[id]
	if id == "" || !ok {
		return f, fmt.Errorf("task %s: %s %s: its data was not handed to the runtime (the assignment must carry every %s the task references)",
			s.Task.ID, kind, f.Name, kind)
	}
	f.Data = d
	if target == "" {
		return f, fmt.Errorf("task %s: %s %s has an empty file target: give the reference a target", s.Task.ID, kind, f.Name)
	}
	var err error
	if f.UID, err = owner(uid); err != nil {
		return f, fmt.Errorf("task %s: %s %s: uid %q: must be a number", s.Task.ID, kind, f.Name, uid)
	}
	if f.GID, err = owner(gid); err != nil {
		return f, fmt.Errorf("task %s: %s %s: gid %q: must be a number", s.Task.ID, kind, f.Name, gid)
	}
	return f, nil
}

// owner reads a reference's uid or gid; empty is root, as the CLI's default.
func owner(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err == nil && n < 0 {
		err = fmt.Errorf("negative")
	}
	return n, err
}

func refName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
