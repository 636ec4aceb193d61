package orchestrator

import (
	"reflect"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Dirty reports whether t was made from another spec than svc's current
// task template, as SwarmKit's IsTaskDirty judges it: such a task is out
// of date, and an update replaces it. The Engine API's "_up-to-date" task
// filter, which `docker service create` and `update` watch, keeps the
// tasks that are not dirty.
func Dirty(svc *swarm.Service, t *swarm.Task) bool {
	return !reflect.DeepEqual(svc.Spec.TaskTemplate, t.Spec)
}

// LabelUpdateOf names the task an update replacement replaces; unlike
// LabelRestartOf it counts against no restart policy.
const LabelUpdateOf = "com.swarmops.update-of"

// update replaces t, a live task of an older spec, by a task of the
// service's current spec in the same slot (on the same node, for global
// services), stopping t first: the replacement is created desired ready
// and promoteReady starts it once t has stopped. Every out-of-date task is
// replaced at once; the rollout engine paces updates by the service's
// update_config.
func (r *run) update(t *swarm.Task) {
	r.setDesired(t, swarm.TaskStateShutdown)
	var repl *swarm.Task
	if r.isGlobal() {
		repl = r.newTask(0, t.NodeID)
	} else {
		repl = r.newTask(t.Slot, "")
	}
	repl.Labels = map[string]string{LabelUpdateOf: t.ID}
	if !r.waitsFor(t) {
		return
	}
	repl.DesiredState = swarm.TaskStateReady
	repl.Labels[LabelStartAfter] = r.in.Now.UTC().Format(time.RFC3339Nano)
}

// Replaces is the ID of the task t replaces, by a restart or an update;
// empty for a task that replaces none. A replacement and the shutdown of
// the task it replaces must be committed together, or a slot could hold
// two tasks meant to run.
func Replaces(t *swarm.Task) string {
	if id := t.Labels[LabelRestartOf]; id != "" {
		return id
	}
	return t.Labels[LabelUpdateOf]
}
