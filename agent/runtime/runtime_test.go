package runtime

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestTaskName(t *testing.T) {
	for _, tc := range []struct {
		task swarm.Task
		want string
	}{
		{swarm.Task{ID: "t1", Slot: 3}, "web.3.t1"},
		{swarm.Task{ID: "t2", NodeID: "n1"}, "web.n1.t2"},
		{swarm.Task{ID: "t3", Slot: 1, Annotations: swarm.Annotations{Name: "own"}}, "own"},
	} {
		if got := TaskName(tc.task, "web"); got != tc.want {
			t.Errorf("TaskName(%+v) = %q, want %q", tc.task, got, tc.want)
		}
	}
}

func TestExitError(t *testing.T) {
	if got := (&ExitError{Code: 1}).Error(); got != "task: non-zero exit (1)" {
		t.Errorf("ExitError = %q", got)
	}
	if got := (&ExitError{Code: 137, Cause: "OOM"}).Error(); got != "task: non-zero exit (137): OOM" {
		t.Errorf("ExitError with cause = %q", got)
	}
}
