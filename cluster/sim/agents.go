package sim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/dispatcher"
)

// agent is the simulated worker of one node: its agent process, its
// containers and its link to the managers. Containers outlive the agent
// process, not a reboot.
type agent struct {
	nodeID string
	addr   string
	desc   swarm.NodeDescription // what it registers
	alive  bool                  // the agent process runs
	// reachable is false while the node or its network is down.
	reachable bool
	rebooted  bool // containers were lost while it was away
	back      int  // the step it returns at; 0 when it is not away
	// restarted is set when the agent process started again: it
	// re-reports every container it finds.
	restarted bool

	session string
	// asg is the last set of assignments received, and when: the agent
	// asks again when the store moved or a heartbeat period passed, as its
	// long poll would return.
	asg      api.Assignments
	asgIndex uint64
	asgAt    time.Time
	// containers is what the node's engine holds, running or exited: task
	// ID -> the status the agent last gave it. An exited container stays
	// until its task is gone, so that its end is reported even when the
	// first report was lost.
	containers map[string]swarm.TaskStatus
}

func newAgent(n *swarm.Node) *agent {
	return &agent{
		nodeID:     n.ID,
		addr:       n.Status.Addr + ":4243",
		desc:       n.Description,
		alive:      true,
		reachable:  true,
		containers: map[string]swarm.TaskStatus{},
	}
}

func (a *agent) present() bool { return a != nil && a.alive && a.reachable }

// runAgents lets every present agent talk to the dispatcher — register
// when it has no session, fetch its assignments, move its containers one
// state on and report — then commits the reports as the dispatcher's
// flusher does: one batch for all nodes.
func (s *Sim) runAgents() error {
	for _, a := range s.agents {
		if !a.present() {
			continue
		}
		if err := s.runAgent(a); err != nil {
			return fmt.Errorf("agent %s: %w", a.nodeID, err)
		}
	}
	if err := s.leader.disp.Flush(ctx); err != nil {
		return fmt.Errorf("flush task status: %w", err)
	}
	return nil
}

func (s *Sim) runAgent(a *agent) error {
	d := s.leader.disp
	if a.session == "" {
		reply, err := d.Register(ctx, a.nodeID, a.addr, api.SessionRequest{Description: a.desc})
		if err != nil {
			return fmt.Errorf("register: %w", err)
		}
		a.session, a.asgIndex = reply.SessionID, 0
	}
	if a.asgIndex != s.st.LastIndex() || s.now.Sub(a.asgAt) >= dispatcher.DefaultHeartbeatPeriod {
		asg, err := d.Assignments(ctx, a.nodeID, api.AssignmentsRequest{SessionID: a.session})
		if errors.Is(err, dispatcher.ErrUnknownSession) {
			// A new leader, or marked down while away: register again.
			s.logf("agent %s: session unknown; registers again", a.nodeID)
			a.session = ""
			return s.runAgent(a)
		}
		if err != nil {
			return fmt.Errorf("assignments: %w", err)
		}
		a.asg, a.asgIndex, a.asgAt = asg, s.st.LastIndex(), s.now
	}
	updates := s.work(a)
	if len(updates) == 0 {
		return nil
	}
	_, err := d.QueueStatus(a.nodeID, api.StatusRequest{SessionID: a.session, Updates: updates})

	if errors.Is(err, dispatcher.ErrUnknownSession) {
		s.logf("agent %s: session unknown; registers again", a.nodeID)
		a.session = ""
		return nil // what the store lacks is reported again next step
	}
	return err
}

// work is what the agent does with its assignments this step: containers
// of tasks told to stop are stopped, the others move one state toward
// their desired state (sometimes not, sometimes failing while faults are
// on), ends the store has not recorded yet are reported again, and
// containers of tasks no longer assigned are removed. It returns the
// status updates to report.
func (s *Sim) work(a *agent) []api.TaskStatusUpdate {
	var updates []api.TaskStatusUpdate
	set := func(t *swarm.Task, state swarm.TaskState, msg, errText string) {
		st := swarm.TaskStatus{Timestamp: s.now, State: state, Message: msg, Err: errText}
		a.containers[t.ID] = st
		updates = append(updates, api.TaskStatusUpdate{TaskID: t.ID, Status: st})
	}
	assigned := map[string]bool{}
	for i := range a.asg.Tasks {
		t := &a.asg.Tasks[i]
		assigned[t.ID] = true
		local, has := a.containers[t.ID]
		switch {
		case has && rank(local.State) > rank(swarm.TaskStateRunning):
			if rank(t.Status.State) < rank(local.State) {
				updates = append(updates, api.TaskStatusUpdate{TaskID: t.ID, Status: local})
			}
		case rank(t.DesiredState) > rank(swarm.TaskStateComplete):
			// Told to stop: stop the container, or say it never ran.
			if has || between(t.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) {
				set(t, swarm.TaskStateShutdown, "shutdown", "")
			}
		case !has && t.Status.State == swarm.TaskStateAssigned:
			if s.rng.IntN(10) < 7 {
				set(t, swarm.TaskStateAccepted, "accepted", "")
			}
		case !has && between(t.Status.State, swarm.TaskStateAccepted, swarm.TaskStateRunning):
			// The store says it runs here, but there is no container: the
			// node rebooted.
			set(t, swarm.TaskStateFailed, "started", "task: container gone")
		case has:
			switch {
			case a.restarted:
				re := local
				re.Timestamp, re.Message = s.now, local.Message+" (re-reported after agent restart)"
				updates = append(updates, api.TaskStatusUpdate{TaskID: t.ID, Status: re})
			case rank(t.Status.State) < rank(local.State):
				// A report the managers did not take (a session that
				// ended): the agent sends it until they have it.
				updates = append(updates, api.TaskStatusUpdate{TaskID: t.ID, Status: local})
			}
			if next, msg, errText, ok := s.advance(t, local.State); ok {
				set(t, next, msg, errText)
			}
		}
	}
	a.restarted = false
	for _, id := range slices.Sorted(maps.Keys(a.containers)) {
		if !assigned[id] {
			delete(a.containers, id) // the task is gone from the store
		}
	}
	return updates
}

// advance is the next state of a container in state local, toward its
// task's desired state.
func (s *Sim) advance(t *swarm.Task, local swarm.TaskState) (next swarm.TaskState, msg, errText string, ok bool) {
	if local == swarm.TaskStateRunning && s.faults && imageOf(t) == imageCrash && s.rng.IntN(3) == 0 {
		return swarm.TaskStateFailed, "started", "task: non-zero exit (1)", true
	}
	if rank(local) >= rank(t.DesiredState) && t.DesiredState != swarm.TaskStateComplete || s.rng.IntN(10) < 3 {
		return "", "", "", false
	}
	switch local {
	case swarm.TaskStateAccepted:
		return swarm.TaskStatePreparing, "preparing", "", true
	case swarm.TaskStatePreparing:
		if s.faults && s.rng.IntN(50) == 0 {
			return swarm.TaskStateRejected, "preparing", "No such image: app:1", true
		}
		return swarm.TaskStateReady, "prepared", "", true
	case swarm.TaskStateReady:
		if rank(t.DesiredState) < rank(swarm.TaskStateRunning) {
			return "", "", "", false // a delayed replacement waits here
		}
		return swarm.TaskStateStarting, "starting", "", true
	case swarm.TaskStateStarting:
		if s.faults && s.rng.IntN(30) == 0 {
			return swarm.TaskStateFailed, "started", "task: non-zero exit (1)", true
		}
		if hasHealthcheck(t) {
			// Running once healthy, which takes a check or two; a release
			// whose check never passes stays starting until the agent
			// gives up on it, as ours does once the retries are spent.
			switch {
			case s.faults && imageOf(t) == imageSick && s.rng.IntN(6) == 0:
				return swarm.TaskStateFailed, "started", "task: unhealthy container", true
			case s.faults && imageOf(t) == imageSick, s.rng.IntN(2) == 0:
				return "", "", "", false
			}
		}
		return swarm.TaskStateRunning, "started", "", true
	case swarm.TaskStateRunning:
		// Only a job's task ends by itself; services run until stopped.
		if t.DesiredState != swarm.TaskStateComplete || s.rng.IntN(4) != 0 {
			return "", "", "", false
		}
		if s.faults && s.rng.IntN(6) == 0 {
			return swarm.TaskStateFailed, "started", "task: non-zero exit (2)", true
		}
		return swarm.TaskStateComplete, "finished", "", true
	}
	return "", "", "", false
}

// recover brings back the agents whose time away is over. A rebooted
// node's containers are gone; an agent whose process crashed finds its
// containers still running and reports them again.
func (s *Sim) recover() error {
	for _, a := range s.agents {
		if a.back == 0 || s.step < a.back {
			continue
		}
		s.logf("%s back (agent restarted=%v, reboot=%v)", a.nodeID, !a.alive, a.rebooted)
		if !a.alive {
			a.restarted = true
			a.session = "" // a new process registers again
		}
		a.alive, a.reachable, a.back = true, true, 0
		if a.rebooted {
			a.rebooted = false
			a.containers = map[string]swarm.TaskStatus{}
			a.session = ""
		}
	}
	return nil
}

func rank(s swarm.TaskState) int {
	r, ok := api.TaskStateRank(s)
	if !ok {
		panic("sim: unknown task state " + string(s))
	}
	return r
}

func between(s, lo, hi swarm.TaskState) bool {
	return rank(s) >= rank(lo) && rank(s) <= rank(hi)
}
