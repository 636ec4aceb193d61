package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// StackPlan is what applying one stack of a repository would change.
type StackPlan struct {
	Source StackSource
	// Spec is what the stack renders to; nil when it failed to load.
	Spec *api.StackSpec
	// Changes is empty when the cluster already runs the stack as written.
	Changes api.ChangeSet
	// Err is why the stack could not be planned (a stackspec.ErrorList for
	// bad input). A stack that fails changes nothing on the cluster.
	Err error
}

// Plan is what applying a whole repository would change.
type Plan struct {
	Stacks []StackPlan
	// Orphans are stacks the cluster runs that the repository no longer
	// has: applying with prune removes them.
	Orphans []api.ChangeSet
}

// Changes reports whether applying the plan would change the cluster.
func (p *Plan) Changes() bool {
	for _, s := range p.Stacks {
		if !s.Changes.Empty() {
			return true
		}
	}
	for _, o := range p.Orphans {
		if !o.Empty() {
			return true
		}
	}
	return false
}

// Failed reports whether any stack failed to plan.
func (p *Plan) Failed() bool {
	for _, s := range p.Stacks {
		if s.Err != nil {
			return true
		}
	}
	return false
}

// PlanDir plans every stack found under dir on disk against actual, the
// stacks the cluster runs now by name (nil or empty for an empty cluster).
// Stacks are rendered with the variables of their .env files only, never
// the caller's environment, so a plan in CI and the reconciler on a manager
// render the same specs from the same commit.
func PlanDir(ctx context.Context, dir string, actual map[string]*api.StackSpec) (*Plan, error) {
	layout, err := LoadLayout(os.DirFS(dir), ".")
	if err != nil {
		return nil, err
	}
	plan := &Plan{}
	inRepo := map[string]bool{}
	for _, src := range layout.Stacks {
		inRepo[src.Name] = true
		sp := StackPlan{Source: src}
		// Env files are absolute, since stackspec reads a relative one
		// against the process's directory, as a command line would.
		envFiles, err := absolute(onDisk(dir, src.EnvFiles))
		if err != nil {
			return nil, err
		}
		sp.Spec, sp.Err = render(ctx, src.Name, onDisk(dir, src.Files), envFiles, filepath.Join(dir, filepath.FromSlash(src.Dir)))
		if sp.Err == nil {
			sp.Changes = stackspec.Diff(sp.Spec, actual[src.Name])
		}
		plan.Stacks = append(plan.Stacks, sp)
	}
	var orphans []string
	for name := range actual {
		if !inRepo[name] {
			orphans = append(orphans, name)
		}
	}
	sort.Strings(orphans)
	for _, name := range orphans {
		cs := stackspec.Diff(&api.StackSpec{Namespace: name}, actual[name])
		cs.Stack = name
		plan.Orphans = append(plan.Orphans, cs)
	}
	return plan, nil
}

// onDisk turns paths relative to the repository into paths under dir;
// nil stays nil, so stackspec's default .env applies.
func onDisk(dir string, paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Join(dir, filepath.FromSlash(p))
	}
	return out
}

func absolute(paths []string) ([]string, error) {
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("env file %s: %w", p, err)
		}
		paths[i] = abs
	}
	return paths, nil
}

func render(ctx context.Context, name string, files, envFiles []string, workdir string) (*api.StackSpec, error) {
	loaded, err := stackspec.Load(ctx, stackspec.Options{
		Files:      files,
		Namespace:  name,
		WorkingDir: workdir,
		EnvFiles:   envFiles,
		Environ:    map[string]string{},
	})
	if err != nil {
		return nil, fmt.Errorf("load stack %s: %w", name, err)
	}
	spec, err := stackspec.Convert(loaded)
	if err != nil {
		return nil, fmt.Errorf("convert stack %s: %w", name, err)
	}
	return spec, nil
}
