package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// Step is what one converge pass did.
type Step struct {
	// Applied counts the changes made.
	Applied int
	// Waiting names services held back by their depends_on, with why.
	Waiting []string
	// Written maps each service created or updated to the digest of the
	// spec written (stackspec.Digest); a removed one maps to "".
	Written map[string]string
}

func (s *Step) wrote(name, digest string) {
	if s.Written == nil {
		s.Written = map[string]string{}
	}
	s.Written[name] = digest
}

// converge makes one pass from live toward target: networks, secrets and
// configs it lacks; then every service whose dependencies are ready, in
// the change set's order; then, once no service change is pending and
// every service has converged, the removals (so a rollout, or its
// rollback, still finds the secrets and configs of the spec it leaves). A
// failed write stops the pass; what was applied stays applied, and the
// next pass continues from what then runs. Services named in hold are
// left as they run: neither written nor resumed.
func converge(ctx context.Context, w Writer, target *api.StackSpec, live Live, resumeBefore time.Time, hold []string) (Step, error) {
	target = holding(target, live, hold)
	cs := stackspec.Diff(target, live.Spec)
	pending := map[string]bool{}
	for _, ch := range cs.Changes {
		if ch.Kind == api.KindService && ch.Action != api.ActionRemove {
			pending[ch.Name] = true
		}
	}
	var step Step
	var removals []api.Change
	for _, ch := range cs.Changes {
		if ch.Action == api.ActionRemove {
			removals = append(removals, ch)
			continue
		}
		if ch.Kind == api.KindService {
			if why := blocked(target, live, pending, ch.Name); why != "" {
				step.Waiting = append(step.Waiting, ch.Name+" ("+why+")")
				continue
			}
		}
		if err := upsert(ctx, w, target, live, ch); err != nil {
			return step, err
		}
		if ch.Kind == api.KindService {
			step.wrote(ch.Name, stackspec.Digest(target.Services[ch.Name]))
		}
		step.Applied++
	}
	// A service that runs what target asks but whose last rollout (or
	// rollback) paused before resumeBefore is written again: the write
	// clears the pause and the rollout engine takes its tasks to the spec
	// once more.
	for _, name := range sortedKeys(target.Services) {
		ls, ok := live.Services[name]
		if !ok || pending[name] || slices.Contains(hold, name) || !pausedBefore(ls, resumeBefore) {
			continue
		}
		if why := blocked(target, live, pending, name); why != "" {
			step.Waiting = append(step.Waiting, name+" ("+why+")")
			continue
		}
		if err := w.UpdateService(ctx, ls.ID, ls.Version, target.Services[name]); err != nil {
			return step, err
		}
		step.wrote(name, stackspec.Digest(target.Services[name]))
		step.Applied++
	}
	settled := len(pending) == 0
	for _, ls := range live.Services {
		settled = settled && ls.Converged()
	}
	for _, ch := range removals {
		if ch.Kind != api.KindService && (!settled || inUse(live.Spec, ch)) {
			// A live service still refers to it (one changed by hand, held
			// as it runs, or one removed in this pass): the API would
			// refuse, and a later pass removes it once it is free.
			continue
		}
		if err := remove(ctx, w, ch); err != nil {
			return step, err
		}
		if ch.Kind == api.KindService {
			step.wrote(ch.Name, "")
		}
		step.Applied++
	}
	return step, nil
}

// holding is target with the services named in hold as they run (or
// absent, when they do not), so that converging toward it leaves them
// alone.
func holding(target *api.StackSpec, live Live, hold []string) *api.StackSpec {
	if len(hold) == 0 || live.Spec == nil {
		return target
	}
	held := *target
	held.Services = maps.Clone(target.Services)
	for _, name := range hold {
		if spec, ok := live.Spec.Services[name]; ok {
			held.Services[name] = spec
		} else {
			delete(held.Services, name)
		}
	}
	return &held
}

// inUse reports whether a service of live refers to the secret, config or
// network ch removes.
func inUse(live *api.StackSpec, ch api.Change) bool {
	if live == nil {
		return false
	}
	for _, svc := range live.Services {
		if cs := svc.TaskTemplate.ContainerSpec; cs != nil {
			for _, r := range cs.Secrets {
				if ch.Kind == api.KindSecret && r.SecretName == ch.Name {
					return true
				}
			}
			for _, r := range cs.Configs {
				if ch.Kind == api.KindConfig && r.ConfigName == ch.Name {
					return true
				}
			}
		}
		for _, n := range svc.TaskTemplate.Networks {
			if ch.Kind == api.KindNetwork && n.Target == ch.Name {
				return true
			}
		}
	}
	return false
}

// blocked says why service name must wait for its dependencies, or "".
func blocked(target *api.StackSpec, live Live, pending map[string]bool, name string) string {
	for _, dep := range target.DependsOn[name] {
		if _, declared := target.Services[dep.Service]; !declared {
			continue // compose-go refuses unknown services; an external one is not ours to wait for
		}
		ls, running := live.Services[dep.Service]
		switch {
		case pending[dep.Service] || !running:
			return "waiting for " + dep.Service + " to be applied"
		case dep.Condition == api.ConditionHealthy && !ls.Converged():
			return fmt.Sprintf("waiting for %s to be healthy (%d/%d)", dep.Service, ls.Running, ls.Desired)
		case dep.Condition == api.ConditionStarted && ls.Running == 0 && ls.Desired > 0:
			return "waiting for " + dep.Service + " to start"
		}
	}
	return ""
}

func upsert(ctx context.Context, w Writer, target *api.StackSpec, live Live, ch api.Change) error {
	switch ch.Kind {
	case api.KindNetwork:
		if ch.Recreate {
			if err := w.RemoveNetwork(ctx, ch.Name); err != nil {
				return fmt.Errorf("%w (swarm networks cannot change in place: the network is recreated, which needs its services stopped; rename it in the stack file to move them over)", err)
			}
		}
		return w.CreateNetwork(ctx, ch.Name, target.Networks[ch.Name])
	case api.KindSecret:
		if ch.Action == api.ActionUpdate {
			if !ch.Recreate {
				return nil // labels only: nothing a task sees
			}
			if err := w.RemoveSecret(ctx, ch.Name); err != nil {
				return err
			}
		}
		return w.CreateSecret(ctx, target.Secrets[ch.Name])
	case api.KindConfig:
		if ch.Action == api.ActionUpdate {
			if !ch.Recreate {
				return nil
			}
			if err := w.RemoveConfig(ctx, ch.Name); err != nil {
				return err
			}
		}
		return w.CreateConfig(ctx, target.Configs[ch.Name])
	case api.KindService:
		spec := target.Services[ch.Name]
		ls, ok := live.Services[ch.Name]
		if ch.Action == api.ActionCreate || !ok {
			return w.CreateService(ctx, spec)
		}
		if ch.Recreate {
			if err := w.RemoveService(ctx, ch.Name); err != nil {
				return err
			}
			return w.CreateService(ctx, spec)
		}
		return w.UpdateService(ctx, ls.ID, ls.Version, spec)
	}
	return fmt.Errorf("apply %s %s: unknown kind", ch.Kind, ch.Name)
}

func remove(ctx context.Context, w Writer, ch api.Change) error {
	switch ch.Kind {
	case api.KindService:
		return w.RemoveService(ctx, ch.Name)
	case api.KindNetwork:
		return w.RemoveNetwork(ctx, ch.Name)
	case api.KindSecret:
		return w.RemoveSecret(ctx, ch.Name)
	case api.KindConfig:
		return w.RemoveConfig(ctx, ch.Name)
	}
	return errors.New("remove " + string(ch.Kind) + " " + ch.Name + ": unknown kind")
}

// pausedBefore reports whether ls's rollout or rollback paused before t
// (never for a zero t): when its pause was written, or without that, when
// it began.
func pausedBefore(ls LiveService, t time.Time) bool {
	u := ls.Update
	if t.IsZero() || u == nil || u.StartedAt == nil || (u.State != swarm.UpdateStatePaused && u.State != swarm.UpdateStateRollbackPaused) {
		return false
	}
	if !ls.Changed.IsZero() {
		return ls.Changed.Before(t)
	}
	return u.StartedAt.Before(t)
}
