package control

import (
	"cmp"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/scheduler"
)

// The status a task rejected by the enforcer gets: SwarmKit's words, so
// `docker service ps` reads as it does under Docker Swarm.
const (
	RejectedMessage = "task rejected by constraint enforcer"
	RejectedErr     = "assigned node no longer meets constraints"
)

// Enforce is SwarmKit's constraint enforcer: it returns copies, with status
// rejected, of the placed tasks whose node no longer admits them — the node
// stopped matching the service's placement constraints (a label removed, a
// role changed) or no longer has the resources the node's tasks reserve
// (the node's newest tasks go first). The orchestrator then treats them as
// ended: it shuts them down and, as their restart policy allows, replaces
// them elsewhere. The observed state is what changes, not the desired one,
// so that the restart policy decides, as in SwarmKit.
//
// Only active, reachable nodes are checked: a drained node's tasks are the
// orchestrator's to move, a paused node keeps its tasks whatever changed,
// and a down node's tasks are replaced anyway. Only tasks placed and not
// yet past running, and still meant to run, are checked; a task whose
// service is gone is the orchestrator's to remove. The service's current
// constraints are used rather than the task's copy, which a constraint-only
// service update leaves stale.
func Enforce(snap *Snapshot, now time.Time) []*swarm.Task {
	ix := snap.index()
	byNode := map[string][]*swarm.Task{}
	for _, t := range snap.Tasks {
		if t.NodeID == "" || ix.services[t.ServiceID] == nil ||
			!between(t.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) ||
			!between(t.DesiredState, swarm.TaskStateAssigned, swarm.TaskStateComplete) {
			continue
		}
		byNode[t.NodeID] = append(byNode[t.NodeID], t)
	}
	var rejected []*swarm.Task
	for _, n := range snap.Nodes {
		tasks := byNode[n.ID]
		if len(tasks) == 0 || n.Spec.Availability != swarm.NodeAvailabilityActive || n.Status.State == swarm.NodeStateDown {
			continue
		}
		for _, t := range misfits(n, tasks, ix.services) {
			c := *t
			c.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateRejected, Message: RejectedMessage, Err: RejectedErr}
			rejected = append(rejected, &c)
		}
	}
	return rejected
}

// misfits returns the tasks n no longer admits. Tasks claim the node's
// resources oldest first, so that on a node that shrank the newest tasks
// are the ones to leave.
func misfits(n *swarm.Node, tasks []*swarm.Task, services map[string]*swarm.Service) []*swarm.Task {
	tasks = slices.Clone(tasks)
	oldestFirst(tasks)
	left := newCapacity(n)
	matches := map[string]bool{} // by service
	var out []*swarm.Task
	for _, t := range tasks {
		ok, seen := matches[t.ServiceID]
		if !seen {
			ok = admits(n, services[t.ServiceID])
			matches[t.ServiceID] = ok
		}
		if !ok || !left.take(t) {
			out = append(out, t)
		}
	}
	return out
}

// admits reports whether n matches the service's placement constraints.
// Constraints that do not parse are the scheduler's to report; they reject
// nothing here.
func admits(n *swarm.Node, sv *swarm.Service) bool {
	p := sv.Spec.TaskTemplate.Placement
	if p == nil || len(p.Constraints) == 0 {
		return true
	}
	cs, err := scheduler.ParseConstraints(p.Constraints)
	if err != nil {
		return true
	}
	for _, c := range cs {
		if !c.Matches(n) {
			return false
		}
	}
	return true
}

// capacity is what a node has left for the tasks checked so far.
type capacity struct {
	cpu, mem int64
	discrete map[string]int64
	named    map[string]map[string]bool // kind -> value -> free
}

func newCapacity(n *swarm.Node) *capacity {
	r := n.Description.Resources
	c := &capacity{cpu: r.NanoCPUs, mem: r.MemoryBytes, discrete: map[string]int64{}, named: map[string]map[string]bool{}}
	for _, g := range r.GenericResources {
		switch {
		case g.DiscreteResourceSpec != nil:
			c.discrete[g.DiscreteResourceSpec.Kind] += g.DiscreteResourceSpec.Value
		case g.NamedResourceSpec != nil:
			k := g.NamedResourceSpec.Kind
			if c.named[k] == nil {
				c.named[k] = map[string]bool{}
			}
			c.named[k][g.NamedResourceSpec.Value] = true
		}
	}
	return c
}

// take claims t's reservations and assigned generic resources, and reports
// whether the node still had them. A task that does not fit claims
// nothing.
func (c *capacity) take(t *swarm.Task) bool {
	var cpu, mem int64
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		cpu, mem = r.Reservations.NanoCPUs, r.Reservations.MemoryBytes
	}
	if cpu > c.cpu || mem > c.mem {
		return false
	}
	need := map[string]int64{}
	for _, g := range t.GenericResources {
		switch {
		case g.DiscreteResourceSpec != nil:
			need[g.DiscreteResourceSpec.Kind] += g.DiscreteResourceSpec.Value
		case g.NamedResourceSpec != nil:
			if !c.named[g.NamedResourceSpec.Kind][g.NamedResourceSpec.Value] {
				return false
			}
		}
	}
	for kind, v := range need {
		if c.discrete[kind] < v {
			return false
		}
	}
	c.cpu -= cpu
	c.mem -= mem
	for kind, v := range need {
		c.discrete[kind] -= v
	}
	for _, g := range t.GenericResources {
		if g.NamedResourceSpec != nil {
			delete(c.named[g.NamedResourceSpec.Kind], g.NamedResourceSpec.Value)
		}
	}
	return true
}

// taskTime is when a task was created.
func taskTime(t *swarm.Task) time.Time {
	if !t.CreatedAt.IsZero() {
		return t.CreatedAt
	}
	return t.Status.Timestamp
}

func compareIDs(a, b *swarm.Task) int { return cmp.Compare(a.ID, b.ID) }
