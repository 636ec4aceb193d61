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
// is deleted yet. A global service's tasks on paused nodes are left out,
// as Swarm does not update them.
func (r *run) rollout() {
	s := r.in.Service
	if s == nil || r.isJob() {
		return
	}
	tasks := r.tasks // Step only reads them
	if r.isGlobal() {
		tasks = nil
		for _, t := range r.tasks {
			if !r.nodePaused(t.NodeID) {
				tasks = append(tasks, t)
			}
		}
	}
	d := deploy.Step(deploy.Input{Service: s, Tasks: tasks, Now: r.in.Now})
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
			r.update(t, rp.StartFirst, d.Rollout)
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
// engine stops once the replacement counts as updated.
func (r *run) update(t *swarm.Task, startFirst bool, rollout string) {
	var repl *swarm.Task
	if r.isGlobal() {
		repl = r.newTask(0, t.NodeID)
	} else {
		repl = r.newTask(t.Slot, "")
	}
	repl.Labels = map[string]string{deploy.LabelUpdateOf: t.ID, deploy.LabelRollout: rollout}
	if startFirst {
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

// servedBeside reports whether t, a task of an older spec that ended or
// lost its node, shares its slot (node, for global services) with a live
// task of the current spec — a start-first replacement — which serves the
// slot instead of a restart.
func (r *run) servedBeside(t *swarm.Task) bool {
	if r.isJob() || !Dirty(r.in.Service, t) {
		return false
	}
	for _, o := range r.tasks {
		if o == t || !r.live(o) || stateRank(o.Status.State) > stateRank(swarm.TaskStateRunning) || Dirty(r.in.Service, o) {
			continue
		}
		if r.isGlobal() && o.NodeID == t.NodeID || !r.isGlobal() && o.Slot == t.Slot {
			return true
		}
	}
	return false
}

func (r *run) nodePaused(nodeID string) bool {
	n := r.nodes[nodeID]
	return n != nil && n.Spec.Availability == swarm.NodeAvailabilityPause
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
