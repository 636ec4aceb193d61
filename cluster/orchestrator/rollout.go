package orchestrator

import (
	"maps"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// Dirty reports whether t was made from another spec than svc's current
// task template (deploy.Dirty): such a task is out of date, and a rollout
// replaces it. The Engine API's "_up-to-date" task filter, which `docker
// service create` and `update` watch, keeps the tasks that are not dirty.
func Dirty(svc *swarm.Service, t *swarm.Task) bool {
	return deploy.Dirty(svc, t)
}

// rollout lets the rollout engine pace the replacement of out-of-date
// tasks of a replicated or global service, after the mode's own rules
// (restarts, scaling, nodes) have had their say, and applies its
// decision: replacements, the end of start-first overlaps, health-gate
// failures, the labels that keep its progress in the store, and the
// service's new update status. It runs before the task reaper, so no task
// is deleted yet. A global service's tasks on paused nodes are not
// replaced, as Swarm does not update them; Step is told which nodes are
// paused rather than not shown their tasks, so that a replacement already
// on its way on a node paused since still occupies its worker.
func (r *run) rollout() {
	s := r.in.Service
	if s == nil || r.isJob() {
		return
	}
	var paused map[string]bool
	if r.isGlobal() {
		for id, n := range r.nodes {
			if n.Spec.Availability == swarm.NodeAvailabilityPause {
				if paused == nil {
					paused = map[string]bool{}
				}
				paused[id] = true
			}
		}
	}
	// Step only reads the tasks.
	d := deploy.Step(deploy.Input{Service: s, Tasks: r.tasks, PausedNodes: paused, Now: r.in.Now})
	r.decision = d
	for _, u := range d.Updated {
		if t := r.byID[u.TaskID]; t != nil {
			r.setLabel(t, deploy.LabelUpdatedAt, u.At.UTC().Format(time.RFC3339Nano))
		}
	}
	for _, f := range d.Fail {
		if t := r.byID[f.TaskID]; t != nil && r.live(t) {
			r.setLabel(t, deploy.LabelFailed, f.Err)
			r.restart(t)
		}
	}
	for _, id := range d.Shutdown {
		if t := r.byID[id]; t != nil {
			r.setDesired(t, swarm.TaskStateShutdown)
		}
	}
	for _, rp := range d.Replace {
		if t := r.byID[rp.TaskID]; t != nil && r.live(t) {
			r.update(t, rp, d.Rollout)
		}
	}
	if d.Status != nil {
		c := *s // objects shared with the store are never changed in place
		c.UpdateStatus = d.Status
		if d.Rollback && s.PreviousSpec != nil {
			c.Spec, c.PreviousSpec = *s.PreviousSpec, nil
		}
		r.service = &c
	}
	r.wakeAt(d.Wake)
}

// update replaces t, a live task of an older spec, by a task of the
// service's current spec in the same slot (on the same node, for global
// services). Stop first: t is told to stop and the replacement is created
// desired ready, for promoteReady to start once t has stopped. Start
// first: the replacement starts at once beside t, which the rollout
// engine stops once the replacement counts as updated. The slot's other
// out-of-date tasks the engine names are told to stop with it, in the
// same commit (Plan.With).
func (r *run) update(t *swarm.Task, rp deploy.Replacement, rollout string) {
	var repl *swarm.Task
	if r.isGlobal() {
		repl = r.newTask(0, t.NodeID)
	} else {
		repl = r.newTask(t.Slot, "")
	}
	repl.Labels = map[string]string{deploy.LabelUpdateOf: t.ID, deploy.LabelRollout: rollout}
	for _, id := range rp.Stop {
		if o := r.byID[id]; o != nil {
			r.setDesired(o, swarm.TaskStateShutdown)
			if r.updated[id] {
				r.with[repl.ID] = append(r.with[repl.ID], id)
			}
		}
	}
	if rp.StartFirst {
		return
	}
	r.setDesired(t, swarm.TaskStateShutdown)
	if !r.waitsFor(t) {
		return
	}
	repl.DesiredState = swarm.TaskStateReady
	repl.Labels[LabelStartAfter] = r.in.Now.UTC().Format(time.RFC3339Nano)
}

// setLabel sets a label on an existing task; the map is copied, since the
// store's object shares it.
func (r *run) setLabel(t *swarm.Task, key, value string) {
	if t.Labels[key] == value {
		return
	}
	t.Labels = maps.Clone(t.Labels)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[key] = value
	if !r.created[t.ID] {
		r.updated[t.ID] = true
	}
}

// servedBeside reports whether t, a task that ended or lost its node,
// shares its slot (node, for global services) with another task meant to
// run, which serves the slot instead of a restart: a start-first
// replacement of t, a restart already made for the slot (both tasks of an
// overlap ended), the old task a rollback made current again, or the
// survivor of an overlap an earlier rollout left. A slot gets one task
// meant to run, not one per task that ended. The one exception is the
// out-of-date old task of t's own start-first overlap: t, its replacement,
// is restarted beside it, and the rollout ends the overlap.
func (r *run) servedBeside(t *swarm.Task) bool {
	if r.isJob() {
		return false
	}
	for _, o := range r.tasks {
		if o == t || !r.live(o) || stateRank(o.Status.State) > stateRank(swarm.TaskStateRunning) ||
			Replaces(t) == o.ID && Dirty(r.in.Service, o) {
			continue
		}
		if r.isGlobal() && o.NodeID == t.NodeID || !r.isGlobal() && o.Slot == t.Slot {
			return true
		}
	}
	return false
}

// Replaces is the ID of the task t replaces, by a restart or an update;
// empty for a task that replaces none. A replacement and the shutdown of
// the task it replaces must be committed together, or a slot could hold
// two tasks meant to run.
func Replaces(t *swarm.Task) string {
	if id := t.Labels[LabelRestartOf]; id != "" {
		return id
	}
	return t.Labels[deploy.LabelUpdateOf]
}
