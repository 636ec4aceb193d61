package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// The properties check Schedule against a model written apart from it:
// replaying the decisions in order, each must pass every filter at the
// moment it was made, and a task left pending must fit no node at the end.

const propertySeeds = 300

func TestPropertyEveryDecisionPassesEveryFilter(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			nodes, services, placed, pending := randomCluster(rng)
			ds, us := Schedule(nodes, placed, pending, servicesOf(services...))
			checkOutcome(t, nodes, services, placed, pending, ds, us)
		})
	}
}

func randomCluster(rng *rand.Rand) ([]*swarm.Node, []*swarm.Service, []*swarm.Task, []*swarm.Task) {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var nodes []*swarm.Node
	for i := range 1 + rng.IntN(25) {
		n := node(fmt.Sprintf("n%02d", i), capacity(float64(1+rng.IntN(8)), int64(1+rng.IntN(16))*gib))
		if rng.IntN(10) == 0 {
			n.Status.State = swarm.NodeStateDown
		}
		n.Spec.Availability = swarm.NodeAvailability(pick("active", "active", "active", "pause", "drain"))
		n.Spec.Role = swarm.NodeRole(pick("worker", "worker", "manager"))
		if z := pick("a", "b", "c", ""); z != "" {
			n.Spec.Labels = map[string]string{"zone": z}
		}
		n.Description.Platform.Architecture = pick("x86_64", "arm64")
		switch rng.IntN(3) {
		case 0:
			n.Description.Resources.GenericResources = []swarm.GenericResource{discrete("GPU", int64(rng.IntN(4)))}
		case 1:
			for g := range rng.IntN(4) {
				n.Description.Resources.GenericResources = append(n.Description.Resources.GenericResources, named("GPU", fmt.Sprintf("g%d", g)))
			}
		}
		nodes = append(nodes, n)
	}
	var services []*swarm.Service
	var placed, pending []*swarm.Task
	for i := range 1 + rng.IntN(6) {
		var opts []svcOpt
		if rng.IntN(2) == 0 {
			opts = append(opts, constraints(pick("node.role==worker", "node.labels.zone!=a", "node.platform.arch==arm64", "node.labels.zone==b", "node.id!=n01")))
		}
		if rng.IntN(2) == 0 {
			opts = append(opts, spread("node.labels.zone"))
		}
		if rng.IntN(2) == 0 {
			opts = append(opts, reserve(float64(rng.IntN(3))/2, int64(rng.IntN(4))*gib, discrete("GPU", int64(rng.IntN(3)))))
		}
		if rng.IntN(4) == 0 {
			opts = append(opts, hostPort80)
		}
		if rng.IntN(3) == 0 {
			opts = append(opts, maxReplicas(uint64(1+rng.IntN(3))))
		}
		s := service(fmt.Sprintf("s%d", i), opts...)
		services = append(services, s)
		for range rng.IntN(4) {
			p := running(s, nodes[rng.IntN(len(nodes))].ID, 1)
			p[0].ID += fmt.Sprint(len(placed))
			if rng.IntN(4) == 0 {
				p[0].DesiredState = swarm.TaskStateShutdown
			}
			placed = append(placed, p[0])
		}
		pending = append(pending, tasks(s, rng.IntN(15))...)
	}
	rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	return nodes, services, placed, pending
}

// model is the checker's own account of a node.
type model struct {
	node      *swarm.Node
	cpu, mem  int64
	gpus      int64
	gpuNames  []string
	ports     map[uint32]bool
	byService map[string]int
}

func newModel(nodes []*swarm.Node, services map[string]*swarm.Service, placed []*swarm.Task) map[string]*model {
	ms := map[string]*model{}
	for _, n := range nodes {
		m := &model{node: n, cpu: n.Description.Resources.NanoCPUs, mem: n.Description.Resources.MemoryBytes, ports: map[uint32]bool{}, byService: map[string]int{}}
		for _, g := range n.Description.Resources.GenericResources {
			if g.DiscreteResourceSpec != nil {
				m.gpus += g.DiscreteResourceSpec.Value
			} else {
				m.gpuNames = append(m.gpuNames, g.NamedResourceSpec.Value)
			}
		}
		ms[n.ID] = m
	}
	for _, t := range placed {
		m := ms[t.NodeID]
		if m == nil || t.Status.State != swarm.TaskStateRunning {
			continue
		}
		m.take(t, services[t.ServiceID], nil)
		if t.DesiredState == swarm.TaskStateShutdown {
			m.byService[t.ServiceID]--
		}
	}
	return ms
}

func wantGPUs(t *swarm.Task) int64 {
	if t.Spec.Resources == nil || t.Spec.Resources.Reservations == nil {
		return 0
	}
	var n int64
	for _, g := range t.Spec.Resources.Reservations.GenericResources {
		n += g.DiscreteResourceSpec.Value
	}
	return n
}

// take accounts for t on m; assigned names the GPUs it was given, if any.
func (m *model) take(t *swarm.Task, s *swarm.Service, assigned []swarm.GenericResource) {
	r := reservations(t)
	m.cpu -= r.NanoCPUs
	m.mem -= r.MemoryBytes
	switch {
	case len(assigned) > 0 && assigned[0].NamedResourceSpec != nil:
		for _, g := range assigned {
			m.gpuNames = slices.DeleteFunc(m.gpuNames, func(v string) bool { return v == g.NamedResourceSpec.Value })
		}
	case m.gpus > 0 || len(m.gpuNames) == 0:
		m.gpus -= wantGPUs(t)
	default:
		m.gpuNames = m.gpuNames[min(int(wantGPUs(t)), len(m.gpuNames)):]
	}
	if s.Spec.EndpointSpec != nil {
		m.ports[80] = true
	}
	m.byService[t.ServiceID]++
}

// fits says, from scratch, whether t may go on m now.
func (m *model) fits(t *swarm.Task, s *swarm.Service) bool {
	n := m.node
	if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
		return false
	}
	r := reservations(t)
	if r.NanoCPUs > m.cpu || r.MemoryBytes > m.mem {
		return false
	}
	if g := wantGPUs(t); g > 0 && g > m.gpus && g > int64(len(m.gpuNames)) {
		return false
	}
	if p := t.Spec.Placement; p != nil {
		cs, err := ParseConstraints(p.Constraints)
		if err != nil {
			return false
		}
		for _, c := range cs {
			if !c.Matches(n) {
				return false
			}
		}
		if p.MaxReplicas > 0 && uint64(m.byService[t.ServiceID]) >= p.MaxReplicas {
			return false
		}
	}
	return s.Spec.EndpointSpec == nil || !m.ports[80]
}

func checkOutcome(t *testing.T, nodes []*swarm.Node, services []*swarm.Service, placed, pending []*swarm.Task, ds []Decision, us []Unschedulable) {
	t.Helper()
	svcs := servicesOf(services...)
	byID := map[string]*swarm.Task{}
	for _, p := range pending {
		byID[p.ID] = p
	}
	seen := map[string]bool{}
	ms := newModel(nodes, svcs, placed)
	for _, d := range ds {
		task, m := byID[d.TaskID], ms[d.NodeID]
		if task == nil || m == nil || seen[d.TaskID] {
			t.Fatalf("decision %+v: unknown or repeated task, or unknown node", d)
		}
		seen[d.TaskID] = true
		if !m.fits(task, svcs[task.ServiceID]) {
			t.Fatalf("decision %s -> %s breaks a filter (node %+v)", d.TaskID, d.NodeID, *m)
		}
		for _, g := range d.GenericResources {
			if g.NamedResourceSpec != nil && !slices.Contains(m.gpuNames, g.NamedResourceSpec.Value) {
				t.Fatalf("decision %s -> %s was given GPU %s, which is not free", d.TaskID, d.NodeID, g.NamedResourceSpec.Value)
			}
		}
		m.take(task, svcs[task.ServiceID], d.GenericResources)
	}
	for _, u := range us {
		task := byID[u.TaskID]
		if task == nil || seen[u.TaskID] {
			t.Fatalf("unschedulable %+v: unknown or repeated task", u)
		}
		seen[u.TaskID] = true
		for _, m := range ms {
			if m.fits(task, svcs[task.ServiceID]) {
				t.Fatalf("%s left pending (%s) but fits %s", u.TaskID, u.Reason, m.node.ID)
			}
		}
	}
	if len(seen) != len(pending) {
		t.Fatalf("%d tasks pending, %d answered", len(pending), len(seen))
	}
}

// With nothing but readiness in the way, a service's tasks end within one
// of each other on every eligible node, or on every label value when the
// service spreads over a label.
func TestPropertySpreadIsEven(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			var nodes []*swarm.Node
			for i := range 1 + rng.IntN(30) {
				n := node(fmt.Sprintf("n%02d", i), labels("zone", fmt.Sprint(rng.IntN(4))))
				if rng.IntN(5) == 0 {
					n.Spec.Availability = swarm.NodeAvailabilityDrain
				}
				nodes = append(nodes, n)
			}
			other := service("other")
			var placed []*swarm.Task
			for range rng.IntN(40) {
				placed = append(placed, running(other, nodes[rng.IntN(len(nodes))].ID, 1)...)
			}
			var opts []svcOpt
			byZone := rng.IntN(2) == 0
			if byZone {
				opts = append(opts, spread("node.labels.zone"))
			}
			web := service("web", opts...)
			ds, _ := Schedule(nodes, placed, tasks(web, rng.IntN(100)), servicesOf(web, other))

			counts := map[string]int{}
			for _, n := range nodes {
				if n.Spec.Availability != swarm.NodeAvailabilityActive {
					continue
				}
				key := n.ID
				if byZone {
					key = n.Spec.Labels["zone"]
				}
				counts[key] += 0
			}
			for _, d := range ds {
				n := nodes[slices.IndexFunc(nodes, func(n *swarm.Node) bool { return n.ID == d.NodeID })]
				key := n.ID
				if byZone {
					key = n.Spec.Labels["zone"]
				}
				counts[key]++
			}
			lo, hi := -1, 0
			for _, c := range counts {
				if lo < 0 || c < lo {
					lo = c
				}
				hi = max(hi, c)
			}
			if len(counts) > 0 && hi-lo > 1 {
				t.Fatalf("uneven spread (by zone %v): %v", byZone, counts)
			}
		})
	}
}
