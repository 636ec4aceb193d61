package control

import (
	"context"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
)

// wait returns when a pass may have something to do: a relevant change
// after index since (once the debounce has let a burst gather), the wake
// time, or the store's event log no longer reaching back to since. It
// returns ctx's error when ctx ends first.
func (l *Loop) wait(ctx context.Context, since uint64, wake time.Time) error {
	var wakeC <-chan time.Time
	if !wake.IsZero() {
		wakeC = l.cfg.After(max(wake.Sub(l.cfg.Now()), 0))
	}
	for {
		evs, changed, err := l.cfg.Store.Events(since)
		if err != nil {
			return nil // compacted or restored: read everything again
		}
		if len(evs) > 0 {
			since = evs[len(evs)-1].Index
			if slices.ContainsFunc(evs, relevant) {
				if l.debounce > 0 {
					return l.sleep(ctx, l.debounce)
				}
				return nil
			}
		}
		select {
		case <-changed:
		case <-wakeC:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// relevant reports whether a change can alter what the planners decide.
// Tables they do not read are not; nor is a task's progress from assigned
// to running, which agents report several times for every task they start,
// except a replacement's arrival at running: a rollout moves on when its
// replacement runs, and a start-first overlap ends.
func relevant(ev store.Event) bool {
	switch ev.Table {
	case store.TableNodes, store.TableServices, store.TableCluster:
		return true
	case store.TableTasks:
	default:
		return false
	}
	if ev.Action != store.OpUpdate {
		return true
	}
	old, ok1 := ev.Old.(*swarm.Task)
	cur, ok2 := ev.Object.(*swarm.Task)
	if !ok1 || !ok2 {
		return true
	}
	if old.Status.State != swarm.TaskStateRunning && cur.Status.State == swarm.TaskStateRunning &&
		orchestrator.Replaces(cur) != "" {
		return true
	}
	return old.DesiredState != cur.DesiredState || old.NodeID != cur.NodeID ||
		!between(old.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) ||
		!between(cur.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning)
}
