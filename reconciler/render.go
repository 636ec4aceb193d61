package reconciler

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
	"github.com/swarmops/swarmops/stackspec"
)

// Snapshot is a whole commit rendered: every stack it holds, and the
// repository-wide settings of its swarmops.yaml.
type Snapshot struct {
	Commit  string
	Message string
	Layout  *Layout
	// Err is a problem with the repository as a whole (an invalid
	// swarmops.yaml, a layout that does not resolve): no stack renders.
	Err    error
	Stacks map[string]*Rendered
}

// RenderStack loads, converts and finishes one stack of the tree at root:
// secret and config names versioned by their content in git, age-encrypted
// secrets decrypted, and automatic rollback set on its services unless the stack
// turns it off.
func RenderStack(ctx context.Context, root string, src StackSource, ids []age.Identity) (*api.StackSpec, error) {
	return renderStack(ctx, root, src, ids, true)
}

// renderStack is RenderStack; without decrypt, age-encrypted data stays
// as it is (a plan compares names only).
func renderStack(ctx context.Context, root string, src StackSource, ids []age.Identity, decrypt bool) (*api.StackSpec, error) {
	abs := func(paths []string) []string {
		if len(paths) == 0 {
			return nil // stackspec then reads .env beside the first file
		}
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Join(root, filepath.FromSlash(p))
		}
		return out
	}
	loaded, err := stackspec.Load(ctx, stackspec.Options{
		Files:      abs(src.Files),
		Namespace:  src.Name,
		WorkingDir: filepath.Join(root, filepath.FromSlash(src.Dir)),
		EnvFiles:   abs(src.EnvFiles),
		Environ:    map[string]string{},
	})
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", src.Name, err)
	}
	spec, err := stackspec.Convert(loaded)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", src.Name, err)
	}
	// Names are versioned by the content in git, before decryption: a hash
	// of a short plaintext in a secret's name could be brute-forced by
	// anyone who may list secrets. Re-encrypting a file renames it.
	VersionNames(spec)
	if decrypt {
		if err := DecryptStack(spec, ids); err != nil {
			return nil, fmt.Errorf("stack %s: %w", src.Name, err)
		}
	}
	if src.Options.AutoRollbackOn() {
		for name, svc := range spec.Services {
			if _, set := svc.Labels[deploy.LabelAutoRollback]; set {
				continue
			}
			labels := make(map[string]string, len(svc.Labels)+1)
			for k, v := range svc.Labels {
				labels[k] = v
			}
			labels[deploy.LabelAutoRollback] = "true"
			svc.Labels = labels
			spec.Services[name] = svc
		}
	}
	return spec, nil
}

// repoError is a render error whose file names are relative to the
// repository, as its users know them, not to the manager's checkout.
type repoError struct {
	msg string
	err error
}

func (e *repoError) Error() string { return e.msg }
func (e *repoError) Unwrap() error { return e.err }

func inRepo(err error, dir string) error {
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	return &repoError{msg: strings.ReplaceAll(err.Error(), prefix, ""), err: err}
}
