package scheduler

import (
	"slices"

	"github.com/docker/docker/api/types/swarm"
)

// nodeInfo is a node as the scheduler sees it during one Schedule call:
// what it has left after the tasks placed on it, and how many tasks it runs.
type nodeInfo struct {
	node      *swarm.Node
	cpu, mem  int64               // nano CPUs and bytes not yet reserved
	discrete  map[string]int64    // generic resources counted by kind
	named     map[string][]string // generic resources named by kind, sorted
	ports     map[hostPort]struct{}
	tasks     int            // tasks that count for spread
	byService map[string]int // the same, per service
}

type hostPort struct {
	protocol swarm.PortConfigProtocol
	port     uint32
}

func newNodeInfo(n *swarm.Node) *nodeInfo {
	r := n.Description.Resources
	ni := &nodeInfo{node: n, cpu: r.NanoCPUs, mem: r.MemoryBytes, byService: map[string]int{}, ports: map[hostPort]struct{}{}}
	for _, g := range r.GenericResources {
		switch {
		case g.DiscreteResourceSpec != nil:
			if ni.discrete == nil {
				ni.discrete = map[string]int64{}
			}
			ni.discrete[g.DiscreteResourceSpec.Kind] += g.DiscreteResourceSpec.Value
		case g.NamedResourceSpec != nil:
			if ni.named == nil {
				ni.named = map[string][]string{}
			}
			k := g.NamedResourceSpec.Kind
			ni.named[k] = append(ni.named[k], g.NamedResourceSpec.Value)
		}
	}
	for _, values := range ni.named {
		slices.Sort(values)
	}
	return ni
}

// taskStateRank orders Docker's task states as SwarmKit's enum does, so
// "at most running" can be asked of the strings Docker's types carry.
var taskStateRank = map[swarm.TaskState]int{
	swarm.TaskStateNew: 0, swarm.TaskStateAllocated: 1, swarm.TaskStatePending: 2,
	swarm.TaskStateAssigned: 3, swarm.TaskStateAccepted: 4, swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady: 6, swarm.TaskStateStarting: 7, swarm.TaskStateRunning: 8,
	swarm.TaskStateComplete: 9, swarm.TaskStateShutdown: 10, swarm.TaskStateFailed: 11,
	swarm.TaskStateRejected: 12, swarm.TaskStateRemove: 13, swarm.TaskStateOrphaned: 14,
}

func atMost(s, limit swarm.TaskState) bool {
	r, ok := taskStateRank[s]
	return ok && r <= taskStateRank[limit]
}

// addPlaced accounts for a task already on the node. Like SwarmKit, a task
// holds its reservations and ports from when it is assigned until it is
// observed past running, but counts for spread only while it is meant to
// run (desired at most complete): a task being shut down is leaving. A task
// that names the node but is not assigned yet (a global service's, waiting
// to be checked against it) holds nothing: it is pending, not placed.
func (ni *nodeInfo) addPlaced(t *swarm.Task, svc *swarm.Service) {
	if !atMost(t.Status.State, swarm.TaskStateRunning) || atMost(t.Status.State, swarm.TaskStatePending) {
		return
	}
	r := reservations(t)
	ni.cpu -= r.NanoCPUs
	ni.mem -= r.MemoryBytes
	if len(t.GenericResources) > 0 {
		ni.consume(t.GenericResources)
	} else {
		ni.consume(ni.claim(r.GenericResources))
	}
	for _, p := range hostPorts(svc) {
		ni.ports[p] = struct{}{}
	}
	if atMost(t.DesiredState, swarm.TaskStateComplete) {
		ni.tasks++
		ni.byService[t.ServiceID]++
	}
}

// place accounts for a task this call puts on the node and returns the
// generic resources it was given.
func (ni *nodeInfo) place(t *swarm.Task, req *request) []swarm.GenericResource {
	ni.cpu -= req.cpu
	ni.mem -= req.mem
	assigned := ni.claim(req.generic)
	ni.consume(assigned)
	for _, p := range req.ports {
		ni.ports[p] = struct{}{}
	}
	ni.tasks++
	ni.byService[t.ServiceID]++
	return assigned
}

// hasGeneric reports whether the node can give every requested resource.
// A named request wants that exact resource; a discrete one wants that
// many, from a count or from as many named resources of the kind.
func (ni *nodeInfo) hasGeneric(want []swarm.GenericResource) bool {
	for _, g := range want {
		switch {
		case g.DiscreteResourceSpec != nil:
			d := g.DiscreteResourceSpec
			if d.Value > 0 && ni.discrete[d.Kind] < d.Value && int64(len(ni.named[d.Kind])) < d.Value {
				return false
			}
		case g.NamedResourceSpec != nil:
			if !slices.Contains(ni.named[g.NamedResourceSpec.Kind], g.NamedResourceSpec.Value) {
				return false
			}
		}
	}
	return true
}

// claim picks which of the node's resources satisfy want: a count from a
// count, else the lowest-named resources of the kind, so assignments are
// deterministic. It takes what there is; hasGeneric decides whether that
// is enough.
func (ni *nodeInfo) claim(want []swarm.GenericResource) []swarm.GenericResource {
	var out []swarm.GenericResource
	taken := map[string]int{}
	for _, g := range want {
		switch {
		case g.NamedResourceSpec != nil:
			out = append(out, g)
		case g.DiscreteResourceSpec != nil && g.DiscreteResourceSpec.Value > 0:
			d := g.DiscreteResourceSpec
			if ni.discrete[d.Kind] >= d.Value || len(ni.named[d.Kind]) == 0 {
				out = append(out, swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: d.Kind, Value: d.Value}})
				continue
			}
			names := ni.named[d.Kind][taken[d.Kind]:]
			n := min(int(d.Value), len(names))
			for _, v := range names[:n] {
				out = append(out, swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: d.Kind, Value: v}})
			}
			taken[d.Kind] += n
		}
	}
	return out
}

func (ni *nodeInfo) consume(used []swarm.GenericResource) {
	for _, g := range used {
		switch {
		case g.DiscreteResourceSpec != nil:
			if ni.discrete != nil {
				ni.discrete[g.DiscreteResourceSpec.Kind] -= g.DiscreteResourceSpec.Value
			}
		case g.NamedResourceSpec != nil:
			k := g.NamedResourceSpec.Kind
			if i := slices.Index(ni.named[k], g.NamedResourceSpec.Value); i >= 0 {
				ni.named[k] = slices.Delete(slices.Clone(ni.named[k]), i, i+1)
			}
		}
	}
}

func reservations(t *swarm.Task) swarm.Resources {
	if t.Spec.Resources == nil || t.Spec.Resources.Reservations == nil {
		return swarm.Resources{}
	}
	return *t.Spec.Resources.Reservations
}

// hostPorts lists the published host-mode ports of a service. Docker's
// Task carries no endpoint, so ports come from the service: the allocated
// endpoint when there is one, else the spec. A host-mode port without a
// published number is picked by the engine and cannot conflict.
func hostPorts(svc *swarm.Service) []hostPort {
	if svc == nil {
		return nil
	}
	ports := svc.Endpoint.Ports
	if len(ports) == 0 && svc.Spec.EndpointSpec != nil {
		ports = svc.Spec.EndpointSpec.Ports
	}
	var out []hostPort
	for _, p := range ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost || p.PublishedPort == 0 {
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = swarm.PortConfigProtocolTCP
		}
		out = append(out, hostPort{protocol: proto, port: p.PublishedPort})
	}
	return out
}
