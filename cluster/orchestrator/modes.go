package orchestrator

import (
	"sort"

	"github.com/docker/docker/api/types/swarm"
)

// replicated keeps slots 1..N: a slot's live task stays; one that ended or
// lost its node is handled by the restart policy; scaling down removes the
// highest slots, scaling up fills the lowest free ones.
func (r *run) replicated() {
	want := 1
	if m := r.in.Service.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
		want = int(*m.Replicas)
	}
	for _, t := range r.snapshot() {
		if !r.live(t) {
			continue
		}
		if t.Slot < 1 || t.JobIteration != nil {
			// Left over from another mode: it has no place here.
			r.setDesired(t, swarm.TaskStateRemove)
			continue
		}
		if r.nodeLost(t.NodeID) || ended(t, false) {
			r.restart(t)
		}
	}
	occupied, free := r.slots(func(t *swarm.Task) bool { return t.Slot >= 1 && t.JobIteration == nil })
	if len(occupied) > want {
		for _, slot := range occupied[:len(occupied)-want] {
			r.removeSlot(slot)
		}
	}
	reused := r.fillSlots(1, want-len(occupied), occupied)
	for _, slot := range free {
		if !reused[slot] {
			r.removeSlot(slot)
		}
	}
}

// replicatedJob runs the current iteration to TotalCompletions, at most
// MaxConcurrent tasks at a time, in slots numbered from 0 as SwarmKit does.
// Tasks of earlier iterations that still run are removed.
func (r *run) replicatedJob() {
	rj := r.in.Service.Spec.Mode.ReplicatedJob
	maxConcurrent := uint64(1)
	if rj.MaxConcurrent != nil {
		maxConcurrent = *rj.MaxConcurrent
	}
	total := maxConcurrent
	if rj.TotalCompletions != nil {
		total = *rj.TotalCompletions
	}
	current := r.currentIteration()
	for _, t := range r.snapshot() {
		if !r.live(t) {
			continue
		}
		if !current(t) {
			if stateRank(t.Status.State) <= stateRank(swarm.TaskStateRunning) {
				r.setDesired(t, swarm.TaskStateRemove)
			}
			continue
		}
		if r.nodeLost(t.NodeID) && t.Status.State != swarm.TaskStateComplete || ended(t, true) {
			r.restart(t)
		}
	}
	occupied, _ := r.slots(current)
	var running, done uint64
	for _, slot := range occupied {
		if r.slotComplete(slot, current) {
			done++
		} else {
			running++
		}
	}
	// A slot whose last task failed for good counts as done: re-running it
	// would override the restart policy that gave up on it.
	if running >= maxConcurrent || done+running >= total {
		return
	}
	r.fillSlots(0, int(min(maxConcurrent-running, total-done-running)), occupied)
}

// slotComplete reports whether the slot's newest task of the iteration is not
// going to run again: it completed or failed beyond restarting.
func (r *run) slotComplete(slot int, current func(*swarm.Task) bool) bool {
	var newest *swarm.Task
	for _, t := range r.tasks {
		if t.Slot == slot && current(t) && !r.deleted[t.ID] && t.DesiredState != swarm.TaskStateRemove {
			newest = t
		}
	}
	return newest == nil || newest.Status.State == swarm.TaskStateComplete || !r.live(newest)
}

// global runs one task per eligible node. Tasks on nodes that are gone,
// down, drained or no longer match the constraints are shut down; a paused
// node keeps its task but gets no new one. Two live tasks on one node (or, in
// replicated(), one slot) are left alone: a start-first rollout makes them,
// and the rollout engine retires the old one.
func (r *run) global(job bool) {
	current := func(*swarm.Task) bool { return true }
	if job {
		current = r.currentIteration()
	}
	allowed := nodeFilter(r.in.Service)
	keeps := func(nodeID string) bool {
		n, ok := r.nodes[nodeID]
		return ok && n.Status.State == swarm.NodeStateReady &&
			n.Spec.Availability != swarm.NodeAvailabilityDrain && allowed(n)
	}
	for _, t := range r.snapshot() {
		if !r.live(t) {
			continue
		}
		switch {
		case t.NodeID == "":
			r.setDesired(t, swarm.TaskStateRemove)
		case !current(t):
			if stateRank(t.Status.State) <= stateRank(swarm.TaskStateRunning) {
				r.setDesired(t, swarm.TaskStateRemove)
			}
		case !keeps(t.NodeID):
			if job && t.Status.State == swarm.TaskStateComplete {
				continue // the node did its part of this iteration
			}
			r.setDesired(t, swarm.TaskStateShutdown)
		case ended(t, job):
			r.restart(t)
		}
	}
	for _, n := range r.in.Nodes {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive ||
			!allowed(n) || r.nodeOccupied(n.ID, current) {
			continue
		}
		r.newTask(0, n.ID)
	}
}

// nodeOccupied reports whether the node already has this service's task: a
// live one, or a dead one the restart policy gave up on.
func (r *run) nodeOccupied(nodeID string, current func(*swarm.Task) bool) bool {
	var newest *swarm.Task
	for _, t := range r.tasks {
		if t.NodeID != nodeID || !current(t) || r.deleted[t.ID] || t.DesiredState == swarm.TaskStateRemove {
			continue
		}
		if r.live(t) {
			return true
		}
		newest = t
	}
	return newest != nil && !r.shouldRestart(newest)
}

// slots sorts the slots of the tasks that belong into occupied ones (a live
// task, or a newest task the restart policy gave up on), highest first, and
// free ones that still hold tasks. Tasks already told to go are ignored.
func (r *run) slots(belongs func(*swarm.Task) bool) (occupied, free []int) {
	live := map[int]bool{}
	newest := map[int]*swarm.Task{}
	for _, t := range r.tasks {
		if !belongs(t) || r.deleted[t.ID] || t.DesiredState == swarm.TaskStateRemove {
			continue
		}
		newest[t.Slot] = t
		if r.live(t) {
			live[t.Slot] = true
		}
	}
	for slot, t := range newest {
		if live[slot] || !r.shouldRestart(t) {
			occupied = append(occupied, slot)
		} else {
			free = append(free, slot)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(occupied)))
	sort.Ints(free)
	return occupied, free
}

// removeSlot tells every task of the slot to go, as SwarmKit does on scale
// down; the history goes with them once they stop. A replacement this run
// made for the slot is dropped from the plan.
func (r *run) removeSlot(slot int) {
	kept := r.tasks[:0]
	for _, t := range r.tasks {
		if t.Slot == slot && r.created[t.ID] {
			delete(r.created, t.ID)
			delete(r.byID, t.ID)
			continue
		}
		if t.Slot == slot && !r.deleted[t.ID] {
			r.setDesired(t, swarm.TaskStateRemove)
		}
		kept = append(kept, t)
	}
	r.tasks = kept
}

// fillSlots creates n tasks in the lowest slot numbers from first that are
// not occupied, and returns the slots it used: a free slot reused keeps its
// history, as in SwarmKit.
func (r *run) fillSlots(first, n int, occupied []int) map[int]bool {
	taken := map[int]bool{}
	for _, s := range occupied {
		taken[s] = true
	}
	used := map[int]bool{}
	for slot := first; n > 0; slot++ {
		if !taken[slot] {
			r.newTask(slot, "")
			used[slot] = true
			n--
		}
	}
	return used
}

func (r *run) currentIteration() func(*swarm.Task) bool {
	var it swarm.Version
	if js := r.in.Service.JobStatus; js != nil {
		it = js.JobIteration
	}
	return func(t *swarm.Task) bool { return t.JobIteration != nil && t.JobIteration.Index == it.Index }
}

// snapshot copies the task list so handlers may append replacements while
// walking the tasks that existed before.
func (r *run) snapshot() []*swarm.Task {
	return append([]*swarm.Task(nil), r.tasks...)
}
