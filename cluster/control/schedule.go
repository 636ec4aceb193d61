package control

import (
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/scheduler"
	"github.com/swarmops/swarmops/cluster/store"
)

// Status messages the scheduler writes, as SwarmKit's scheduler and
// allocator word them.
const (
	AssignedMessage = "scheduler assigned task to node"
	PendingMessage  = "pending task scheduling"
)

// Schedule decides a node for every task waiting for one and returns the
// updates: assigned to a node, or pending with the reason no node fits
// (written only when the reason changes, so an unschedulable task does not
// cost a write per pass). Each update stands alone; they may be committed
// in any grouping.
//
// A task waits when it is new or pending, still meant to run (desired at
// most complete, so job tasks and delayed replacements are placed too) and
// its service exists. Tasks that come with a node — a global service's —
// are checked first, against that node alone, as SwarmKit's scheduler does
// for preassigned tasks; the others then go to the scheduler together,
// after the room the former took, oldest first, so that older tasks get
// the room when there is not enough for all.
func Schedule(snap *Snapshot, now time.Time) []store.Mutation {
	ix := snap.index()
	var pending []*swarm.Task
	preassigned := map[string][]*swarm.Task{} // by node
	for _, t := range snap.Tasks {
		if rank(t.Status.State) > rank(swarm.TaskStatePending) || rank(t.DesiredState) > rank(swarm.TaskStateComplete) ||
			ix.services[t.ServiceID] == nil {
			continue
		}
		if t.NodeID == "" {
			pending = append(pending, t)
		} else if ix.nodes[t.NodeID] != nil {
			preassigned[t.NodeID] = append(preassigned[t.NodeID], t)
		}
	}
	if len(pending) == 0 && len(preassigned) == 0 {
		return nil
	}
	byID := map[string]*swarm.Task{}
	for _, t := range pending {
		byID[t.ID] = t
	}
	var decisions []scheduler.Decision // of preassigned tasks
	var unschedulable []scheduler.Unschedulable
	if len(preassigned) > 0 {
		placed := map[string][]*swarm.Task{}
		for _, t := range snap.Tasks {
			if preassigned[t.NodeID] != nil {
				placed[t.NodeID] = append(placed[t.NodeID], t)
			}
		}
		for _, n := range snap.Nodes {
			ts := preassigned[n.ID]
			if len(ts) == 0 {
				continue
			}
			for _, t := range ts {
				byID[t.ID] = t
			}
			d, u := scheduler.Schedule([]*swarm.Node{n}, placed[n.ID], oldestFirst(ts), ix.services)
			decisions, unschedulable = append(decisions, d...), append(unschedulable, u...)
		}
	}
	assigned := make([]*swarm.Task, 0, len(decisions))
	for _, d := range decisions {
		assigned = append(assigned, assign(byID[d.TaskID], d, now))
	}
	if len(pending) > 0 {
		// The tasks just placed on their own nodes take their room first.
		placed := snap.Tasks
		if len(assigned) > 0 {
			placed = append(slices.Clip(snap.Tasks), assigned...)
		}
		d, u := scheduler.Schedule(snap.Nodes, placed, oldestFirst(pending), ix.services)
		unschedulable = append(unschedulable, u...)
		for _, d := range d {
			assigned = append(assigned, assign(byID[d.TaskID], d, now))
		}
	}

	muts := make([]store.Mutation, 0, len(assigned)+len(unschedulable))
	for _, c := range assigned {
		muts = append(muts, store.Update(c, byID[c.ID].Meta.Version.Index))
	}
	for _, u := range unschedulable {
		t := byID[u.TaskID]
		if t.Status.State == swarm.TaskStatePending && t.Status.Err == u.Reason {
			continue
		}
		c := *t
		c.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStatePending, Message: PendingMessage, Err: u.Reason}
		muts = append(muts, store.Update(&c, t.Meta.Version.Index))
	}
	return muts
}

// assign is t as the scheduler's decision d leaves it.
func assign(t *swarm.Task, d scheduler.Decision, now time.Time) *swarm.Task {
	c := *t
	c.NodeID = d.NodeID
	c.GenericResources = d.GenericResources
	c.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateAssigned, Message: AssignedMessage}
	return &c
}

func oldestFirst(tasks []*swarm.Task) []*swarm.Task {
	slices.SortStableFunc(tasks, func(a, b *swarm.Task) int {
		if c := taskTime(a).Compare(taskTime(b)); c != 0 {
			return c
		}
		return compareIDs(a, b)
	})
	return tasks
}
