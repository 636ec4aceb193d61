package sim

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/scheduler"
)

// checkInvariants checks what must hold after every step, faults or not.
func (s *Sim) checkInvariants() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	return s.checkState(st)
}

// view is a state with its lookups.
type view struct {
	state
	nodes    map[string]*swarm.Node
	services map[string]*swarm.Service
}

func newView(st state) view {
	v := view{state: st, nodes: map[string]*swarm.Node{}, services: map[string]*swarm.Service{}}
	for _, n := range st.nodes {
		v.nodes[n.ID] = n
	}
	for _, sv := range st.services {
		v.services[sv.ID] = sv
	}
	return v
}

func (s *Sim) checkState(st state) error {
	v := newView(st)
	now := make(map[string]seen, len(st.tasks))
	fresh := map[string]bool{}
	for _, t := range st.tasks {
		prev, ok := s.seen[t.ID]
		if ok {
			if rank(t.Status.State) < rank(prev.state) {
				return fmt.Errorf("task %s: state moved back from %s to %s", t.ID, prev.state, t.Status.State)
			}
			if rank(t.DesiredState) < rank(prev.desired) {
				return fmt.Errorf("task %s: desired state moved back from %s to %s", t.ID, prev.desired, t.DesiredState)
			}
		} else {
			fresh[t.ID] = true
		}
		now[t.ID] = seen{t.Status.State, t.DesiredState}
		if rank(prev.state) < rank(swarm.TaskStateAssigned) && rank(t.Status.State) >= rank(swarm.TaskStateAssigned) {
			if err := placedWell(t, v.nodes[t.NodeID]); err != nil {
				return err
			}
		}
		if err := v.checkLive(t); err != nil {
			return err
		}
	}
	global := map[string]bool{}
	for _, sv := range st.services {
		global[sv.ID] = isGlobal(sv)
	}
	if err := s.hist.observe(st, fresh, global); err != nil {
		return err
	}
	for _, check := range []func() error{
		func() error { return v.checkSlots(s.roll.overlap) }, v.checkNodes,
		func() error { return s.checkJobs(v) }, func() error { return s.checkRollouts(v, fresh) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	s.seen = now
	return nil
}

// placedWell checks a task the scheduler just assigned: to a node that is
// ready and active and matches the task's constraints.
func placedWell(t *swarm.Task, n *swarm.Node) error {
	if n == nil {
		return fmt.Errorf("task %s: assigned to unknown node %q", t.ID, t.NodeID)
	}
	if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
		return fmt.Errorf("task %s: placed on %s, which is %s/%s", t.ID, n.ID, n.Status.State, n.Spec.Availability)
	}
	return holds(t, t.Spec.Placement, n, "its own")
}

// checkLive checks a task still meant to run (desired at most complete)
// that has a node and has not stopped: the node exists, is not down or
// drained (the orchestrator moves such tasks), and — unless it is paused,
// which keeps its tasks whatever changed — matches its service's current
// constraints (the enforcer's job; the task's own copy may predate a
// constraint-only service update, which moves nothing by itself).
func (v view) checkLive(t *swarm.Task) error {
	if t.NodeID == "" || rank(t.DesiredState) > rank(swarm.TaskStateComplete) || rank(t.Status.State) > rank(swarm.TaskStateRunning) {
		return nil
	}
	n := v.nodes[t.NodeID]
	if n == nil {
		return fmt.Errorf("task %s: desired %s on unknown node %s", t.ID, t.DesiredState, t.NodeID)
	}
	if n.Status.State == swarm.NodeStateDown || n.Spec.Availability == swarm.NodeAvailabilityDrain {
		return fmt.Errorf("task %s: desired %s on %s, which is %s/%s", t.ID, t.DesiredState, n.ID, n.Status.State, n.Spec.Availability)
	}
	if n.Spec.Availability == swarm.NodeAvailabilityPause {
		return nil
	}
	if sv := v.services[t.ServiceID]; sv != nil {
		return holds(t, sv.Spec.TaskTemplate.Placement, n, "its service's")
	}
	return nil
}

func holds(t *swarm.Task, p *swarm.Placement, n *swarm.Node, whose string) error {
	if p == nil {
		return nil
	}
	cs, err := scheduler.ParseConstraints(p.Constraints)
	if err != nil {
		return fmt.Errorf("task %s: placed despite bad constraints: %w", t.ID, err)
	}
	for _, c := range cs {
		if !c.Matches(n) {
			return fmt.Errorf("task %s: on %s, which breaks %s constraint %s (%s)", t.ID, n.ID, whose, p.Constraints, c.Key)
		}
	}
	return nil
}

// checkSlots checks that no slot (node, for global services; per job
// iteration) has two tasks meant to run, outside a start-first overlap:
// a replacement started beside the task it replaces (overlap maps the one
// to the other, as recorded when the store created it).
func (v view) checkSlots(overlap map[string]string) error {
	live := map[string]string{}
	pairs := map[string]bool{} // slots holding a start-first overlap
	for _, t := range v.tasks {
		sv := v.services[t.ServiceID]
		if sv == nil || rank(t.DesiredState) > rank(swarm.TaskStateComplete) {
			continue
		}
		key := fmt.Sprintf("%s slot %d", t.ServiceID, t.Slot)
		if isGlobal(sv) {
			if t.NodeID == "" {
				return fmt.Errorf("task %s of global service %s: desired %s without a node", t.ID, sv.Spec.Name, t.DesiredState)
			}
			key = fmt.Sprintf("%s node %s", t.ServiceID, t.NodeID)
		} else if t.Slot < 1 && sv.Spec.Mode.ReplicatedJob == nil {
			return fmt.Errorf("task %s of %s: desired %s in slot %d", t.ID, sv.Spec.Name, t.DesiredState, t.Slot)
		}
		if t.JobIteration != nil {
			key += fmt.Sprintf(" iteration %d", t.JobIteration.Index)
		}
		if other, ok := live[key]; ok {
			if pairs[key] || overlap[t.ID] != other && overlap[other] != t.ID {
				return fmt.Errorf("%s: two tasks meant to run, not a start-first replacement and the task it replaces: %s and %s", key, other, t.ID)
			}
			pairs[key] = true
			continue
		}
		live[key] = t.ID
	}
	return nil
}

// checkNodes checks every node's placed tasks (assigned to running):
// their reservations fit the node (on active nodes, for the tasks still
// meant to run: those the enforcer answers for), no two publish the same
// host port, and no service has more than its max replicas per node.
func (v view) checkNodes() error {
	type load struct {
		cpu, mem  int64
		ports     map[uint32]string
		byService map[string]int
	}
	loads := map[string]*load{}
	for _, t := range v.tasks {
		n := v.nodes[t.NodeID]
		if n == nil || !between(t.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) {
			continue
		}
		l := loads[n.ID]
		if l == nil {
			l = &load{ports: map[uint32]string{}, byService: map[string]int{}}
			loads[n.ID] = l
		}
		sv := v.services[t.ServiceID]
		if sv == nil {
			continue
		}
		for _, p := range hostPorts(sv) {
			if other, ok := l.ports[p]; ok {
				return fmt.Errorf("node %s: tasks %s and %s both publish host port %d", n.ID, other, t.ID, p)
			}
			l.ports[p] = t.ID
		}
		if rank(t.DesiredState) > rank(swarm.TaskStateComplete) {
			continue
		}
		l.byService[sv.ID]++
		if m := maxReplicas(sv); m > 0 && uint64(l.byService[sv.ID]) > m {
			return fmt.Errorf("node %s: %d tasks of %s, max replicas per node is %d", n.ID, l.byService[sv.ID], sv.Spec.Name, m)
		}
		if n.Spec.Availability != swarm.NodeAvailabilityActive || n.Status.State == swarm.NodeStateDown {
			continue
		}
		cpu, mem := reservation(t)
		l.cpu += cpu
		l.mem += mem
		if r := n.Description.Resources; l.cpu > r.NanoCPUs || l.mem > r.MemoryBytes {
			return fmt.Errorf("node %s: tasks reserve %d CPUs and %dG, it has %d and %dG", n.ID, l.cpu/1e9, l.mem>>30, r.NanoCPUs/1e9, r.MemoryBytes>>30)
		}
	}
	return nil
}

// checkJobs checks that no job run completes more tasks than it asks for,
// nor runs more at once than max_concurrent.
func (s *Sim) checkJobs(v view) error {
	for _, sv := range v.services {
		rj := sv.Spec.Mode.ReplicatedJob
		if rj == nil {
			continue
		}
		it := iteration(sv)
		if done := len(s.hist.completed[sv.ID][it]); uint64(done) > *rj.TotalCompletions {
			return fmt.Errorf("job %s iteration %d: %d tasks completed, total_completions is %d", sv.Spec.Name, it, done, *rj.TotalCompletions)
		}
		running := map[int]bool{}
		for _, t := range v.tasks {
			if t.ServiceID == sv.ID && t.JobIteration != nil && t.JobIteration.Index == it &&
				between(t.DesiredState, swarm.TaskStateReady, swarm.TaskStateComplete) && rank(t.Status.State) <= rank(swarm.TaskStateRunning) {
				running[t.Slot] = true
			}
		}
		if uint64(len(running)) > *rj.MaxConcurrent {
			return fmt.Errorf("job %s iteration %d: %d slots running, max_concurrent is %d", sv.Spec.Name, it, len(running), *rj.MaxConcurrent)
		}
	}
	return nil
}

func reservation(t *swarm.Task) (cpu, mem int64) {
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		return r.Reservations.NanoCPUs, r.Reservations.MemoryBytes
	}
	return 0, 0
}

func hostPorts(sv *swarm.Service) []uint32 {
	var out []uint32
	if e := sv.Spec.EndpointSpec; e != nil {
		for _, p := range e.Ports {
			if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
				out = append(out, p.PublishedPort)
			}
		}
	}
	return out
}

func maxReplicas(sv *swarm.Service) uint64 {
	if p := sv.Spec.TaskTemplate.Placement; p != nil {
		return p.MaxReplicas
	}
	return 0
}
