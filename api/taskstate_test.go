package api

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestTaskStateRank(t *testing.T) {
	order := []swarm.TaskState{"", swarm.TaskStateAllocated, swarm.TaskStatePending, swarm.TaskStateAssigned,
		swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting,
		swarm.TaskStateRunning, swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed,
		swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned}
	for i, s := range order {
		if r, ok := TaskStateRank(s); !ok || r != i {
			t.Errorf("TaskStateRank(%q) = %d, %v; want %d", s, r, ok, i)
		}
	}
	if _, ok := TaskStateRank("bogus"); ok {
		t.Error("an unknown state has a rank")
	}
}
