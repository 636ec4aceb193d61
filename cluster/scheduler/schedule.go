package scheduler

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/docker/docker/api/types/swarm"
)

// ErrServiceNotFound is the Err of an Unschedulable whose service is not in
// the services given to Schedule: the service is gone, so its task must not
// be placed.
var ErrServiceNotFound = errors.New("service not found")

// Decision puts a pending task on a node.
type Decision struct {
	TaskID string
	NodeID string
	// GenericResources are the node's generic resources the task was
	// given, for the task's GenericResources field; nil when it asked
	// for none.
	GenericResources []swarm.GenericResource
}

// Unschedulable is a pending task that stays pending, with the reason for
// its status ("no suitable node (...)").
type Unschedulable struct {
	TaskID string
	Reason string
	// Err is set when the task itself is at fault rather than the nodes:
	// a *ConstraintError or ErrServiceNotFound. Retrying will not help
	// until its service changes.
	Err error
}

// Schedule decides a node for each pending task, or why none fits.
//
// placed may hold every task the store has: those without a node, not yet
// assigned, observed past running or on a node not in nodes are ignored;
// the rest hold their reservations and host ports, and count for spread
// while desired at most complete. services must hold the service of every
// pending task, and of placed tasks whose host-mode ports matter.
//
// Pending tasks are decided service by service, in the order each service
// (or each distinct spec of it, during an update) first appears in
// pending, and in pending's order within it. Decisions come back in the
// order they were made; each one is counted before the next is decided.
func Schedule(nodes []*swarm.Node, placed, pending []*swarm.Task, services map[string]*swarm.Service) ([]Decision, []Unschedulable) {
	infos := make([]*nodeInfo, 0, len(nodes))
	byID := make(map[string]*nodeInfo, len(nodes))
	for _, n := range nodes {
		ni := newNodeInfo(n)
		infos = append(infos, ni)
		byID[n.ID] = ni
	}
	slices.SortFunc(infos, func(a, b *nodeInfo) int { return cmp.Compare(a.node.ID, b.node.ID) })
	for _, t := range placed {
		if ni := byID[t.NodeID]; ni != nil {
			ni.addPlaced(t, services[t.ServiceID])
		}
	}

	var decisions []Decision
	var unschedulable []Unschedulable
	for _, g := range groupTasks(pending) {
		svc := services[g[0].ServiceID]
		if svc == nil {
			err := fmt.Errorf("task %s: %w: %s", g[0].ID, ErrServiceNotFound, g[0].ServiceID)
			unschedulable = appendFailed(unschedulable, g, err.Error(), err)
			continue
		}
		req, err := newRequest(g[0], svc)
		if err != nil {
			err = fmt.Errorf("service %s: %w", svc.Spec.Name, err)
			unschedulable = appendFailed(unschedulable, g, err.Error(), err)
			continue
		}
		tree := buildTree(infos, req)
		for i, t := range g {
			ni, path := tree.best(req)
			if ni == nil {
				unschedulable = appendFailed(unschedulable, g[i:], explain(infos, req), nil)
				break
			}
			assigned := ni.place(t, req)
			tree.placed(path)
			decisions = append(decisions, Decision{TaskID: t.ID, NodeID: ni.node.ID, GenericResources: assigned})
		}
	}
	return decisions, unschedulable
}

func appendFailed(out []Unschedulable, tasks []*swarm.Task, reason string, err error) []Unschedulable {
	for _, t := range tasks {
		out = append(out, Unschedulable{TaskID: t.ID, Reason: reason, Err: err})
	}
	return out
}

// groupTasks splits pending into runs that ask the same of a node: the same
// service and the same placement and resources. A group is decided against
// one tree, so a node a group's task could not use is dropped for the rest
// of the group.
func groupTasks(pending []*swarm.Task) [][]*swarm.Task {
	var groups [][]*swarm.Task
	byService := map[string][]int{} // service ID -> indexes into groups
	for _, t := range pending {
		found := false
		for _, gi := range byService[t.ServiceID] {
			if sameDemand(groups[gi][0], t) {
				groups[gi] = append(groups[gi], t)
				found = true
				break
			}
		}
		if !found {
			byService[t.ServiceID] = append(byService[t.ServiceID], len(groups))
			groups = append(groups, []*swarm.Task{t})
		}
	}
	return groups
}

func sameDemand(a, b *swarm.Task) bool {
	return reflect.DeepEqual(a.Spec.Placement, b.Spec.Placement) &&
		reflect.DeepEqual(reservations(a), reservations(b))
}

// explain counts, over every node, the first filter that refuses the task.
func explain(infos []*nodeInfo, req *request) string {
	var failures [numFilters]int
	for _, ni := range infos {
		if f := req.check(ni); f != pass {
			failures[f]++
		}
	}
	return explanation(failures)
}

// branch is a node of SwarmKit's decision tree: one value of a spread
// preference, or, at the leaves, the candidate nodes under every value on
// the way down.
type branch struct {
	value    string
	tasks    int // tasks of the service on all nodes below, candidates or not
	live     int // candidate nodes below still in play
	children []*branch
	byValue  map[string]*branch // only while building
	nodes    nodeHeap           // at leaves
}

func buildTree(infos []*nodeInfo, req *request) *branch {
	root := &branch{}
	if len(req.spreadOver) == 0 {
		// One leaf takes every candidate: size it once.
		root.nodes.entries = make([]candidate, 0, len(infos))
	}
	for _, ni := range infos {
		fits := req.check(ni) == pass
		own := ni.byService[req.serviceID]
		b := root
		for _, d := range req.spreadOver {
			b.tasks += own
			if fits {
				b.live++
			}
			v := labelValue(ni.node, d)
			child := b.byValue[v]
			if child == nil {
				if b.byValue == nil {
					b.byValue = map[string]*branch{}
				}
				child = &branch{value: v}
				b.byValue[v] = child
				b.children = append(b.children, child)
			}
			b = child
		}
		b.tasks += own
		if fits {
			b.live++
			b.nodes.entries = append(b.nodes.entries, candidate{ni, own})
		}
	}
	root.finish()
	return root
}

func (b *branch) finish() {
	b.byValue = nil
	if b.children == nil {
		heap.Init(&b.nodes)
		return
	}
	// Value order breaks ties between equally loaded branches, so the
	// outcome does not hang on map order.
	slices.SortFunc(b.children, func(x, y *branch) int { return cmp.Compare(x.value, y.value) })
	for _, c := range b.children {
		c.finish()
	}
}

// best walks down to the branch with the fewest tasks of the service at
// every level and returns its best node that still fits, with the path
// taken. Nodes found full on the way are dropped for good: within a group,
// placements only take from nodes.
func (root *branch) best(req *request) (*nodeInfo, []*branch) {
	path := make([]*branch, 0, len(req.spreadOver)+1)
	for root.live > 0 {
		path = append(path[:0], root)
		b := root
		for b.children != nil {
			var next *branch
			for _, c := range b.children {
				if c.live > 0 && (next == nil || c.tasks < next.tasks) {
					next = c
				}
			}
			b = next
			path = append(path, b)
		}
		ni := b.nodes.entries[0].ni
		if req.checkDynamic(ni) == pass {
			return ni, path
		}
		heap.Pop(&b.nodes)
		for _, p := range path {
			p.live--
		}
	}
	return nil, nil
}

// placed records a task put on the best node of the leaf ending path.
func (root *branch) placed(path []*branch) {
	for _, b := range path {
		b.tasks++
	}
	leaf := &path[len(path)-1].nodes
	leaf.entries[0].ofService++
	heap.Fix(leaf, 0)
}

// candidate is a node in a leaf's heap, with its count of the group's
// service kept beside it: the heap compares it far more often than it
// changes, and a map lookup per comparison was most of the time spent.
type candidate struct {
	ni        *nodeInfo
	ofService int
}

// nodeHeap orders candidates by fewest tasks of the service, then fewest
// tasks, then node ID.
type nodeHeap struct{ entries []candidate }

func (h *nodeHeap) Len() int { return len(h.entries) }
func (h *nodeHeap) Less(i, j int) bool {
	a, b := &h.entries[i], &h.entries[j]
	if a.ofService != b.ofService {
		return a.ofService < b.ofService
	}
	if a.ni.tasks != b.ni.tasks {
		return a.ni.tasks < b.ni.tasks
	}
	return a.ni.node.ID < b.ni.node.ID
}
func (h *nodeHeap) Swap(i, j int) { h.entries[i], h.entries[j] = h.entries[j], h.entries[i] }
func (h *nodeHeap) Push(x any)    { h.entries = append(h.entries, x.(candidate)) }
func (h *nodeHeap) Pop() any {
	last := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	return last
}
