package executor

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/runtime"
)

const (
	sNew       = swarm.TaskStateNew
	sAssigned  = swarm.TaskStateAssigned
	sAccepted  = swarm.TaskStateAccepted
	sPreparing = swarm.TaskStatePreparing
	sReady     = swarm.TaskStateReady
	sStarting  = swarm.TaskStateStarting
	sRunning   = swarm.TaskStateRunning
	sComplete  = swarm.TaskStateComplete
	sShutdown  = swarm.TaskStateShutdown
	sFailed    = swarm.TaskStateFailed
	sRejected  = swarm.TaskStateRejected
	sRemove    = swarm.TaskStateRemove
)

var errBoom = errors.New("no such image: x:latest")

func task(state, desired swarm.TaskState) swarm.Task {
	return swarm.Task{ID: "t1", DesiredState: desired, Status: swarm.TaskStatus{State: state, Message: "prev"}}
}

func TestNext(t *testing.T) {
	exit1 := &runtime.ExitError{Code: 1}
	for _, tc := range []struct {
		state, desired swarm.TaskState
		obs            Observation
		act            Action
		want           swarm.TaskState
		msg, err       string // "" msg means unchanged ("prev")
		exitCode       int    // -1: no container status
	}{
		// The way up, one state per step.
		{sNew, sRunning, Observation{}, Proceed, sAccepted, "accepted", "", -1},
		{sAssigned, sRunning, Observation{}, Proceed, sAccepted, "accepted", "", -1},
		{sAssigned, sReady, Observation{}, Proceed, sAccepted, "accepted", "", -1},
		{sAccepted, sRunning, Observation{}, Prepare, sPreparing, "preparing", "", -1},
		{sAccepted, sReady, Observation{}, Prepare, sPreparing, "preparing", "", -1},
		{sPreparing, sRunning, Observation{}, Prepare, sPreparing, "", "", -1},
		{sPreparing, sRunning, Observation{Event: Prepared}, Proceed, sReady, "prepared", "", -1},
		{sReady, sRunning, Observation{}, Start, sStarting, "starting", "", -1},
		{sStarting, sRunning, Observation{}, Start, sStarting, "", "", -1},
		{sStarting, sRunning, Observation{Event: Started}, Wait, sStarting, "", "", -1},
		{sRunning, sRunning, Observation{}, Wait, sRunning, "", "", -1},
		{sRunning, sRunning, Observation{Event: Exited}, Idle, sComplete, "finished", "", 0},
		// Desired ready: prepared, never started.
		{sReady, sReady, Observation{}, Idle, sReady, "", "", -1},
		{sPreparing, sReady, Observation{Event: Prepared}, Proceed, sReady, "prepared", "", -1},
		// Desired behind the state: wait, never go back.
		{sAssigned, sAssigned, Observation{}, Idle, sAssigned, "", "", -1},
		// Errors.
		{sPreparing, sRunning, Observation{Event: Prepared, Err: errBoom}, Idle, sRejected, "", errBoom.Error(), -1},
		{sStarting, sRunning, Observation{Event: Started, Err: errBoom}, Idle, sFailed, "", errBoom.Error(), -1},
		{sRunning, sRunning, Observation{Event: Exited, Err: exit1}, Idle, sFailed, "failed", "task: non-zero exit (1)", 1},
		{sRunning, sRunning, Observation{Event: Exited, Err: errBoom}, Idle, sFailed, "", errBoom.Error(), -1},
		{sRunning, sRunning, Observation{Event: Health, Health: "unhealthy"}, Stop, sFailed, "", "unhealthy container", -1},
		{sRunning, sRunning, Observation{Event: Health, Health: "healthy"}, Wait, sRunning, "", "", -1},
		// Started, a task is running once healthy or known to have no
		// healthcheck; until then it stays starting.
		{sStarting, sRunning, Observation{Event: Health, Health: "none"}, Wait, sRunning, "started", "", -1},
		{sStarting, sRunning, Observation{Event: Health, Health: "healthy"}, Wait, sRunning, "started", "", -1},
		{sStarting, sRunning, Observation{Event: Health, Health: "starting"}, Wait, sStarting, "", "", -1},
		{sStarting, sRunning, Observation{Event: Health, Health: "unhealthy"}, Stop, sFailed, "", "unhealthy container", -1},
		{sStarting, sRunning, Observation{Event: Exited, Err: exit1}, Idle, sFailed, "failed", "task: non-zero exit (1)", 1},
		{sStarting, sShutdown, Observation{Event: Started}, Stop, sStarting, "", "", -1},
		{sRunning, sShutdown, Observation{Event: Stopped, Err: errBoom}, Idle, sFailed, "", errBoom.Error(), -1},
		{sReady, sShutdown, Observation{Event: Stopped, Err: errBoom}, Idle, sRejected, "", errBoom.Error(), -1},
		// A cancelled runtime call is the driver ending, not the task failing.
		{sPreparing, sRunning, Observation{Event: Prepared, Err: context.Canceled}, Idle, sPreparing, "", "", -1},
		{sRunning, sRunning, Observation{Event: Exited, Err: fmt.Errorf("wait: %w", context.Canceled)}, Idle, sRunning, "", "", -1},
		// Shutdown and remove: stop first, whatever the state.
		{sAssigned, sShutdown, Observation{}, Stop, sAssigned, "", "", -1},
		{sReady, sShutdown, Observation{}, Stop, sReady, "", "", -1},
		{sRunning, sShutdown, Observation{}, Stop, sRunning, "", "", -1},
		{sRunning, sShutdown, Observation{Event: Stopped}, Idle, sShutdown, "shutdown", "", -1},
		{sRunning, sRemove, Observation{}, Stop, sRunning, "", "", -1},
		{sRunning, sRemove, Observation{Event: Stopped}, Remove, sShutdown, "shutdown", "", -1},
		// Terminal tasks never change; removal is only cleanup.
		{sComplete, sRunning, Observation{}, Idle, sComplete, "", "", -1},
		{sFailed, sShutdown, Observation{}, Idle, sFailed, "", "", -1},
		{sFailed, sRunning, Observation{Event: Stopped}, Idle, sFailed, "", "", -1},
		{sShutdown, sShutdown, Observation{Event: Exited, Err: exit1}, Idle, sShutdown, "", "", -1},
		{sRejected, sRemove, Observation{}, Remove, sRejected, "", "", -1},
		{sShutdown, sRemove, Observation{Event: Removed}, Done, sShutdown, "", "", -1},
		{sShutdown, sRemove, Observation{Event: Removed, Err: errBoom}, Idle, sShutdown, "", "", -1},
	} {
		name := fmt.Sprintf("%s/%s/%v", tc.state, tc.desired, tc.obs)
		act, st := Next(task(tc.state, tc.desired), tc.obs)
		msg := tc.msg
		if msg == "" {
			msg = "prev"
		}
		if act != tc.act || st.State != tc.want || st.Message != msg || st.Err != tc.err {
			t.Errorf("%s: got %v %s %q err %q, want %v %s %q err %q", name,
				act, st.State, st.Message, st.Err, tc.act, tc.want, msg, tc.err)
		}
		switch {
		case tc.exitCode < 0 && st.ContainerStatus != nil:
			t.Errorf("%s: container status %+v, want none", name, *st.ContainerStatus)
		case tc.exitCode >= 0 && (st.ContainerStatus == nil || st.ContainerStatus.ExitCode != tc.exitCode):
			t.Errorf("%s: container status %+v, want exit code %d", name, st.ContainerStatus, tc.exitCode)
		}
	}
}

// TestNextForwardOnly steps every state, desired state and observation:
// the state never moves back, a terminal status never changes, and at most
// one state is crossed per step (so each is reported).
func TestNextForwardOnly(t *testing.T) {
	states := []swarm.TaskState{sNew, swarm.TaskStatePending, swarm.TaskStateAllocated, sAssigned, sAccepted,
		sPreparing, sReady, sStarting, sRunning, sComplete, sShutdown, sFailed, sRejected, swarm.TaskStateOrphaned}
	desired := []swarm.TaskState{sReady, sRunning, sShutdown, sRemove}
	var obs []Observation
	for _, ev := range []Event{Nothing, Prepared, Started, Exited, Stopped, Removed} {
		for _, err := range []error{nil, errBoom, &runtime.ExitError{Code: 2}, context.Canceled} {
			obs = append(obs, Observation{Event: ev, Err: err})
		}
	}
	for _, h := range []string{"none", "starting", "healthy", "unhealthy"} {
		obs = append(obs, Observation{Event: Health, Health: h})
	}
	for _, s := range states {
		for _, d := range desired {
			for _, o := range obs {
				in := task(s, d)
				act, st := Next(in, o)
				if Rank(st.State) < Rank(s) {
					t.Errorf("%s/%s/%v: moved back to %s", s, d, o, st.State)
				}
				if Terminal(s) && (st.State != s || st.Message != in.Status.Message || st.Err != "") {
					t.Errorf("%s/%s/%v: terminal status changed to %+v", s, d, o, st)
				}
				if act == Wait && st.State != sRunning && st.State != sStarting {
					t.Errorf("%s/%s/%v: wait in state %s", s, d, o, st.State)
				}
				if (act == Prepare || act == Start) && stopping(d) {
					t.Errorf("%s/%s/%v: %v while desired %s", s, d, o, act, d)
				}
			}
		}
	}
}
