package control

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestEnforce(t *testing.T) {
	zoneA := service("a", constraints("node.labels.zone==a"))
	workers := service("w", constraints("node.role==worker"))
	big := service("big", reserve(2, 1<<30))
	free := service("free")
	type tc struct {
		name  string
		nodes []*swarm.Node
		svcs  []*swarm.Service
		tasks []*swarm.Task
		want  []string // rejected task IDs
	}
	cases := []tc{
		{name: "a label removed rejects the tasks constrained to it",
			nodes: []*swarm.Node{node("n1"), node("n2", label("zone", "a"))},
			svcs:  []*swarm.Service{zoneA, free},
			tasks: []*swarm.Task{running(zoneA, "t1", 1, "n1", 0), running(zoneA, "t2", 2, "n2", 0), running(free, "t3", 1, "n1", 0)},
			want:  []string{"t1"}},
		{name: "a role change rejects tasks constrained to the old role",
			nodes: []*swarm.Node{node("n1", manager)},
			svcs:  []*swarm.Service{workers},
			tasks: []*swarm.Task{running(workers, "t1", 1, "n1", 0)},
			want:  []string{"t1"}},
		{name: "a paused node keeps its tasks",
			nodes: []*swarm.Node{node("n1", avail(swarm.NodeAvailabilityPause))},
			svcs:  []*swarm.Service{zoneA},
			tasks: []*swarm.Task{running(zoneA, "t1", 1, "n1", 0)}},
		{name: "a drained node's tasks are the orchestrator's",
			nodes: []*swarm.Node{node("n1", avail(swarm.NodeAvailabilityDrain))},
			svcs:  []*swarm.Service{zoneA},
			tasks: []*swarm.Task{running(zoneA, "t1", 1, "n1", 0)}},
		{name: "a down node's tasks are replaced anyway",
			nodes: []*swarm.Node{node("n1", down)},
			svcs:  []*swarm.Service{zoneA},
			tasks: []*swarm.Task{running(zoneA, "t1", 1, "n1", 0)}},
		{name: "only placed tasks still meant to run are checked",
			nodes: []*swarm.Node{node("n1")},
			svcs:  []*swarm.Service{zoneA},
			tasks: []*swarm.Task{
				task(zoneA, "failed", 1, "n1", swarm.TaskStateFailed, swarm.TaskStateRunning, 0),
				task(zoneA, "leaving", 2, "n1", swarm.TaskStateRunning, swarm.TaskStateShutdown, 0),
				task(zoneA, "starting", 3, "n1", swarm.TaskStateStarting, swarm.TaskStateRunning, 0),
				task(zoneA, "delayed", 4, "n1", swarm.TaskStateAccepted, swarm.TaskStateReady, 0),
				task(zoneA, "preassigned", 5, "n1", swarm.TaskStatePending, swarm.TaskStateRunning, 0),
			},
			want: []string{"delayed", "starting"}},
		{name: "the service's constraints count, not the task's stale copy",
			nodes: []*swarm.Node{node("n1")},
			svcs:  []*swarm.Service{zoneA},
			tasks: []*swarm.Task{ofService(running(free, "t1", 1, "n1", 0), zoneA)},
			want:  []string{"t1"}},
		{name: "a node that shrank rejects its newest tasks",
			nodes: []*swarm.Node{node("n1", resources(3, 8<<30))},
			svcs:  []*swarm.Service{big},
			tasks: []*swarm.Task{running(big, "old", 1, "n1", 0), running(big, "new", 2, "n1", 5)},
			want:  []string{"new"}},
		{name: "an assigned generic resource the node lost",
			nodes: []*swarm.Node{node("n1", resources(4, 8<<30, swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "g1"}}))},
			svcs:  []*swarm.Service{free},
			tasks: []*swarm.Task{
				withGeneric(running(free, "keeps", 1, "n1", 0), "gpu", "g1"),
				withGeneric(running(free, "lost", 2, "n1", 1), "gpu", "g2"),
			},
			want: []string{"lost"}},
		{name: "bad constraints reject nothing",
			nodes: []*swarm.Node{node("n1")},
			svcs:  []*swarm.Service{service("bad", constraints("node.flavour==x"))},
			tasks: []*swarm.Task{running(service("bad"), "t1", 1, "n1", 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := &Snapshot{Nodes: c.nodes, Services: c.svcs, Tasks: c.tasks}
			before := fmt.Sprint(c.tasks)
			now := t0.Add(time.Hour)
			var got []string
			for _, r := range Enforce(snap, now) {
				got = append(got, r.ID)
				if r.Status.State != swarm.TaskStateRejected || r.Status.Message != RejectedMessage || r.Status.Err != RejectedErr ||
					!r.Status.Timestamp.Equal(now) {
					t.Errorf("%s: status %+v", r.ID, r.Status)
				}
			}
			slices.Sort(got)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("rejected %v, want %v", got, c.want)
			}
			if fmt.Sprint(c.tasks) != before {
				t.Error("Enforce modified the snapshot's tasks")
			}
		})
	}
}

// ofService moves t to sv, keeping the spec it was made with: a task
// created before a constraint-only service update.
func ofService(t *swarm.Task, sv *swarm.Service) *swarm.Task {
	t.ServiceID = sv.ID
	return t
}

func withGeneric(t *swarm.Task, kind, value string) *swarm.Task {
	t.GenericResources = []swarm.GenericResource{{NamedResourceSpec: &swarm.NamedGenericResource{Kind: kind, Value: value}}}
	return t
}
