package sim

import (
	"fmt"
	"slices"

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

func (s *Sim) checkState(st state) error {
	nodes := map[string]*swarm.Node{}
	for _, n := range st.nodes {
		nodes[n.ID] = n
	}
	now := make(map[string]seen, len(st.tasks))
	desiredRunning := map[string]string{} // slot (or service and node) -> task
	for _, t := range st.tasks {
		if prev, ok := s.seen[t.ID]; ok {
			if rank(t.Status.State) < rank(prev.state) {
				return fmt.Errorf("task %s: state moved back from %s to %s", t.ID, prev.state, t.Status.State)
			}
			if rank(t.DesiredState) < rank(prev.desired) {
				return fmt.Errorf("task %s: desired state moved back from %s to %s", t.ID, prev.desired, t.DesiredState)
			}
		}
		now[t.ID] = seen{t.Status.State, t.DesiredState}

		if rank(t.DesiredState) > rank(swarm.TaskStateRunning) || t.NodeID == "" {
			continue
		}
		n := nodes[t.NodeID]
		if n == nil {
			return fmt.Errorf("task %s: desired %s on unknown node %s", t.ID, t.DesiredState, t.NodeID)
		}
		if err := placementHolds(t, n); err != nil {
			return err
		}
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if n.Status.State == swarm.NodeStateDown || n.Spec.Availability == swarm.NodeAvailabilityDrain {
			return fmt.Errorf("task %s: desired running on %s, which is %s/%s", t.ID, n.ID, n.Status.State, n.Spec.Availability)
		}
	}
	for _, t := range st.tasks {
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		key := fmt.Sprintf("%s slot %d", t.ServiceID, t.Slot)
		if t.Slot == 0 {
			key = fmt.Sprintf("%s node %s", t.ServiceID, t.NodeID)
			if t.NodeID == "" {
				return fmt.Errorf("task %s: desired running with neither slot nor node", t.ID)
			}
		}
		if other, ok := desiredRunning[key]; ok {
			return fmt.Errorf("%s: two tasks desired running: %s and %s", key, other, t.ID)
		}
		desiredRunning[key] = t.ID
	}
	s.seen = now
	return nil
}

// placementHolds checks the task's own placement constraints against the
// node it is on.
func placementHolds(t *swarm.Task, n *swarm.Node) error {
	p := t.Spec.Placement
	if p == nil {
		return nil
	}
	cs, err := scheduler.ParseConstraints(p.Constraints)
	if err != nil {
		return fmt.Errorf("task %s: placed despite bad constraints: %w", t.ID, err)
	}
	for _, c := range cs {
		if !c.Matches(n) {
			return fmt.Errorf("task %s: on %s, which breaks constraint %s==%v %s", t.ID, n.ID, c.Key, c.Equal, c.Value)
		}
	}
	return nil
}

// checkConverged checks, once the cluster is quiet after the faults, that
// every replicated service runs exactly one task in each of slots 1..N,
// every global service one task on each node it may run on, and nothing
// else is running or about to.
func (s *Sim) checkConverged() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	byService := map[string][]*swarm.Task{}
	for _, t := range st.tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	for id, tasks := range byService {
		if st.service(id) == nil {
			for _, t := range tasks {
				if err := notRunning(t); err != nil {
					return fmt.Errorf("removed service %s: %w", id, err)
				}
			}
		}
	}
	for _, sv := range st.services {
		var err error
		if sv.Spec.Mode.Global != nil {
			err = convergedGlobal(sv, byService[sv.ID], st.nodes)
		} else {
			err = convergedReplicated(sv, byService[sv.ID])
		}
		if err != nil {
			return fmt.Errorf("service %s (%s %s): %w", sv.Spec.Name, modeOf(sv), constraintsOf(sv), err)
		}
	}
	return nil
}

func up(t *swarm.Task) bool {
	return t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning
}

// notRunning checks that t has no container and never will.
func notRunning(t *swarm.Task) error {
	r := rank(t.Status.State)
	if r >= rank(swarm.TaskStateAssigned) && r <= rank(swarm.TaskStateRunning) || rank(t.DesiredState) <= rank(swarm.TaskStateRunning) {
		return fmt.Errorf("task %s (slot %d, node %q) is %s, desired %s", t.ID, t.Slot, t.NodeID, t.Status.State, t.DesiredState)
	}
	return nil
}

func convergedReplicated(sv *swarm.Service, tasks []*swarm.Task) error {
	want := int(*sv.Spec.Mode.Replicated.Replicas)
	var slots []int
	for _, t := range tasks {
		if up(t) {
			slots = append(slots, t.Slot)
		} else if err := notRunning(t); err != nil {
			return err
		}
	}
	slices.Sort(slots)
	for i, slot := range slots {
		if i >= want || slot != i+1 {
			return fmt.Errorf("running slots %v, want 1..%d", slots, want)
		}
	}
	if len(slots) != want {
		return fmt.Errorf("running slots %v, want 1..%d", slots, want)
	}
	return nil
}

func convergedGlobal(sv *swarm.Service, tasks []*swarm.Task, nodes []*swarm.Node) error {
	var cs []scheduler.Constraint
	if p := sv.Spec.TaskTemplate.Placement; p != nil {
		var err error
		if cs, err = scheduler.ParseConstraints(p.Constraints); err != nil {
			return fmt.Errorf("constraints: %w", err)
		}
	}
	running := map[string]int{}
	for _, t := range tasks {
		if up(t) {
			running[t.NodeID]++
		} else if err := notRunning(t); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		eligible := n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
		for _, c := range cs {
			eligible = eligible && c.Matches(n)
		}
		want := 0
		if eligible {
			want = 1
		}
		if running[n.ID] != want {
			return fmt.Errorf("%d tasks running on %s, want %d", running[n.ID], n.ID, want)
		}
	}
	return nil
}
