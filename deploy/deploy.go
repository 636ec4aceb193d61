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

// Input is what Step decides from: one service and all its tasks.
type Input struct {
	// Service holds the spec being rolled out (Spec), the one before it
	// (PreviousSpec) and the rollout's progress (UpdateStatus).
	Service *swarm.Service
	// Tasks are every task of the service, dead ones included.
	Tasks []*swarm.Task
	Now   time.Time
}

// Replacement is one out-of-date task to replace now.
type Replacement struct {
	TaskID string
	// StartFirst: the replacement starts before TaskID is told to stop
	// (order start-first); otherwise TaskID stops first.
	StartFirst bool
}

// Failure is a task the health gates fail: its observed status becomes
// failed with Err.
type Failure struct {
	TaskID string
	Err    string
}

// Decision is what the rollout wants now. The orchestrator applies it
// with the rest of its plan.
type Decision struct {
	// Replace are the out-of-date live tasks to replace now. Out-of-date
	// tasks not listed stay as they are.
	Replace []Replacement
	// Shutdown are old tasks of a start-first replacement whose
	// replacement now counts as updated: they are told to stop.
	Shutdown []string
	// Fail are replacements the health gates failed.
	Fail []Failure
	// Status, when not nil, is the service's new UpdateStatus.
	Status *swarm.UpdateStatus
	// Rollback: the service's spec goes back to its PreviousSpec now (a
	// failure under failure_action rollback, or auto_rollback), with
	// Status saying why.
	Rollback bool
	// Wake is when Step must run again even if nothing changes (a delay
	// or a monitor window ends); zero when no such time exists.
	Wake time.Time
}

// Dirty reports whether t was made from another spec than svc's current
// task template, as SwarmKit's IsTaskDirty judges it: a rollout replaces
// such tasks. The Engine API's "_up-to-date" task filter keeps the others.
func Dirty(svc *swarm.Service, t *swarm.Task) bool {
	return !reflect.DeepEqual(svc.Spec.TaskTemplate, t.Spec)
}
