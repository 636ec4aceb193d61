package executor

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	agentexec "github.com/swarmops/swarmops/agent/exec"
	"github.com/swarmops/swarmops/agent/runtime"
)

// The executor over the real plain-process runtime: real processes, real
// exit codes, every status in order.
func TestRunOnExecRuntime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    string
		wantState swarm.TaskState
		wantExit  int
	}{
		{"completes", "exit 0", swarm.TaskStateComplete, 0},
		{"fails", "exit 3", swarm.TaskStateFailed, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := agentexec.New(t.TempDir(), "node1")
			task := swarm.Task{ID: "task" + tc.name, Slot: 1, NodeID: "node1", DesiredState: swarm.TaskStateRunning}
			task.Status.State = swarm.TaskStateAssigned
			task.Spec.ContainerSpec = &swarm.ContainerSpec{Command: []string{"/bin/sh", "-c", tc.script}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var seen []swarm.TaskStatus
			if err := Run(ctx, rt, Spec{Task: task, Service: "web"}, nil, func(s swarm.TaskStatus) { seen = append(seen, s) }); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var states []swarm.TaskState
			for _, s := range seen {
				states = append(states, s.State)
			}
			want := []swarm.TaskState{swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady,
				swarm.TaskStateStarting, swarm.TaskStateRunning, tc.wantState}
			if len(states) != len(want) {
				t.Fatalf("states %v, want %v", states, want)
			}
			for i := range want {
				if states[i] != want[i] {
					t.Fatalf("states %v, want %v", states, want)
				}
			}
			last := seen[len(seen)-1]
			if want := (&runtime.ExitError{Code: tc.wantExit}).Error(); tc.wantExit != 0 && last.Err != want {
				t.Errorf("last status %+v, want the error %q", last, want)
			}
			if last.ContainerStatus == nil || last.ContainerStatus.ExitCode != tc.wantExit {
				t.Errorf("last status %+v, want exit code %d", last, tc.wantExit)
			}
		})
	}
}
