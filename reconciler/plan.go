package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
// Stacks are rendered exactly as the reconciler renders them (RenderStack:
// variables of their env files only, never the caller's environment;
// content-versioned secret and config names; automatic rollback), so a plan
// in CI and the leader render the same specs from the same commit. Secret
// data stays encrypted: a plan compares names, and needs no age identity.
func PlanDir(ctx context.Context, dir string, actual map[string]*api.StackSpec) (*Plan, error) {
	layout, err := LoadLayout(os.DirFS(dir), ".")
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", dir, err)
	}
	shown := ""
	if clean := filepath.Clean(dir); clean != "." {
		shown = clean + string(filepath.Separator)
	}
	plan := &Plan{}
	inRepo := map[string]bool{}
	for _, src := range layout.Stacks {
		inRepo[src.Name] = true
		sp := StackPlan{Source: src}
		sp.Spec, sp.Err = renderStack(ctx, root, src, nil, false)
		if sp.Err != nil {
			sp.Err = &repoError{msg: strings.ReplaceAll(sp.Err.Error(), root+string(filepath.Separator), shown), err: sp.Err}
		} else {
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
