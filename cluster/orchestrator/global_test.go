package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestGlobalRules(t *testing.T) {
	now := t0.Add(time.Hour)
	g := globalSvc()
	ssd := globalSvc("node.labels.disk==ssd", "node.role!=manager")
	drained := node("d", swarm.NodeStateReady, swarm.NodeAvailabilityDrain)
	down := node("x", swarm.NodeStateDown, swarm.NodeAvailabilityActive)
	paused := node("p", swarm.NodeStateReady, swarm.NodeAvailabilityPause)
	manager := ready("m", "disk=ssd")
	manager.Spec.Role = swarm.NodeRoleManager
	runRules(t, []ruleCase{
		{name: "one task per ready active node", in: input(g, now, []*swarm.Node{ready("a"), drained, down, paused, ready("b")}),
			want: expect{create: []created{{0, "a", stRunning, ""}, {0, "b", stRunning, ""}}}},
		{name: "constraints pick the nodes", in: input(ssd, now, []*swarm.Node{ready("a", "disk=ssd"), ready("b", "disk=hdd"), ready("c"), manager}),
			want: expect{create: []created{{0, "a", stRunning, ""}}}},
		{name: "a joining node gets a task", in: input(g, now, []*swarm.Node{ready("a"), ready("b")}, running(g, "t1", 0, "a")),
			want: expect{create: []created{{0, "b", stRunning, ""}}}},
		{name: "draining stops the node's task, no replacement", in: input(g, now, []*swarm.Node{drained}, running(g, "t1", 0, "d")),
			want: expect{desired: map[string]swarm.TaskState{"t1": stShutdown}}},
		{name: "a down node's task is shut down", in: input(g, now, []*swarm.Node{down}, running(g, "t1", 0, "x")),
			want: expect{desired: map[string]swarm.TaskState{"t1": stShutdown}}},
		{name: "a node that left: its task is shut down", in: input(g, now, nil, running(g, "t1", 0, "gone")),
			want: expect{desired: map[string]swarm.TaskState{"t1": stShutdown}}},
		{name: "a paused node keeps its task", in: input(g, now, []*swarm.Node{paused}, running(g, "t1", 0, "p"))},
		{name: "a label removed: the task stops", in: input(ssd, now, []*swarm.Node{ready("a")}, running(ssd, "t1", 0, "a")),
			want: expect{desired: map[string]swarm.TaskState{"t1": stShutdown}}},
		{name: "a node back from drain gets a new task", in: input(g, now, []*swarm.Node{ready("d")},
			task(g, "t1", 0, "d", stShutdown, stShutdown, 0)),
			want: expect{create: []created{{0, "d", stRunning, ""}}}},
		{name: "a failed task restarts on its node", in: input(g, now, []*swarm.Node{ready("a")},
			task(g, "t1", 0, "a", stFailed, stRunning, 0)),
			want: expect{create: []created{{0, "a", stReady, "t1"}}, desired: map[string]swarm.TaskState{"t1": stShutdown},
				wake: now.Add(5 * time.Second)}},
		{name: "two live tasks on a node (start-first rollout) are the rollout's", in: input(g, now, []*swarm.Node{ready("a")},
			running(g, "t1", 0, "a"), task(g, "t2", 0, "a", stRunning, stRunning, 5))},
		{name: "history is kept per node", in: input(g, now, []*swarm.Node{ready("a"), ready("b")},
			running(g, "live", 0, "a"), task(g, "h1", 0, "a", stFailed, stShutdown, -5),
			task(g, "h2", 0, "a", stFailed, stShutdown, -4), task(g, "h3", 0, "a", stFailed, stShutdown, -3),
			task(g, "h4", 0, "a", stFailed, stShutdown, -2), task(g, "h5", 0, "a", stFailed, stShutdown, -1),
			running(g, "other", 0, "b")),
			want: expect{deleted: []string{"h1"}}},
	})
}

// Global services read placement constraints with the scheduler's
// matcher; one that does not parse keeps the service off every node.
func TestGlobalConstraints(t *testing.T) {
	svc := func(constraints ...string) *swarm.Service {
		s := &swarm.Service{ID: "g"}
		s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: constraints}
		return s
	}
	n := ready("abc", "zone=eu")
	n.Spec.Role = swarm.NodeRoleWorker
	for _, tc := range []struct {
		constraints []string
		want        bool
	}{
		{nil, true},
		{[]string{"node.labels.zone==eu", "node.role==worker"}, true},
		{[]string{"node.labels.zone==us"}, false},
		{[]string{"node.labels.rack!=1"}, true},
		{[]string{"bogus"}, false},
		{[]string{"node.color==red"}, false},
	} {
		if got := nodeFilter(svc(tc.constraints...))(n); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.constraints, got, tc.want)
		}
	}
}
