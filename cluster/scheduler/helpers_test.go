package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// Builders keep the tables to what each case is about.

type nodeOpt func(*swarm.Node)

func node(id string, opts ...nodeOpt) *swarm.Node {
	n := &swarm.Node{ID: id}
	n.Spec.Role = swarm.NodeRoleWorker
	n.Spec.Availability = swarm.NodeAvailabilityActive
	n.Status.State = swarm.NodeStateReady
	n.Description.Hostname = "host-" + id
	n.Description.Platform = swarm.Platform{OS: "linux", Architecture: "x86_64"}
	n.Description.Resources = swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}
	for _, o := range opts {
		o(n)
	}
	return n
}

func labels(kv ...string) nodeOpt {
	return func(n *swarm.Node) {
		n.Spec.Labels = pairs(kv)
	}
}

func engineLabels(kv ...string) nodeOpt {
	return func(n *swarm.Node) { n.Description.Engine.Labels = pairs(kv) }
}

func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func state(s swarm.NodeState) nodeOpt { return func(n *swarm.Node) { n.Status.State = s } }
func availability(a swarm.NodeAvailability) nodeOpt {
	return func(n *swarm.Node) { n.Spec.Availability = a }
}
func manager(n *swarm.Node) { n.Spec.Role = swarm.NodeRoleManager }
func platform(os, arch string) nodeOpt {
	return func(n *swarm.Node) { n.Description.Platform = swarm.Platform{OS: os, Architecture: arch} }
}
func ip(addr string) nodeOpt { return func(n *swarm.Node) { n.Status.Addr = addr } }
func capacity(cpus float64, mem int64, generic ...swarm.GenericResource) nodeOpt {
	return func(n *swarm.Node) {
		n.Description.Resources = swarm.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem, GenericResources: generic}
	}
}

func discrete(kind string, v int64) swarm.GenericResource {
	return swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: kind, Value: v}}
}

func named(kind, v string) swarm.GenericResource {
	return swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: kind, Value: v}}
}

type svcOpt func(*swarm.Service)

func service(id string, opts ...svcOpt) *swarm.Service {
	s := &swarm.Service{ID: id}
	s.Spec.Name = id
	for _, o := range opts {
		o(s)
	}
	return s
}

func placement(p *swarm.Placement) *swarm.Placement {
	if p == nil {
		return &swarm.Placement{}
	}
	return p
}

func constraints(cs ...string) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Placement = placement(s.Spec.TaskTemplate.Placement)
		s.Spec.TaskTemplate.Placement.Constraints = cs
	}
}

func spread(descriptors ...string) svcOpt {
	return func(s *swarm.Service) {
		p := placement(s.Spec.TaskTemplate.Placement)
		for _, d := range descriptors {
			p.Preferences = append(p.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: d}})
		}
		s.Spec.TaskTemplate.Placement = p
	}
}

func maxReplicas(m uint64) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Placement = placement(s.Spec.TaskTemplate.Placement)
		s.Spec.TaskTemplate.Placement.MaxReplicas = m
	}
}

func platforms(ps ...swarm.Platform) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Placement = placement(s.Spec.TaskTemplate.Placement)
		s.Spec.TaskTemplate.Placement.Platforms = ps
	}
}

func reserve(cpus float64, mem int64, generic ...swarm.GenericResource) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{
			NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem, GenericResources: generic,
		}}
	}
}

func hostPort80(s *swarm.Service) {
	s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{
		{Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeHost},
	}}
}

// tasks makes n pending tasks of s, with IDs "<service>.<slot>".
func tasks(s *swarm.Service, n int) []*swarm.Task {
	out := make([]*swarm.Task, n)
	for i := range out {
		out[i] = &swarm.Task{
			ID: fmt.Sprintf("%s.%d", s.ID, i+1), ServiceID: s.ID, Slot: i + 1,
			Spec: s.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
			Status: swarm.TaskStatus{State: swarm.TaskStatePending},
		}
	}
	return out
}

// running puts tasks of s on nodeID, running, with IDs "<service>.r<i>".
func running(s *swarm.Service, nodeID string, n int) []*swarm.Task {
	out := tasks(s, n)
	for i, t := range out {
		t.ID = fmt.Sprintf("%s.r%s%d", s.ID, nodeID, i+1)
		t.NodeID = nodeID
		t.Status.State = swarm.TaskStateRunning
	}
	return out
}

func servicesOf(ss ...*swarm.Service) map[string]*swarm.Service {
	m := map[string]*swarm.Service{}
	for _, s := range ss {
		m[s.ID] = s
	}
	return m
}

func concat(ts ...[]*swarm.Task) []*swarm.Task {
	var out []*swarm.Task
	for _, t := range ts {
		out = append(out, t...)
	}
	return out
}

// outcome renders a Schedule result one line a task, in the order returned:
// "web.1 -> n1" or "web.2 ! no suitable node (...)".
func outcome(ds []Decision, us []Unschedulable) []string {
	var lines []string
	for _, d := range ds {
		line := d.TaskID + " -> " + d.NodeID
		for _, g := range d.GenericResources {
			if g.NamedResourceSpec != nil {
				line += fmt.Sprintf(" %s=%s", g.NamedResourceSpec.Kind, g.NamedResourceSpec.Value)
			} else {
				line += fmt.Sprintf(" %s=%d", g.DiscreteResourceSpec.Kind, g.DiscreteResourceSpec.Value)
			}
		}
		lines = append(lines, line)
	}
	for _, u := range us {
		lines = append(lines, u.TaskID+" ! "+u.Reason)
	}
	return lines
}

// scheduleCase is the shape every table in this package shares.
type scheduleCase struct {
	name     string
	nodes    []*swarm.Node
	services []*swarm.Service
	placed   []*swarm.Task
	pending  []*swarm.Task
	want     []string
}

// assertSchedule runs Schedule on c and compares the outcome line by line.
func assertSchedule(t *testing.T, c scheduleCase) {
	t.Helper()
	ds, us := Schedule(c.nodes, c.placed, c.pending, servicesOf(c.services...))
	got := outcome(ds, us)
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Errorf("schedule:\ngot:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
	}
}

func runCases(t *testing.T, cases []scheduleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertSchedule(t, c) })
	}
}
