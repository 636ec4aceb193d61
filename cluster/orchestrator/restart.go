package orchestrator

import (
	"reflect"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Labels the orchestrator sets on the replacement tasks it creates. SwarmKit
// keeps both facts in the restart supervisor's memory; on the task they
// survive a leader change and keep Reconcile a pure function.
const (
	// LabelRestartOf names the task a replacement replaces. Restarts counted
	// against max_attempts are the tasks bearing it.
	LabelRestartOf = "com.swarmops.restart-of"
	// LabelStartAfter is when a replacement created with desired state ready
	// may move to running (RFC 3339, nanoseconds).
	LabelStartAfter = "com.swarmops.start-after"
)

// Swarm's restart defaults, applied when the task spec leaves them out.
const (
	defaultRestartDelay = 5 * time.Second
	// oldTaskTimeout bounds how long a replacement waits for the task it
	// replaces to stop before starting anyway (SwarmKit's TaskTimeout).
	oldTaskTimeout = time.Minute
)

func (r *run) isJob() bool {
	m := r.in.Service.Spec.Mode
	return m.ReplicatedJob != nil || m.GlobalJob != nil
}

func (r *run) isGlobal() bool {
	m := r.in.Service.Spec.Mode
	return m.Global != nil || m.GlobalJob != nil
}

// restart is SwarmKit's restart supervisor deciding about t, a task that
// ended or whose node is lost: t is told to shut down and, if the restart
// policy allows, a replacement takes its slot (or node). The replacement
// starts at once unless a delay applies or t may still be running; then it is
// created with desired state ready and promoteReady moves it on later.
func (r *run) restart(t *swarm.Task) {
	r.setDesired(t, swarm.TaskStateShutdown)
	if !r.shouldRestart(t) || r.servedBeside(t) {
		return
	}
	var repl *swarm.Task
	if r.isGlobal() {
		repl = r.newTask(0, t.NodeID)
	} else {
		repl = r.newTask(t.Slot, "")
	}
	repl.Labels = map[string]string{LabelRestartOf: t.ID}

	// A drained node's tasks move without delay: the operator asked for it.
	var delay time.Duration
	if n := r.nodes[t.NodeID]; n == nil || n.Spec.Availability != swarm.NodeAvailabilityDrain {
		delay = restartDelay(t)
	}
	if delay == 0 && !r.waitsFor(t) {
		return
	}
	repl.DesiredState = swarm.TaskStateReady
	repl.Labels[LabelStartAfter] = r.in.Now.Add(delay).UTC().Format(time.RFC3339Nano)
}

// waitsFor reports whether a replacement must wait for old to stop: it may
// still be running on a node that can tell us it stopped. A task told to
// stop before it was placed never runs: no node will be given it.
func (r *run) waitsFor(old *swarm.Task) bool {
	if old == nil || stopped(old) {
		return false
	}
	return old.NodeID == "" || !r.nodeDown(old.NodeID)
}

// promoteReady moves delayed replacements to running (complete for jobs) once
// their delay is over and the task they replace has stopped, or has had
// oldTaskTimeout to do so. Ready tasks without LabelStartAfter belong to
// someone else (the rollout engine) and are left alone.
func (r *run) promoteReady() {
	for _, t := range r.tasks {
		if r.deleted[t.ID] || t.DesiredState != swarm.TaskStateReady {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, t.Labels[LabelStartAfter])
		if err != nil {
			continue
		}
		if r.in.Now.Before(at) {
			r.wakeAt(at)
			continue
		}
		giveUp := taskTime(t).Add(oldTaskTimeout)
		if r.waitsFor(r.byID[Replaces(t)]) && r.in.Now.Before(giveUp) {
			r.wakeAt(giveUp)
			continue
		}
		if t.JobIteration != nil {
			r.setDesired(t, swarm.TaskStateComplete)
		} else {
			r.setDesired(t, swarm.TaskStateRunning)
		}
	}
}

func restartDelay(t *swarm.Task) time.Duration {
	if p := t.Spec.RestartPolicy; p != nil && p.Delay != nil {
		return *p.Delay
	}
	return defaultRestartDelay
}

func restartCondition(t *swarm.Task) swarm.RestartPolicyCondition {
	if p := t.Spec.RestartPolicy; p != nil && p.Condition != "" {
		return p.Condition
	}
	return swarm.RestartPolicyConditionAny
}

// shouldRestart is SwarmKit's: the condition first, then max_attempts counted
// over the replacements made for this slot (node, for global services) under
// t's spec — within the window before t ended when a window is set.
func (r *run) shouldRestart(t *swarm.Task) bool {
	switch restartCondition(t) {
	case swarm.RestartPolicyConditionNone:
		return false
	case swarm.RestartPolicyConditionOnFailure:
		if t.Status.State == swarm.TaskStateComplete {
			return false
		}
	default:
		if r.isJob() && t.Status.State == swarm.TaskStateComplete {
			return false
		}
	}
	p := t.Spec.RestartPolicy
	if p == nil || p.MaxAttempts == nil || *p.MaxAttempts == 0 {
		return true
	}
	var window time.Duration
	if p.Window != nil {
		window = *p.Window
	}
	ended := t.Status.Timestamp
	var restarts uint64
	for _, o := range r.tasks {
		if o.Labels[LabelRestartOf] == "" || !r.sameInstance(o, t) || !reflect.DeepEqual(o.Spec, t.Spec) {
			continue
		}
		if window > 0 {
			ts := taskTime(o)
			if !ts.After(ended.Add(-window)) || !ts.Before(ended) {
				continue
			}
		}
		restarts++
	}
	return restarts < *p.MaxAttempts
}

// sameInstance reports whether a and b fill the same place of the service:
// the same slot, or for global services the same node — and for jobs in
// the same run, since each run of a job gets its own restarts.
func (r *run) sameInstance(a, b *swarm.Task) bool {
	if a.ServiceID != b.ServiceID || (a.JobIteration == nil) != (b.JobIteration == nil) ||
		a.JobIteration != nil && a.JobIteration.Index != b.JobIteration.Index {
		return false
	}
	if r.isGlobal() {
		return a.NodeID == b.NodeID
	}
	return a.Slot == b.Slot
}
