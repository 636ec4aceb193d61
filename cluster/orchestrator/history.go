package orchestrator

import (
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// reapHistory is SwarmKit's task reaper: stopped tasks told to go are
// deleted, and each slot (node, for global services) keeps at most the
// history limit of tasks, live ones included, deleting its oldest stopped
// tasks first. When max_attempts is set the limit becomes max_attempts+1,
// so that the restarts it counts are never forgotten, and the newest
// max_attempts stopped tasks are kept whatever the limit says: older tasks
// of the slot still shutting down must not take the room of the restarts
// the next decision counts. Nor are the replacements of a rollout in
// progress deleted, whose failures it counts (deploy.Keep), nor a task
// that a task this plan creates replaces: the replacement names it
// (Replaces), and the control loop commits the two together.
func (r *run) reapHistory() {
	replaced := map[string]bool{}
	for _, t := range r.tasks {
		if id := Replaces(t); id != "" && r.created[t.ID] {
			replaced[id] = true
		}
	}
	for _, t := range r.tasks {
		if t.DesiredState == swarm.TaskStateRemove && stopped(t) && !r.created[t.ID] && !replaced[t.ID] {
			r.deleted[t.ID] = true
		}
	}
	if r.in.Service == nil {
		return
	}
	limit := r.in.HistoryLimit
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	countsRestarts := false
	if p := r.in.Service.Spec.TaskTemplate.RestartPolicy; p != nil && p.MaxAttempts != nil && *p.MaxAttempts > 0 {
		limit, countsRestarts = int(*p.MaxAttempts)+1, true
	}
	if limit < 0 {
		return
	}
	type instance struct {
		slot int
		node string
	}
	groups := map[instance][]*swarm.Task{}
	var order []instance
	for _, t := range r.tasks {
		if r.deleted[t.ID] {
			continue
		}
		k := instance{slot: t.Slot}
		if r.isGlobal() {
			k = instance{node: t.NodeID}
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t) // oldest first: r.tasks is sorted
	}
	for _, k := range order {
		g := groups[k]
		excess := len(g) - limit
		var deletable []*swarm.Task
		for _, t := range g {
			if stopped(t) && !r.created[t.ID] && !deploy.Keep(r.in.Service, t) {
				deletable = append(deletable, t)
			}
		}
		if countsRestarts {
			deletable = deletable[:max(len(deletable)-(limit-1), 0)]
		}
		for _, t := range deletable[:min(max(excess, 0), len(deletable))] {
			if !replaced[t.ID] {
				r.deleted[t.ID] = true
			}
		}
	}
}
