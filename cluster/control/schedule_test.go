package control

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// placements renders updates as "t1->n2 assigned" or "t1 pending: reason".
func placements(muts []store.Mutation) string {
	var out []string
	for _, m := range muts {
		t := m.Object.(*swarm.Task)
		if t.Status.State == swarm.TaskStateAssigned {
			out = append(out, fmt.Sprintf("%s->%s", t.ID, t.NodeID))
		} else {
			out = append(out, fmt.Sprintf("%s %s: %s", t.ID, t.Status.State, t.Status.Err))
		}
	}
	return strings.Join(out, "; ")
}

func TestSchedule(t *testing.T) {
	now := t0.Add(time.Hour)
	web := service("web", replicas(2))
	big := service("big", reserve(3, 1<<30))
	gl := service("gl", global, reserve(3, 1<<30))
	hostPort := func(s *swarm.Service) {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}}
	}
	glPort := service("glp", global, hostPort)
	webPort := service("webp", hostPort)
	job := service("job")
	job.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
	pending := func(s *swarm.Service, id string, age int) *swarm.Task {
		return task(s, id, 1, "", swarm.TaskStateNew, swarm.TaskStateRunning, age)
	}
	unplaceable := task(big, "stuck", 1, "", swarm.TaskStatePending, swarm.TaskStateRunning, 0)
	unplaceable.Status.Err = "no suitable node (insufficient resources on 2 nodes)"
	cases := []struct {
		name  string
		nodes []*swarm.Node
		svcs  []*swarm.Service
		tasks []*swarm.Task
		want  string
	}{
		{name: "new tasks are assigned, spread over the nodes",
			nodes: []*swarm.Node{node("n1"), node("n2")}, svcs: []*swarm.Service{web},
			tasks: []*swarm.Task{pending(web, "a", 0), pending(web, "b", 1)},
			want:  "a->n1; b->n2"},
		{name: "the oldest task gets the room when there is not enough for all",
			nodes: []*swarm.Node{node("n1")}, svcs: []*swarm.Service{big},
			tasks: []*swarm.Task{pending(big, "a-young", 9), pending(big, "b-old", 1)},
			want:  "b-old->n1; a-young pending: no suitable node (insufficient resources on 1 node)"},
		{name: "an unchanged reason is not written again",
			nodes: []*swarm.Node{node("n1"), node("n2")}, svcs: []*swarm.Service{big},
			tasks: []*swarm.Task{running(big, "r1", 2, "n1", 0), running(big, "r2", 3, "n2", 0), unplaceable}},
		{name: "a global task is checked against its own node only",
			nodes: []*swarm.Node{node("n1"), node("n2")}, svcs: []*swarm.Service{gl, big},
			tasks: []*swarm.Task{running(big, "r1", 1, "n1", 0),
				task(gl, "g1", 0, "n1", swarm.TaskStateNew, swarm.TaskStateRunning, 1),
				task(gl, "g2", 0, "n2", swarm.TaskStateNew, swarm.TaskStateRunning, 1)},
			want: "g2->n2; g1 pending: no suitable node (insufficient resources on 1 node)"},
		{name: "a global task's room is taken before the others are placed",
			nodes: []*swarm.Node{node("n1")}, svcs: []*swarm.Service{glPort, webPort},
			tasks: []*swarm.Task{pending(webPort, "w", 0), task(glPort, "g", 0, "n1", swarm.TaskStateNew, swarm.TaskStateRunning, 1)},
			want:  "g->n1; w pending: no suitable node (host-mode port already in use on 1 node)"},
		{name: "job tasks and delayed replacements are placed; tasks told to stop or without a service are not",
			nodes: []*swarm.Node{node("n1")}, svcs: []*swarm.Service{job, web},
			tasks: []*swarm.Task{
				task(job, "j", 0, "", swarm.TaskStateNew, swarm.TaskStateComplete, 0),
				task(web, "delayed", 1, "", swarm.TaskStateNew, swarm.TaskStateReady, 1),
				task(web, "stopped", 2, "", swarm.TaskStateNew, swarm.TaskStateShutdown, 2),
				task(service("gone"), "orphan", 1, "", swarm.TaskStateNew, swarm.TaskStateRunning, 3)},
			want: "j->n1; delayed->n1"},
		{name: "a task no node fits goes pending with Swarm's reason",
			nodes: []*swarm.Node{node("n1", avail(swarm.NodeAvailabilityDrain)), node("n2", down)}, svcs: []*swarm.Service{web},
			tasks: []*swarm.Task{pending(web, "a", 0)},
			want:  "a pending: no suitable node (2 nodes not available for new tasks)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := &Snapshot{Nodes: c.nodes, Services: c.svcs, Tasks: c.tasks}
			before := fmt.Sprint(c.tasks)
			muts := Schedule(snap, now)
			if got := placements(muts); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			for _, m := range muts {
				tk := m.Object.(*swarm.Task)
				if m.Op != store.OpUpdate || m.Version == 0 || !tk.Status.Timestamp.Equal(now) {
					t.Errorf("%s: %s at version %d, status time %v", m.ID, m.Op, m.Version, tk.Status.Timestamp)
				}
				if tk.Status.State == swarm.TaskStateAssigned && tk.Status.Message != AssignedMessage ||
					tk.Status.State == swarm.TaskStatePending && tk.Status.Message != PendingMessage {
					t.Errorf("%s: message %q", m.ID, tk.Status.Message)
				}
			}
			if fmt.Sprint(c.tasks) != before {
				t.Error("Schedule modified the snapshot's tasks")
			}
		})
	}
}
