package sim

import (
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// stateOrder is Swarm's order of task states; kept here rather than
// borrowed from the orchestrator so the forward-only check is independent
// of the code it checks.
var stateOrder = map[swarm.TaskState]int{
	swarm.TaskStateNew: 0, swarm.TaskStateAllocated: 1, swarm.TaskStatePending: 2,
	swarm.TaskStateAssigned: 3, swarm.TaskStateAccepted: 4, swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady: 6, swarm.TaskStateStarting: 7, swarm.TaskStateRunning: 8,
	swarm.TaskStateComplete: 9, swarm.TaskStateShutdown: 10, swarm.TaskStateFailed: 11,
	swarm.TaskStateRejected: 12, swarm.TaskStateRemove: 13, swarm.TaskStateOrphaned: 14,
}

func rank(s swarm.TaskState) int {
	if s == "" {
		return 0
	}
	r, ok := stateOrder[s]
	if !ok {
		panic("sim: unknown task state " + string(s))
	}
	return r
}

// runAgents lets every present agent move its tasks one state on, reporting
// the changes as one batch per agent as a real agent's status updates would
// arrive.
func (s *Sim) runAgents() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	for _, a := range s.agents {
		if !a.present() {
			continue
		}
		var muts []store.Mutation
		for _, t := range st.tasks {
			if t.NodeID != a.nodeID {
				continue
			}
			next, ok := s.advance(t)
			if !ok {
				continue
			}
			s.logf("agent %s: %s %s -> %s %s", a.nodeID, t.ID, t.Status.State, next.State, next.Err)
			c := *t
			c.Status = next
			muts = append(muts, store.Update(&c, t.Meta.Version.Index))
		}
		if err := s.apply("agent "+a.nodeID, muts); err != nil {
			return err
		}
	}
	return nil
}

// advance is what the agent does with t this step: stop it when told to,
// else take it one state toward its desired one, sometimes failing it while
// faults are on.
func (s *Sim) advance(t *swarm.Task) (swarm.TaskStatus, bool) {
	cur := rank(t.Status.State)
	if cur < rank(swarm.TaskStateAssigned) || cur > rank(swarm.TaskStateRunning) {
		return swarm.TaskStatus{}, false
	}
	st := swarm.TaskStatus{Timestamp: s.now}
	if rank(t.DesiredState) > rank(swarm.TaskStateRunning) {
		st.State, st.Message = swarm.TaskStateShutdown, "shutdown"
		return st, true
	}
	if cur >= rank(t.DesiredState) || s.rng.IntN(10) < 3 {
		return st, false
	}
	switch t.Status.State {
	case swarm.TaskStateAssigned:
		st.State, st.Message = swarm.TaskStateAccepted, "accepted"
	case swarm.TaskStateAccepted:
		st.State, st.Message = swarm.TaskStatePreparing, "preparing"
	case swarm.TaskStatePreparing:
		st.State, st.Message = swarm.TaskStateReady, "prepared"
		if s.faults && s.rng.IntN(50) == 0 {
			st.State, st.Message, st.Err = swarm.TaskStateRejected, "preparing", "No such image: app:1"
		}
	case swarm.TaskStateReady:
		st.State, st.Message = swarm.TaskStateStarting, "starting"
	case swarm.TaskStateStarting:
		st.State, st.Message = swarm.TaskStateRunning, "started"
		if s.faults && s.rng.IntN(30) == 0 {
			st.State, st.Err = swarm.TaskStateFailed, "task: non-zero exit (1)"
		}
	}
	return st, true
}
