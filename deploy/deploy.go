package deploy

import (
	"reflect"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Labels under which a service carries the health gates swarmops adds to
// Swarm's update_config (a stack file's `x-swarmops:` block; the docker
// CLI's `--label`). Durations are Go durations ("10s").
const (
	// LabelMinHealthyTime: a replacement counts as updated only once it has
	// been running, and healthy if it has a healthcheck, this long.
	LabelMinHealthyTime = "com.swarmops.update.min-healthy-time"
	// LabelHealthyDeadline: a replacement that is not healthy (or, without
	// a healthcheck, running) this long after it was created fails.
	LabelHealthyDeadline = "com.swarmops.update.healthy-deadline"
	// LabelProgressDeadline: a rollout that updates no slot this long
	// fails.
	LabelProgressDeadline = "com.swarmops.update.progress-deadline"
	// LabelAutoRollback "true": a failed update rolls back whatever its
	// failure_action says.
	LabelAutoRollback = "com.swarmops.update.auto-rollback"
)

// Labels the orchestrator sets on tasks for the rollout engine. They hold
// what SwarmKit's updater keeps in memory, so that Step decides from the
// store alone and a new leader continues a rollout where the old one
// stopped.
const (
	// LabelUpdateOf names the task a rollout replacement replaces; unlike
	// a restart it counts against no restart policy.
	LabelUpdateOf = "com.swarmops.update-of"
	// LabelRollout names the rollout that made a replacement: Decision's
	// Rollout, the UpdateStatus.StartedAt of that rollout.
	LabelRollout = "com.swarmops.update.rollout"
	// LabelUpdatedAt is when a replacement came to count as updated
	// (RFC 3339, nanoseconds): a failure later than monitor after it no
	// longer counts against the rollout.
	LabelUpdatedAt = "com.swarmops.update.updated-at"
	// LabelFailed is why the health gates failed a replacement.
	LabelFailed = "com.swarmops.update.failed"
)

// Input is what Step decides from: one service and all its tasks.
type Input struct {
	// Service holds the spec being rolled out (Spec), the one before it
	// (PreviousSpec) and the rollout's progress (UpdateStatus).
	Service *swarm.Service
	// Tasks are every task of the service, dead ones included.
	Tasks []*swarm.Task
	// PausedNodes are the nodes whose availability is pause. A global
	// service's out-of-date tasks on them are not replaced, as Swarm does
	// not update them, and start no rollout; but a replacement the
	// rollout already made on such a node (paused after it was made)
	// still occupies its worker until it counts as updated or fails.
	// Step only reads it.
	PausedNodes map[string]bool
	Now         time.Time
}

// Replacement is one out-of-date task to replace now.
type Replacement struct {
	TaskID string
	// StartFirst: the replacement starts before TaskID is told to stop
	// (order start-first); otherwise TaskID stops first.
	StartFirst bool
	// Stop are the slot's other out-of-date tasks (a start-first
	// replacement of an earlier rollout, beside the task it was to
	// replace): they are told to stop with the replacement, in the same
	// commit, or a commit of the replacement alone would leave the slot
	// with two tasks meant to run.
	Stop []string
}

// Failure is a replacement the health gates fail. The orchestrator
// records Err on it (LabelFailed), tells it to stop and lets the restart
// policy answer, as for a task that ended by itself. Its observed status
// stays the agent's: a manager that wrote "failed" while the container
// still runs would free its node's resources and ports, and start its
// replacement, too early.
type Failure struct {
	TaskID string
	Err    string
}

// Updated is a replacement that now counts as updated: the orchestrator
// records At on it (LabelUpdatedAt).
type Updated struct {
	TaskID string
	At     time.Time
}

// Decision is what the rollout wants now. The orchestrator applies it
// with the rest of its plan.
type Decision struct {
	// Replace are the out-of-date live tasks to replace now. Out-of-date
	// tasks not listed stay as they are.
	Replace []Replacement
	// Rollout is what the orchestrator labels the replacements it makes
	// with (LabelRollout).
	Rollout string
	// Shutdown are old tasks of a start-first replacement whose
	// replacement now counts as updated: they are told to stop.
	Shutdown []string
	// Fail are replacements the health gates failed.
	Fail []Failure
	// Updated are replacements that came to count as updated.
	Updated []Updated
	// Status, when not nil, is the service's new UpdateStatus.
	Status *swarm.UpdateStatus
	// Rollback: the service's spec goes back to its PreviousSpec now (a
	// failure under failure_action rollback, or auto_rollback), with
	// Status saying why. As in Swarm, PreviousSpec is then cleared.
	Rollback bool
	// Wake is when Step must run again even if nothing changes (a delay
	// or a monitor window ends); zero when no such time exists.
	Wake time.Time
}

// Empty reports whether the decision changes nothing.
func (d Decision) Empty() bool {
	return len(d.Replace) == 0 && len(d.Shutdown) == 0 && len(d.Fail) == 0 && len(d.Updated) == 0 && d.Status == nil
}

// Dirty reports whether t was made from another spec than svc's current
// task template, as SwarmKit's IsTaskDirty judges it: a rollout replaces
// such tasks. The Engine API's "_up-to-date" task filter keeps the others.
func Dirty(svc *swarm.Service, t *swarm.Task) bool {
	return !reflect.DeepEqual(svc.Spec.TaskTemplate, t.Spec)
}
