package sim

import (
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// agent is the simulated worker of one node: its agent process and its
// link to the managers. Containers outlive the agent process, not a reboot.
type agent struct {
	nodeID    string
	alive     bool // the agent process runs
	reachable bool // the node and its network are up
	rebooted  bool // containers were lost while it was away
	back      int  // the step it returns at; 0 when it is not away
	lastBeat  time.Time
}

// fault picks one seeded fault and makes it happen. Faults that find
// nothing to act on (no running task, every agent away) do nothing.
func (s *Sim) fault() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	switch k := s.rng.IntN(10); k {
	case 0, 1:
		return s.crashTask(st)
	case 2, 3:
		a := s.pickPresent()
		if a == nil {
			return nil
		}
		a.back = s.step + 1 + s.rng.IntN(30)
		switch k {
		case 2:
			a.alive = false
			s.logf("fault: agent on %s crashes until step %d", a.nodeID, a.back)
		default:
			a.reachable = false
			a.rebooted = s.rng.IntN(2) == 0
			s.logf("fault: %s cut off (reboot=%v) until step %d", a.nodeID, a.rebooted, a.back)
		}
		return nil
	case 4, 5:
		n := st.nodes[s.rng.IntN(len(st.nodes))]
		avail := []swarm.NodeAvailability{swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain}[s.rng.IntN(3)]
		if avail == n.Spec.Availability {
			return nil
		}
		s.logf("fault: docker node update --availability %s %s", avail, n.ID)
		c := *n
		c.Spec.Availability = avail
		return s.apply("availability", []store.Mutation{store.Update(&c, n.Meta.Version.Index)})
	case 6, 7:
		var repl []*swarm.Service
		for _, sv := range st.services {
			if sv.Spec.Mode.Replicated != nil {
				repl = append(repl, sv)
			}
		}
		if len(repl) == 0 {
			return nil
		}
		sv := repl[s.rng.IntN(len(repl))]
		c, err := store.Clone(sv)
		if err != nil {
			return fmt.Errorf("clone service: %w", err)
		}
		n := uint64(s.rng.IntN(6))
		c.Spec.Mode.Replicated.Replicas = &n
		s.logf("fault: docker service scale %s=%d", sv.Spec.Name, n)
		return s.apply("scale", []store.Mutation{store.Update(c, sv.Meta.Version.Index)})
	case 8:
		if len(st.services) >= 5 {
			return nil
		}
		sv := s.newService()
		s.logf("fault: docker service create %s %s %s", sv.Spec.Name, modeOf(sv), constraintsOf(sv))
		return s.apply("create service", []store.Mutation{store.Create(sv)})
	default:
		if len(st.services) == 0 {
			return nil
		}
		sv := st.services[s.rng.IntN(len(st.services))]
		s.logf("fault: docker service rm %s", sv.Spec.Name)
		return s.apply("remove service", []store.Mutation{store.Delete(store.TableServices, sv.ID, 0)})
	}
}

// crashTask makes a running container exit, as seen by its (present) agent.
func (s *Sim) crashTask(st state) error {
	var running []*swarm.Task
	for _, t := range st.tasks {
		if t.Status.State == swarm.TaskStateRunning && s.agentOf(t.NodeID).present() {
			running = append(running, t)
		}
	}
	if len(running) == 0 {
		return nil
	}
	t := running[s.rng.IntN(len(running))]
	s.logf("fault: task %s (slot %d) on %s exits 137", t.ID, t.Slot, t.NodeID)
	c := *t
	c.Status = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStateFailed, Message: "started", Err: "task: non-zero exit (137)"}
	return s.apply("task crash", []store.Mutation{store.Update(&c, t.Meta.Version.Index)})
}

func (a *agent) present() bool { return a != nil && a.alive && a.reachable }

func (s *Sim) agentOf(nodeID string) *agent {
	for _, a := range s.agents {
		if a.nodeID == nodeID {
			return a
		}
	}
	return nil
}

func (s *Sim) pickPresent() *agent {
	var present []*agent
	for _, a := range s.agents {
		if a.back == 0 {
			present = append(present, a)
		}
	}
	if len(present) == 0 {
		return nil
	}
	return present[s.rng.IntN(len(present))]
}

// recover brings back the agents whose time away is over. A rebooted node's
// containers are gone: its agent reports them failed (shutdown when they
// were told to stop anyway).
func (s *Sim) recover() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	for _, a := range s.agents {
		if a.back == 0 || s.step < a.back {
			continue
		}
		a.alive, a.reachable, a.back = true, true, 0
		s.logf("%s back (reboot=%v)", a.nodeID, a.rebooted)
		if !a.rebooted {
			continue
		}
		a.rebooted = false
		var muts []store.Mutation
		for _, t := range st.tasks {
			if t.NodeID != a.nodeID || rank(t.Status.State) < rank(swarm.TaskStateAssigned) || rank(t.Status.State) > rank(swarm.TaskStateRunning) {
				continue
			}
			c := *t
			c.Status = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStateFailed, Message: "node rebooted", Err: "task: container gone after reboot"}
			if rank(t.DesiredState) > rank(swarm.TaskStateRunning) {
				c.Status.State, c.Status.Err = swarm.TaskStateShutdown, ""
			}
			s.logf("  %s %s -> %s", t.ID, t.Status.State, c.Status.State)
			muts = append(muts, store.Update(&c, t.Meta.Version.Index))
		}
		if err := s.apply("reboot", muts); err != nil {
			return err
		}
	}
	return nil
}

// heal ends the fault phase: every agent returns at the next step and every
// node is made active again.
func (s *Sim) heal() error {
	s.faults = false
	s.logf("faults stop; healing")
	for _, a := range s.agents {
		if a.back != 0 {
			a.back = s.step + 1
		}
	}
	st, err := s.read()
	if err != nil {
		return err
	}
	var muts []store.Mutation
	for _, n := range st.nodes {
		if n.Spec.Availability != swarm.NodeAvailabilityActive {
			c := *n
			c.Spec.Availability = swarm.NodeAvailabilityActive
			muts = append(muts, store.Update(&c, n.Meta.Version.Index))
		}
	}
	return s.apply("heal", muts)
}

// dispatch is the modelled dispatcher: present agents heartbeat; a node
// silent for HeartbeatTimeout is marked down, and one heard from again ready.
func (s *Sim) dispatch() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	var muts []store.Mutation
	for _, a := range s.agents {
		n := st.node(a.nodeID)
		c := *n
		switch {
		case a.present():
			a.lastBeat = s.now
			if n.Status.State == swarm.NodeStateReady {
				continue
			}
			c.Status.State, c.Status.Message = swarm.NodeStateReady, ""
		case s.now.Sub(a.lastBeat) > HeartbeatTimeout && n.Status.State == swarm.NodeStateReady:
			c.Status.State, c.Status.Message = swarm.NodeStateDown, "heartbeat failure"
		default:
			continue
		}
		s.logf("dispatcher: %s %s", n.ID, c.Status.State)
		muts = append(muts, store.Update(&c, n.Meta.Version.Index))
	}
	return s.apply("node status", muts)
}
