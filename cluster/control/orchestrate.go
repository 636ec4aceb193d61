package control

import (
	"reflect"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/allocator"
	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
)

// Orchestrate runs the constraint enforcer and then the orchestrator over
// every service, and over the tasks of removed services, from one
// snapshot. It returns the mutations in groups, each of which must be
// committed whole, and the earliest time a plan asked to be run again (a
// restart delay ending), zero if none did.
//
// A group is as small as correctness allows, so that a stale plan fails
// little: a replacement is grouped with the update that shuts down the
// task it replaces (committing it alone would put two tasks in one slot),
// and so are the shutdowns of the slot's other out-of-date tasks that a
// rollout replacement stops (orchestrator.Plan.With); every other
// mutation stands alone, since each moves its task forward in a way the
// next pass would decide again from the store. The rollout
// engine's write of the service (its update status; for a rollback, its
// spec) is a group of its own, after the service's task groups, checked
// against the version the snapshot read: a service the API changed
// meanwhile is planned again. Groups of one service are adjacent and in
// the plan's order.
//
// The enforcer's rejections are handed to the orchestrator as if already
// applied, so a rejected task's status and its new desired state are one
// update. Updates carry the version the snapshot read; deletes carry none,
// since only tasks that have stopped are deleted.
func Orchestrate(snap *Snapshot, now time.Time, newID func() string) (groups [][]store.Mutation, wake time.Time) {
	rejected := map[string]*swarm.Task{}
	for _, t := range Enforce(snap, now) {
		rejected[t.ID] = t
	}
	byService := map[string][]*swarm.Task{}
	var orphans []string
	ix := snap.index()
	for _, t := range snap.Tasks {
		if r := rejected[t.ID]; r != nil {
			t = r
		}
		if ix.services[t.ServiceID] == nil && byService[t.ServiceID] == nil {
			orphans = append(orphans, t.ServiceID)
		}
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	slices.Sort(orphans)
	limit := snap.historyLimit()
	plan := func(sv *swarm.Service, serviceID string) {
		p := orchestrator.Reconcile(orchestrator.Input{
			Service:      sv,
			Tasks:        byService[serviceID],
			Nodes:        snap.Nodes,
			NodesByID:    ix.nodes,
			Now:          now,
			NewID:        newID,
			HistoryLimit: limit,
		})
		if !p.Wake.IsZero() && (wake.IsZero() || p.Wake.Before(wake)) {
			wake = p.Wake
		}
		if p.Service != nil && sv != nil {
			followEndpoint(snap.Services, sv, p.Service)
		}
		groups = append(groups, mutations(p, byService[serviceID], rejected)...)
	}
	for _, sv := range snap.Services {
		plan(sv, sv.ID)
	}
	for _, id := range orphans {
		plan(nil, id)
	}
	return groups, wake
}

// mutations turns one service's plan into its groups, adding the
// rejections of the service's tasks the plan did not otherwise change.
func mutations(p orchestrator.Plan, tasks []*swarm.Task, rejected map[string]*swarm.Task) [][]store.Mutation {
	var groups [][]store.Mutation
	updated := map[string]*swarm.Task{}
	for _, t := range p.Update {
		updated[t.ID] = t
	}
	paired := map[string]int{} // updated task -> its group
	for _, t := range p.Create {
		var linked []*swarm.Task // the updates t must be committed with
		for _, id := range append([]string{orchestrator.Replaces(t)}, p.With[t.ID]...) {
			if old := updated[id]; old != nil && !slices.Contains(linked, old) {
				linked = append(linked, old)
			}
		}
		// The group of the first linked update already grouped, else a
		// new one; groups that another linked update is in join it.
		g := -1
		for _, old := range linked {
			i, ok := paired[old.ID]
			switch {
			case !ok:
			case g < 0:
				g = i
			case i != g:
				groups[g] = append(groups[g], groups[i]...)
				groups[i] = nil
				for id, j := range paired {
					if j == i {
						paired[id] = g
					}
				}
			}
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, nil)
		}
		for _, old := range linked {
			if _, ok := paired[old.ID]; !ok {
				paired[old.ID] = g
				groups[g] = append(groups[g], store.Update(old, old.Meta.Version.Index))
			}
		}
		groups[g] = append(groups[g], store.Create(t))
	}
	groups = slices.DeleteFunc(groups, func(g []store.Mutation) bool { return len(g) == 0 })
	deleted := map[string]bool{}
	for _, id := range p.Delete {
		deleted[id] = true
	}
	for _, t := range p.Update {
		if _, ok := paired[t.ID]; !ok {
			groups = append(groups, []store.Mutation{store.Update(t, t.Meta.Version.Index)})
		}
	}
	for _, t := range tasks {
		if r := rejected[t.ID]; r != nil && updated[t.ID] == nil && !deleted[t.ID] {
			groups = append(groups, []store.Mutation{store.Update(r, r.Meta.Version.Index)})
		}
	}
	for _, id := range p.Delete {
		groups = append(groups, []store.Mutation{store.Delete(store.TableTasks, id, 0)})
	}
	if sv := p.Service; sv != nil {
		groups = append(groups, []store.Mutation{store.Update(sv, sv.Meta.Version.Index)})
	}
	return groups
}

// followEndpoint rebuilds next's Endpoint when its spec publishes other
// ports than cur's (a rollback put an older spec back), as the API builds
// it on an update. Where the ports cannot be had, the endpoint stays.
func followEndpoint(services []*swarm.Service, cur, next *swarm.Service) {
	if reflect.DeepEqual(cur.Spec.EndpointSpec, next.Spec.EndpointSpec) {
		return
	}
	if ep, err := allocator.Endpoint(services, next.Spec.EndpointSpec, next.ID, next.Endpoint); err == nil {
		next.Endpoint = ep
	}
}
