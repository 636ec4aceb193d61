package api

import "github.com/docker/docker/api/types/swarm"

// taskStateOrder is SwarmKit's order of task states: a task's observed
// and desired states only ever move along it.
var taskStateOrder = map[swarm.TaskState]int{
	swarm.TaskStateNew:       0,
	swarm.TaskStateAllocated: 1,
	swarm.TaskStatePending:   2,
	swarm.TaskStateAssigned:  3,
	swarm.TaskStateAccepted:  4,
	swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady:     6,
	swarm.TaskStateStarting:  7,
	swarm.TaskStateRunning:   8,
	swarm.TaskStateComplete:  9,
	swarm.TaskStateShutdown:  10,
	swarm.TaskStateFailed:    11,
	swarm.TaskStateRejected:  12,
	swarm.TaskStateRemove:    13,
	swarm.TaskStateOrphaned:  14,
}

// TaskStateRank is the position of a task state in the order states move
// along (new first, orphaned last); ok is false for a state Docker does
// not define. The empty state counts as new.
func TaskStateRank(s swarm.TaskState) (rank int, ok bool) {
	if s == "" {
		return 0, true
	}
	rank, ok = taskStateOrder[s]
	return rank, ok
}
