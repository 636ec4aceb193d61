package scheduler

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

const gib = 1 << 30

func TestReadyFilter(t *testing.T) {
	web := service("web")
	runCases(t, []scheduleCase{
		{
			name: "only the ready active node takes tasks",
			nodes: []*swarm.Node{
				node("n1", state(swarm.NodeStateDown)),
				node("n2", availability(swarm.NodeAvailabilityDrain)),
				node("n3", availability(swarm.NodeAvailabilityPause)),
				node("n4"),
				node("n5", state(swarm.NodeStateUnknown)),
			},
			services: []*swarm.Service{web}, pending: tasks(web, 2),
			want: []string{"web.1 -> n4", "web.2 -> n4"},
		},
		{
			name:     "no node available",
			nodes:    []*swarm.Node{node("n1", state(swarm.NodeStateDown)), node("n2", availability(swarm.NodeAvailabilityPause))},
			services: []*swarm.Service{web}, pending: tasks(web, 1),
			want: []string{"web.1 ! no suitable node (2 nodes not available for new tasks)"},
		},
		{
			name:     "one node, singular",
			nodes:    []*swarm.Node{node("n1", availability(swarm.NodeAvailabilityDrain))},
			services: []*swarm.Service{web}, pending: tasks(web, 1),
			want: []string{"web.1 ! no suitable node (1 node not available for new tasks)"},
		},
		{
			name:     "no nodes at all",
			services: []*swarm.Service{web}, pending: tasks(web, 1),
			want: []string{"web.1 ! no suitable node"},
		},
	})
}

func TestConstraintFilter(t *testing.T) {
	nodes := []*swarm.Node{
		node("n1", manager, labels("zone", "a", "ssd", "true"), ip("10.0.0.1")),
		node("n2", labels("zone", "b"), engineLabels("gpu", "nvidia"), platform("linux", "aarch64"), ip("10.0.1.2")),
		node("n3", platform("windows", "x86_64"), ip("192.168.1.3")),
	}
	one := func(name string, cs []string, want ...string) scheduleCase {
		s := service("s", constraints(cs...))
		return scheduleCase{name: name, nodes: nodes, services: []*swarm.Service{s}, pending: tasks(s, 1), want: want}
	}
	runCases(t, []scheduleCase{
		one("node.id", []string{"node.id==n2"}, "s.1 -> n2"),
		one("node.id not", []string{"node.id!=n1", "node.id!=n2"}, "s.1 -> n3"),
		one("node.hostname", []string{"node.hostname==host-n3"}, "s.1 -> n3"),
		one("node.role", []string{"node.role==manager"}, "s.1 -> n1"),
		one("node.role not", []string{"node.role != manager", "node.id!=n2"}, "s.1 -> n3"),
		one("node.platform.os", []string{"node.platform.os==windows"}, "s.1 -> n3"),
		one("node.platform.arch", []string{"node.platform.arch==aarch64"}, "s.1 -> n2"),
		one("node.labels", []string{"node.labels.zone==b"}, "s.1 -> n2"),
		one("node.labels value is case-insensitive", []string{"node.labels.zone==B"}, "s.1 -> n2"),
		one("node.labels name is case-sensitive", []string{"node.labels.ZONE==a"},
			"s.1 ! no suitable node (scheduling constraints not satisfied on 3 nodes)"),
		one("node.labels key prefix is case-insensitive", []string{"Node.Labels.ssd==true"}, "s.1 -> n1"),
		one("missing label matches !=", []string{"node.labels.zone!=a", "node.labels.zone!=b"}, "s.1 -> n3"),
		one("engine.labels", []string{"engine.labels.gpu==nvidia"}, "s.1 -> n2"),
		one("node.ip", []string{"node.ip==10.0.0.1"}, "s.1 -> n1"),
		one("node.ip subnet", []string{"node.ip!=10.0.0.0/16", "node.ip==192.168.0.0/16"}, "s.1 -> n3"),
		one("label no node has", []string{"node.labels.rack==r1"},
			"s.1 ! no suitable node (scheduling constraints not satisfied on 3 nodes)"),
		one("node.labels zone a",
			[]string{"node.labels.zone==a"}, "s.1 -> n1"),
	})

	s := service("s", constraints("node.labels.zone==a"))
	assertSchedule(t, scheduleCase{
		name:     "constraints counted after readiness",
		nodes:    []*swarm.Node{node("n1", labels("zone", "a"), state(swarm.NodeStateDown)), node("n2"), node("n3")},
		services: []*swarm.Service{s}, pending: tasks(s, 1),
		want: []string{"s.1 ! no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)"},
	})
}

func TestBadConstraint(t *testing.T) {
	bad := service("bad", constraints("node.labels.zone==a", "node.labels.zone~=b"))
	good := service("good")
	ds, us := Schedule([]*swarm.Node{node("n1")}, nil, concat(tasks(bad, 2), tasks(good, 1)), servicesOf(bad, good))
	if len(ds) != 1 || ds[0].TaskID != "good.1" {
		t.Errorf("decisions = %v, want good.1 placed despite the bad service", ds)
	}
	if len(us) != 2 {
		t.Fatalf("unschedulable = %v, want both bad tasks", us)
	}
	want := `service bad: invalid placement constraint "node.labels.zone~=b": expected one operator from ==, !=`
	for _, u := range us {
		if u.Reason != want {
			t.Errorf("reason = %q, want %q", u.Reason, want)
		}
		if !errorIs(u.Err, ErrBadConstraint) {
			t.Errorf("Err = %v, want ErrBadConstraint", u.Err)
		}
	}
}

func TestServiceNotFound(t *testing.T) {
	gone := service("gone")
	_, us := Schedule([]*swarm.Node{node("n1")}, nil, tasks(gone, 1), nil)
	if len(us) != 1 || !errorIs(us[0].Err, ErrServiceNotFound) {
		t.Fatalf("unschedulable = %+v, want ErrServiceNotFound", us)
	}
}

func TestResourceFilter(t *testing.T) {
	big := service("big", reserve(2, 3*gib))
	small := service("small", reserve(0.5, 0))
	gpu := service("gpu", reserve(0, 0, discrete("GPU", 2)))
	runCases(t, []scheduleCase{
		{
			name:     "memory left after placed tasks",
			nodes:    []*swarm.Node{node("n1", capacity(8, 8*gib)), node("n2", capacity(8, 4*gib))},
			services: []*swarm.Service{big},
			placed:   running(big, "n1", 2),
			pending:  tasks(big, 3),
			// n1 has 2 GiB left, n2 4 GiB: one fits on n2, then nothing.
			want: []string{"big.1 -> n2", "big.2 ! no suitable node (insufficient resources on 2 nodes)", "big.3 ! no suitable node (insufficient resources on 2 nodes)"},
		},
		{
			name:     "cpu is consumed within the batch",
			nodes:    []*swarm.Node{node("n1", capacity(1, gib)), node("n2", capacity(0.5, gib)), node("n3", availability(swarm.NodeAvailabilityDrain))},
			services: []*swarm.Service{small},
			pending:  tasks(small, 4),
			want: []string{"small.1 -> n1", "small.2 -> n2", "small.3 -> n1",
				"small.4 ! no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)"},
		},
		{
			name: "generic resources, discrete and named",
			nodes: []*swarm.Node{
				node("n1", capacity(4, gib, discrete("GPU", 3))),
				node("n2", capacity(4, gib, named("GPU", "uuid-b"), named("GPU", "uuid-a"), named("GPU", "uuid-c"))),
				node("n3"),
			},
			services: []*swarm.Service{gpu},
			pending:  tasks(gpu, 3),
			want: []string{"gpu.1 -> n1 GPU=2", "gpu.2 -> n2 GPU=uuid-a GPU=uuid-b",
				"gpu.3 ! no suitable node (insufficient resources on 3 nodes)"},
		},
		{
			name:     "named resources assigned to placed tasks are taken",
			nodes:    []*swarm.Node{node("n1", capacity(4, gib, named("GPU", "a"), named("GPU", "b"), named("GPU", "c")))},
			services: []*swarm.Service{gpu},
			placed: func() []*swarm.Task {
				p := running(gpu, "n1", 1)
				p[0].GenericResources = []swarm.GenericResource{named("GPU", "a"), named("GPU", "c")}
				return p
			}(),
			pending: tasks(gpu, 1),
			want:    []string{"gpu.1 ! no suitable node (insufficient resources on 1 node)"},
		},
		{
			name:     "finished tasks hold nothing",
			nodes:    []*swarm.Node{node("n1", capacity(2, 4*gib))},
			services: []*swarm.Service{big},
			placed: func() []*swarm.Task {
				p := running(big, "n1", 1)
				p[0].Status.State = swarm.TaskStateFailed
				return p
			}(),
			pending: tasks(big, 1),
			want:    []string{"big.1 -> n1"},
		},
		{
			// A global service's task names its node before it is checked
			// against it: it must not stand in its own way.
			name:     "a task that names the node but is not assigned holds nothing",
			nodes:    []*swarm.Node{node("n1", capacity(2, 4*gib))},
			services: []*swarm.Service{big},
			placed: func() []*swarm.Task {
				p := running(big, "n1", 1)
				p[0].Status.State = swarm.TaskStatePending
				return p
			}(),
			pending: tasks(big, 1),
			want:    []string{"big.1 -> n1"},
		},
	})
}

func TestPlatformFilter(t *testing.T) {
	arm := service("arm", platforms(swarm.Platform{OS: "linux", Architecture: "arm64"}))
	runCases(t, []scheduleCase{
		{
			name:     "aarch64 is arm64",
			nodes:    []*swarm.Node{node("n1"), node("n2", platform("linux", "aarch64"))},
			services: []*swarm.Service{arm}, pending: tasks(arm, 1),
			want: []string{"arm.1 -> n2"},
		},
		{
			name:     "no such platform",
			nodes:    []*swarm.Node{node("n1"), node("n2", platform("windows", "arm64"))},
			services: []*swarm.Service{arm}, pending: tasks(arm, 1),
			want: []string{"arm.1 ! no suitable node (unsupported platform on 2 nodes)"},
		},
	})
}

func TestHostPortFilter(t *testing.T) {
	web := service("web", hostPort80)
	other := service("other", hostPort80)
	udp := service("udp", func(s *swarm.Service) {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{
			{Protocol: swarm.PortConfigProtocolUDP, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeHost},
		}}
	})
	ingress := service("ingress", func(s *swarm.Service) {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{PublishedPort: 80}}}
	})
	nodes := []*swarm.Node{node("n1"), node("n2"), node("n3")}
	runCases(t, []scheduleCase{
		{
			name: "one task a port a node", nodes: nodes, services: []*swarm.Service{web, other},
			placed:  running(other, "n1", 1),
			pending: tasks(web, 3),
			want:    []string{"web.1 -> n2", "web.2 -> n3", "web.3 ! no suitable node (host-mode port already in use on 3 nodes)"},
		},
		{
			name: "other protocol and ingress do not conflict", nodes: nodes[:1], services: []*swarm.Service{web, udp, ingress},
			placed:  running(web, "n1", 1),
			pending: concat(tasks(udp, 1), tasks(ingress, 2)),
			want:    []string{"udp.1 -> n1", "ingress.1 -> n1", "ingress.2 -> n1"},
		},
	})
}

func TestMaxReplicasFilter(t *testing.T) {
	web := service("web", maxReplicas(2))
	runCases(t, []scheduleCase{
		{
			name:     "two a node",
			nodes:    []*swarm.Node{node("n1"), node("n2")},
			services: []*swarm.Service{web},
			placed:   running(web, "n1", 1),
			pending:  tasks(web, 4),
			want: []string{"web.1 -> n2", "web.2 -> n1", "web.3 -> n2",
				"web.4 ! no suitable node (max replicas per node limit exceed)"},
		},
		{
			name:     "tasks being shut down do not count",
			nodes:    []*swarm.Node{node("n1")},
			services: []*swarm.Service{web},
			placed: func() []*swarm.Task {
				p := running(web, "n1", 2)
				p[0].DesiredState = swarm.TaskStateShutdown
				return p
			}(),
			pending: tasks(web, 2),
			want:    []string{"web.1 -> n1", "web.2 ! no suitable node (max replicas per node limit exceed)"},
		},
	})
}
