package scheduler

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestSpread(t *testing.T) {
	web := service("web")
	other := service("other")
	nodes := []*swarm.Node{node("n1"), node("n2"), node("n3")}
	runCases(t, []scheduleCase{
		{
			name: "fewest tasks overall breaks the tie", nodes: nodes, services: []*swarm.Service{web, other},
			placed:  concat(running(other, "n1", 2), running(other, "n2", 1)),
			pending: tasks(web, 3),
			want:    []string{"web.1 -> n3", "web.2 -> n2", "web.3 -> n1"},
		},
		{
			name: "fewest tasks of the service first", nodes: nodes, services: []*swarm.Service{web, other},
			placed:  concat(running(web, "n1", 2), running(other, "n2", 5)),
			pending: tasks(web, 4),
			want:    []string{"web.1 -> n3", "web.2 -> n2", "web.3 -> n3", "web.4 -> n2"},
		},
		{
			name: "node ID breaks full ties", nodes: []*swarm.Node{node("b"), node("c"), node("a")}, services: []*swarm.Service{web},
			pending: tasks(web, 4),
			want:    []string{"web.1 -> a", "web.2 -> b", "web.3 -> c", "web.4 -> a"},
		},
		{
			name: "services are decided one after the other, each seeing the last", nodes: nodes[:2], services: []*swarm.Service{web, other},
			pending: []*swarm.Task{tasks(web, 1)[0], tasks(other, 1)[0], tasks(web, 2)[1]},
			want:    []string{"web.1 -> n1", "web.2 -> n2", "other.1 -> n1"},
		},
		{
			name: "tasks observed past running leave", nodes: nodes[:2], services: []*swarm.Service{web},
			placed: func() []*swarm.Task {
				p := running(web, "n1", 2)
				p[0].Status.State = swarm.TaskStateShutdown
				p[1].Status.State = swarm.TaskStateComplete
				return p
			}(),
			pending: tasks(web, 1),
			want:    []string{"web.1 -> n1"},
		},
	})
}

func TestSpreadPreferences(t *testing.T) {
	zoned := func(id, zone string, opts ...nodeOpt) *swarm.Node {
		if zone == "" {
			return node(id, opts...)
		}
		return node(id, append(opts, labels("zone", zone))...)
	}
	nodes := []*swarm.Node{zoned("n1", "a"), zoned("n2", "a"), zoned("n3", "a"), zoned("n4", "b"), zoned("n5", "")}
	web := service("web", spread("node.labels.zone"))
	runCases(t, []scheduleCase{
		{
			name: "even over label values, unlabelled nodes a group of their own", nodes: nodes, services: []*swarm.Service{web},
			pending: tasks(web, 6),
			want:    []string{"web.1 -> n5", "web.2 -> n1", "web.3 -> n4", "web.4 -> n5", "web.5 -> n2", "web.6 -> n4"},
		},
		{
			name: "existing tasks count for their branch", nodes: nodes, services: []*swarm.Service{web},
			placed:  concat(running(web, "n1", 1), running(web, "n2", 1), running(web, "n5", 2)),
			pending: tasks(web, 4),
			// a has 2, b 0, none 2: b catches up, then the groups take
			// turns in value order ("" first), n3 being a's emptiest node.
			want: []string{"web.1 -> n4", "web.2 -> n4", "web.3 -> n5", "web.4 -> n3"},
		},
		{
			name: "a branch without room is skipped",
			nodes: []*swarm.Node{zoned("n1", "a"), zoned("n2", "b", availability(swarm.NodeAvailabilityDrain)),
				zoned("n3", "c", capacity(1, gib))},
			services: []*swarm.Service{service("big", spread("node.labels.zone"), reserve(1, gib))},
			pending:  tasks(service("big", spread("node.labels.zone"), reserve(1, gib)), 3),
			want:     []string{"big.1 -> n1", "big.2 -> n3", "big.3 -> n1"},
		},
		{
			name: "two levels",
			nodes: []*swarm.Node{
				node("n1", labels("zone", "a", "rack", "1")), node("n2", labels("zone", "a", "rack", "1")),
				node("n3", labels("zone", "a", "rack", "2")), node("n4", labels("zone", "b", "rack", "1")),
			},
			services: []*swarm.Service{service("db", spread("node.labels.zone", "node.labels.rack"))},
			pending:  tasks(service("db", spread("node.labels.zone", "node.labels.rack")), 5),
			want:     []string{"db.1 -> n1", "db.2 -> n4", "db.3 -> n3", "db.4 -> n4", "db.5 -> n2"},
		},
		{
			name:     "engine labels, and unsupported descriptors spread over nothing",
			nodes:    []*swarm.Node{node("n1", engineLabels("dc", "x")), node("n2", engineLabels("dc", "x")), node("n3", engineLabels("dc", "y"))},
			services: []*swarm.Service{service("e", spread("engine.labels.dc", "node.hostname"))},
			pending:  tasks(service("e", spread("engine.labels.dc", "node.hostname")), 4),
			want:     []string{"e.1 -> n1", "e.2 -> n3", "e.3 -> n2", "e.4 -> n3"},
		},
	})
}
