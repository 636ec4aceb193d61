package executor

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/runtime"
)

// Action is what the driver does after a step.
type Action int

const (
	// Idle waits for the runtime to report or the desired state to change.
	Idle Action = iota
	// Proceed calls Next again at once, with no observation.
	Proceed
	// Prepare creates the task's container (or process) without starting it.
	Prepare
	// Start starts it.
	Start
	// Wait follows it until it exits, reporting health on the way.
	Wait
	// Stop stops it with its own grace period.
	Stop
	// Remove deletes it.
	Remove
	// Done: the task is terminal and removed; nothing more can happen.
	Done
)

var actionNames = [...]string{"idle", "proceed", "prepare", "start", "wait", "stop", "remove", "done"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Event names what the runtime reported.
type Event int

const (
	// Nothing: no report; a new desired state, or the first step.
	Nothing Event = iota
	// Prepared: Prepare returned (Err tells how).
	Prepared
	// Started: Start returned.
	Started
	// Exited: Wait returned; Err is nil for exit 0, a *runtime.ExitError
	// for a non-zero code, or why the task could not be followed.
	Exited
	// Stopped: Stop returned.
	Stopped
	// Removed: Remove returned.
	Removed
	// Health: the healthcheck reported Health.
	Health
)

// Observation is one report of the runtime.
type Observation struct {
	Event  Event
	Err    error
	Health string // "starting", "healthy" or "unhealthy", for Event Health
}

// ErrUnhealthy is the task error of a task whose healthcheck failed; the
// text is Swarm's.
var ErrUnhealthy = errors.New("unhealthy container")

// rank orders Swarm's task states as SwarmKit's enum does, so "forward"
// is a comparison.
var rank = map[swarm.TaskState]int{
	swarm.TaskStateNew:       0,
	swarm.TaskStatePending:   64,
	swarm.TaskStateAllocated: 128,
	swarm.TaskStateAssigned:  192,
	swarm.TaskStateAccepted:  256,
	swarm.TaskStatePreparing: 320,
	swarm.TaskStateReady:     384,
	swarm.TaskStateStarting:  512,
	swarm.TaskStateRunning:   576,
	swarm.TaskStateComplete:  640,
	swarm.TaskStateShutdown:  704,
	swarm.TaskStateFailed:    768,
	swarm.TaskStateRemove:    800,
	swarm.TaskStateRejected:  832,
	swarm.TaskStateOrphaned:  896,
}

// Rank is the position of s in Swarm's order of task states; states only
// move to a higher rank. An unknown state ranks -1.
func Rank(s swarm.TaskState) int {
	if r, ok := rank[s]; ok {
		return r
	}
	return -1
}

// Terminal reports whether a task in state s can no longer change.
func Terminal(s swarm.TaskState) bool { return Rank(s) >= rank[swarm.TaskStateComplete] }

// stopping reports whether the desired state asks the task to end.
func stopping(desired swarm.TaskState) bool { return Rank(desired) >= rank[swarm.TaskStateShutdown] }

// Next is one step of the executor: from the task (its current status and
// desired state) and what the runtime last reported, it returns the action
// to apply and the task's status after the step, which equals t.Status
// when nothing changed. At most one state change happens per step, so each
// is reported once. Status timestamps are the reporter's to set.
func Next(t swarm.Task, obs Observation) (Action, swarm.TaskStatus) {
	act, st := next(t, obs)
	if Rank(st.State) < Rank(t.Status.State) {
		panic(fmt.Sprintf("executor: task %s would move back from %s to %s", t.ID, t.Status.State, st.State))
	}
	return act, st
}

func next(t swarm.Task, obs Observation) (Action, swarm.TaskStatus) {
	cur := t.Status
	if Terminal(cur.State) {
		// Its container may still exist: removal is cleanup, not a state.
		switch {
		case t.DesiredState != swarm.TaskStateRemove:
			return Idle, cur
		case obs.Event == Removed && obs.Err == nil:
			return Done, cur
		case obs.Event == Removed && !canceled(obs.Err):
			return Idle, cur // the next desired state or restart retries
		default:
			return Remove, cur
		}
	}
	if obs.Err != nil && canceled(obs.Err) {
		// The driver is ending; the task is not at fault.
		return Idle, cur
	}
	switch obs.Event {
	case Prepared:
		if obs.Err != nil {
			return Idle, fail(cur, swarm.TaskStateRejected, "", obs.Err)
		}
		if cur.State == swarm.TaskStatePreparing {
			return Proceed, move(cur, swarm.TaskStateReady, "prepared")
		}
	case Started:
		if obs.Err != nil {
			return Idle, fail(cur, swarm.TaskStateFailed, "", obs.Err)
		}
		if cur.State == swarm.TaskStateStarting && !stopping(t.DesiredState) {
			// Running once the runtime says the task is healthy, or has no
			// healthcheck: a task with one stays starting until then, as
			// in Swarm.
			return Wait, cur
		}
	case Exited:
		if cur.State == swarm.TaskStateRunning || cur.State == swarm.TaskStateStarting {
			return exited(cur, obs.Err)
		}
	case Stopped:
		if obs.Err != nil {
			return Idle, fatal(cur, obs.Err)
		}
		if stopping(t.DesiredState) {
			st := move(cur, swarm.TaskStateShutdown, "shutdown")
			if t.DesiredState == swarm.TaskStateRemove {
				return Remove, st
			}
			return Idle, st
		}
	case Health:
		switch {
		case obs.Health == "unhealthy" && (cur.State == swarm.TaskStateRunning || cur.State == swarm.TaskStateStarting):
			// Swarm leaves the container running; we stop it, since a
			// failed task must not keep serving.
			return Stop, fail(cur, swarm.TaskStateFailed, "", ErrUnhealthy)
		case (obs.Health == "healthy" || obs.Health == "none") && cur.State == swarm.TaskStateStarting:
			return Wait, move(cur, swarm.TaskStateRunning, "started")
		case (cur.State == swarm.TaskStateStarting || cur.State == swarm.TaskStateRunning) && !stopping(t.DesiredState):
			return Wait, cur // still starting, or healthy again: nothing moves
		}
	}
	return plan(t)
}

// plan is the step toward the desired state when nothing was observed.
func plan(t swarm.Task) (Action, swarm.TaskStatus) {
	cur := t.Status
	if stopping(t.DesiredState) {
		return Stop, cur
	}
	// reaches: the desired state allows the task to get to s.
	reaches := func(s swarm.TaskState) bool { return Rank(t.DesiredState) >= Rank(s) }
	switch cur.State {
	case swarm.TaskStateNew, swarm.TaskStatePending, swarm.TaskStateAllocated, swarm.TaskStateAssigned:
		if reaches(swarm.TaskStateAccepted) {
			return Proceed, move(cur, swarm.TaskStateAccepted, "accepted")
		}
	case swarm.TaskStateAccepted:
		if reaches(swarm.TaskStateReady) {
			return Prepare, move(cur, swarm.TaskStatePreparing, "preparing")
		}
	case swarm.TaskStatePreparing:
		// An agent restarted mid-prepare: Prepare again, it is idempotent.
		if reaches(swarm.TaskStateReady) {
			return Prepare, cur
		}
	case swarm.TaskStateReady:
		if reaches(swarm.TaskStateStarting) {
			return Start, move(cur, swarm.TaskStateStarting, "starting")
		}
	case swarm.TaskStateStarting:
		if reaches(swarm.TaskStateRunning) {
			return Start, cur
		}
	case swarm.TaskStateRunning:
		return Wait, cur
	}
	return Idle, cur
}

// exited is the outcome of a running task whose Wait returned.
func exited(cur swarm.TaskStatus, err error) (Action, swarm.TaskStatus) {
	var exit *runtime.ExitError
	switch {
	case err == nil:
		st := move(cur, swarm.TaskStateComplete, "finished")
		st.ContainerStatus = withExitCode(cur.ContainerStatus, 0)
		return Idle, st
	case errors.As(err, &exit):
		st := fail(cur, swarm.TaskStateFailed, "failed", err)
		st.ContainerStatus = withExitCode(cur.ContainerStatus, exit.Code)
		return Idle, st
	default:
		return Idle, fail(cur, swarm.TaskStateFailed, "", err)
	}
}

// fatal ends a task on a runtime error as Swarm does: rejected before it
// was started, failed after.
func fatal(cur swarm.TaskStatus, err error) swarm.TaskStatus {
	if Rank(cur.State) < Rank(swarm.TaskStateStarting) {
		return fail(cur, swarm.TaskStateRejected, "", err)
	}
	return fail(cur, swarm.TaskStateFailed, "", err)
}

func move(cur swarm.TaskStatus, s swarm.TaskState, msg string) swarm.TaskStatus {
	cur.State, cur.Message = s, msg
	return cur
}

// fail keeps the last message unless msg is set, as Swarm shows the step
// that went wrong beside the error.
func fail(cur swarm.TaskStatus, s swarm.TaskState, msg string, err error) swarm.TaskStatus {
	cur.State, cur.Err = s, err.Error()
	if msg != "" {
		cur.Message = msg
	}
	return cur
}

func withExitCode(cs *swarm.ContainerStatus, code int) *swarm.ContainerStatus {
	out := swarm.ContainerStatus{}
	if cs != nil {
		out = *cs
	}
	out.ExitCode = code
	return &out
}

func canceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
