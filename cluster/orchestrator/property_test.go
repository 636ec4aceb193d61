package orchestrator

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// world is the property test's cluster: a store reduced to a task map, an
// applier for plans, and agents and a scheduler reduced to a few lines.
type world struct {
	rng   *rand.Rand
	svc   *swarm.Service
	nodes []*swarm.Node
	tasks map[string]*swarm.Task
	now   time.Time
	ids   func() string
	// keptSlots are the slots that held a live task before the first
	// Reconcile: the only slots above N a converged service may still use,
	// since a task never changes slot and a running one is kept.
	keptSlots map[int]bool
}

func randomWorld(seed uint64) *world {
	rng := rand.New(rand.NewPCG(seed, 0))
	w := &world{rng: rng, tasks: map[string]*swarm.Task{}, now: t0, ids: counter("t"), keptSlots: map[int]bool{}}
	w.svc = replicatedSvc(uint64(rng.IntN(6)))
	pol := swarm.RestartPolicy{Delay: ptr(time.Duration(rng.IntN(3)) * time.Second)}
	switch rng.IntN(4) {
	case 0:
		pol.Condition = swarm.RestartPolicyConditionOnFailure
	case 1:
		pol.MaxAttempts = ptr(uint64(rng.IntN(3) + 1))
		pol.Window = ptr(time.Duration(rng.IntN(2)) * time.Minute)
	}
	w.svc.Spec.TaskTemplate.RestartPolicy = &pol
	for i := range rng.IntN(4) + 1 {
		n := ready(fmt.Sprintf("n%d", i))
		switch rng.IntN(5) {
		case 0:
			n.Status.State = swarm.NodeStateDown
		case 1:
			n.Spec.Availability = swarm.NodeAvailabilityDrain
		case 2:
			n.Spec.Availability = swarm.NodeAvailabilityPause
		}
		w.nodes = append(w.nodes, n)
	}
	states := []swarm.TaskState{stRunning, stRunning, stFailed, stComplete, stShutdown, swarm.TaskStatePending}
	liveSlot := map[int]bool{}
	// Even seeds start from an empty service, which must then only ever use
	// slots 1..N; odd ones from leftovers of an unknown past.
	for i := range rng.IntN(10) * int(seed%2) {
		id := fmt.Sprintf("old%d", i)
		slot := rng.IntN(8) + 1
		nodeID := "gone"
		if rng.IntN(4) > 0 {
			nodeID = w.nodes[rng.IntN(len(w.nodes))].ID
		}
		st := states[rng.IntN(len(states))]
		desired := stRunning
		if rng.IntN(3) == 0 || liveSlot[slot] {
			desired = stShutdown // one live task per slot, as Reconcile keeps it
		}
		liveSlot[slot] = liveSlot[slot] || desired == stRunning
		w.keptSlots[slot] = liveSlot[slot]
		if st == swarm.TaskStatePending {
			nodeID = ""
		}
		w.tasks[id] = task(w.svc, id, slot, nodeID, st, desired, -rng.IntN(100))
	}
	return w
}

func (w *world) input() Input {
	var tasks []*swarm.Task
	for _, t := range w.tasks {
		tasks = append(tasks, t)
	}
	// The store's order is not Reconcile's business: shuffle it.
	w.rng.Shuffle(len(tasks), func(i, j int) { tasks[i], tasks[j] = tasks[j], tasks[i] })
	in := Input{Service: w.svc, Tasks: tasks, Nodes: w.nodes, Now: w.now, NewID: w.ids}
	if len(tasks)%2 == 1 {
		// Half the time, the index a shell reconciling many services passes.
		in.NodesByID = map[string]*swarm.Node{}
		for _, n := range w.nodes {
			in.NodesByID[n.ID] = n
		}
	}
	return in
}

// apply commits a plan as the shell will, checking on the way that desired
// states only move forward and that IDs are fresh.
func (w *world) apply(t *testing.T, p Plan) {
	t.Helper()
	for _, c := range p.Create {
		if w.tasks[c.ID] != nil {
			t.Fatalf("created task %s already exists", c.ID)
		}
		if n := int(*w.svc.Spec.Mode.Replicated.Replicas); c.Slot < 1 || c.Slot > n && !w.keptSlots[c.Slot] {
			t.Fatalf("created task %s in slot %d, outside 1..%d", c.ID, c.Slot, n)
		}
		c := *c
		c.CreatedAt = w.now
		w.tasks[c.ID] = &c
	}
	for _, u := range p.Update {
		old := w.tasks[u.ID]
		if old == nil {
			t.Fatalf("update of unknown task %s", u.ID)
		}
		if stateRank(u.DesiredState) <= stateRank(old.DesiredState) {
			t.Fatalf("task %s: desired state moved from %s to %s", u.ID, old.DesiredState, u.DesiredState)
		}
		c := *u
		w.tasks[u.ID] = &c
	}
	for _, id := range p.Delete {
		if w.tasks[id] == nil {
			t.Fatalf("delete of unknown task %s", id)
		}
		delete(w.tasks, id)
	}
}

func (w *world) usable(nodeID string) bool {
	for _, n := range w.nodes {
		if n.ID == nodeID {
			return n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
		}
	}
	return false
}

func (w *world) reachable(nodeID string) bool {
	for _, n := range w.nodes {
		if n.ID == nodeID {
			return n.Status.State == swarm.NodeStateReady
		}
	}
	return false
}

// simulate is the scheduler and the agents: tasks desired running are placed
// on a usable node and start; tasks told to stop, stop (if their node can
// hear it). It reports whether anything changed.
func (w *world) simulate() bool {
	var usable []string
	for _, n := range w.nodes {
		if w.usable(n.ID) {
			usable = append(usable, n.ID)
		}
	}
	changed := false
	for _, id := range sortedIDs(w.tasks) {
		t := w.tasks[id]
		set := func(s swarm.TaskState) {
			if stateRank(s) > stateRank(t.Status.State) {
				t.Status.State, t.Status.Timestamp, changed = s, w.now, true
			}
		}
		switch {
		case stateRank(t.DesiredState) > stateRank(stRunning):
			if t.NodeID == "" || w.reachable(t.NodeID) {
				set(stShutdown)
			}
		case t.DesiredState == stRunning && t.NodeID == "" && len(usable) > 0:
			t.NodeID = usable[w.rng.IntN(len(usable))]
			set(swarm.TaskStateAssigned)
			changed = true
		case t.DesiredState == stRunning && w.reachable(t.NodeID):
			set(stRunning)
		}
	}
	return changed
}

func sortedIDs(m map[string]*swarm.Task) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// checkSafety holds after every applied plan.
func (w *world) checkSafety(t *testing.T, seed uint64, step int) {
	t.Helper()
	bySlot := map[int]string{}
	for _, id := range sortedIDs(w.tasks) {
		tk := w.tasks[id]
		if tk.DesiredState != stRunning {
			continue
		}
		if other, ok := bySlot[tk.Slot]; ok {
			t.Fatalf("seed %d step %d: slot %d has two tasks desired running: %s and %s", seed, step, tk.Slot, other, id)
		}
		bySlot[tk.Slot] = id
		if tk.NodeID != "" && !w.usable(tk.NodeID) {
			for _, n := range w.nodes {
				if n.ID == tk.NodeID && n.Spec.Availability == swarm.NodeAvailabilityPause && n.Status.State == swarm.NodeStateReady {
					goto ok // a paused node keeps its tasks
				}
			}
			t.Fatalf("seed %d step %d: task %s desired running on node %s, which is down, drained or gone", seed, step, id, tk.NodeID)
		ok:
		}
	}
}

// converge alternates Reconcile, apply and the simulation, jumping the clock
// to the plan's wake time when nothing else moves, until nothing changes.
func (w *world) converge(t *testing.T, seed uint64) {
	for step := range 200 {
		p := Reconcile(w.input())
		w.apply(t, p)
		w.checkSafety(t, seed, step)
		moved := w.simulate()
		switch {
		case !p.Empty() || moved:
			w.now = w.now.Add(time.Second)
		case !p.Wake.IsZero():
			w.now = p.Wake
		default:
			return
		}
	}
	t.Fatalf("seed %d: no convergence in 200 steps", seed)
}

func TestPropertyReplicatedConverges(t *testing.T) {
	for seed := range uint64(500) {
		w := randomWorld(seed)
		w.converge(t, seed)
		// A fault, then convergence again: a node goes down or is drained,
		// or a running task crashes.
		switch w.rng.IntN(4) {
		case 3:
			w.svc.Spec.Mode.Replicated.Replicas = ptr(uint64(w.rng.IntN(6)))
		case 0:
			w.nodes[w.rng.IntN(len(w.nodes))].Status.State = swarm.NodeStateDown
		case 1:
			w.nodes[w.rng.IntN(len(w.nodes))].Spec.Availability = swarm.NodeAvailabilityDrain
		default:
			for _, id := range sortedIDs(w.tasks) {
				if tk := w.tasks[id]; tk.Status.State == stRunning && w.reachable(tk.NodeID) {
					tk.Status.State, tk.Status.Timestamp = stFailed, w.now
					break
				}
			}
		}
		w.converge(t, seed)
		w.checkConverged(t, seed)
	}
}

// checkConverged: with a policy that always restarts, the service runs
// exactly its replicas, one per slot, in slots 1..N or slots it kept from the
// start, each one running if any node can run it.
func (w *world) checkConverged(t *testing.T, seed uint64) {
	t.Helper()
	p := w.svc.Spec.TaskTemplate.RestartPolicy
	if p.Condition != "" || p.MaxAttempts != nil {
		return // dead slots are then legitimate
	}
	want := int(*w.svc.Spec.Mode.Replicated.Replicas)
	canRun := false
	for _, n := range w.nodes {
		canRun = canRun || w.usable(n.ID)
	}
	slots := map[int]bool{}
	for _, id := range sortedIDs(w.tasks) {
		tk := w.tasks[id]
		if tk.DesiredState != stRunning {
			continue
		}
		slots[tk.Slot] = true
		if canRun && tk.Status.State != stRunning {
			t.Errorf("seed %d: converged but task %s (slot %d) is %s", seed, id, tk.Slot, tk.Status.State)
		}
	}
	for s := range slots {
		if s > want && !w.keptSlots[s] {
			t.Errorf("seed %d: slot %d is beyond %d and was not there at the start (have %v)", seed, s, want, slots)
		}
	}
	if len(slots) != want {
		t.Errorf("seed %d: %d slots desired running, want %d", seed, len(slots), want)
	}
}
