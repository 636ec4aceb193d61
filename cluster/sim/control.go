package sim

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/scheduler"
	"github.com/swarmops/swarmops/cluster/store"
)

// orchestrate runs the real orchestrator over every service, and over the
// tasks of removed ones, from one snapshot, and applies the plans as one
// batch: the plans touch disjoint tasks, so one entry is as good as one per
// service.
func (s *Sim) orchestrate() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	byService := map[string][]*swarm.Task{}
	var order []string
	for _, sv := range st.services {
		order = append(order, sv.ID)
		byService[sv.ID] = nil
	}
	for _, t := range st.tasks {
		if _, ok := byService[t.ServiceID]; !ok {
			order = append(order, t.ServiceID)
		}
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	var muts []store.Mutation
	for _, id := range order {
		sv := st.service(id)
		p := orchestrator.Reconcile(orchestrator.Input{
			Service: sv,
			Tasks:   byService[id],
			Nodes:   st.nodes,
			Now:     s.now,
			NewID:   func() string { return s.newID("task") },
		})
		if !p.Wake.IsZero() && (s.wake.IsZero() || p.Wake.Before(s.wake)) {
			s.wake = p.Wake
		}
		if p.Empty() {
			continue
		}
		s.logf("orchestrator %s: %s", id, describePlan(p))
		for _, t := range p.Create {
			muts = append(muts, store.Create(t))
		}
		for _, t := range p.Update {
			muts = append(muts, store.Update(t, t.Meta.Version.Index))
		}
		for _, tid := range p.Delete {
			muts = append(muts, store.Delete(store.TableTasks, tid, 0))
		}
	}
	return s.apply("orchestrator", muts)
}

func describePlan(p orchestrator.Plan) string {
	var b strings.Builder
	for _, t := range p.Create {
		fmt.Fprintf(&b, " +%s(slot %d, node %q, desired %s)", t.ID, t.Slot, t.NodeID, t.DesiredState)
	}
	for _, t := range p.Update {
		fmt.Fprintf(&b, " %s desired->%s", t.ID, t.DesiredState)
	}
	for _, id := range p.Delete {
		fmt.Fprintf(&b, " -%s", id)
	}
	return b.String()
}

// schedule runs the real scheduler over the tasks waiting for a node, and
// checks each global task, which the orchestrator created on its node,
// against that node alone (as SwarmKit's scheduler does for tasks that come
// with a node).
func (s *Sim) schedule() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	services := map[string]*swarm.Service{}
	for _, sv := range st.services {
		services[sv.ID] = sv
	}
	byID := map[string]*swarm.Task{}
	var pending []*swarm.Task
	var decisions []scheduler.Decision
	var unsched []scheduler.Unschedulable
	for _, t := range st.tasks {
		if rank(t.Status.State) > rank(swarm.TaskStatePending) || rank(t.DesiredState) > rank(swarm.TaskStateRunning) || services[t.ServiceID] == nil {
			continue
		}
		byID[t.ID] = t
		if t.NodeID == "" {
			pending = append(pending, t)
			continue
		}
		n := st.node(t.NodeID)
		if n == nil {
			continue
		}
		d, u := scheduler.Schedule([]*swarm.Node{n}, st.tasks, []*swarm.Task{t}, services)
		decisions, unsched = append(decisions, d...), append(unsched, u...)
	}
	d, u := scheduler.Schedule(st.nodes, st.tasks, pending, services)
	decisions, unsched = append(decisions, d...), append(unsched, u...)

	var muts []store.Mutation
	for _, d := range decisions {
		t := byID[d.TaskID]
		c := *t
		c.NodeID = d.NodeID
		c.Status = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStateAssigned, Message: "scheduler assigned task to node"}
		s.logf("scheduler: %s (service %s slot %d) -> %s", t.ID, t.ServiceID, t.Slot, d.NodeID)
		muts = append(muts, store.Update(&c, t.Meta.Version.Index))
	}
	for _, u := range unsched {
		t := byID[u.TaskID]
		if t.Status.State == swarm.TaskStatePending && t.Status.Err == u.Reason {
			continue
		}
		c := *t
		c.Status = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStatePending, Message: "pending task scheduling", Err: u.Reason}
		s.logf("scheduler: %s pending: %s", t.ID, u.Reason)
		muts = append(muts, store.Update(&c, t.Meta.Version.Index))
	}
	return s.apply("scheduler", muts)
}
