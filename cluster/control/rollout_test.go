package control

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// TestOrchestrateWritesTheServiceAlone checks the rollout engine's service
// write: its own group, after the tasks', at the version the snapshot read.
func TestOrchestrateWritesTheServiceAlone(t *testing.T) {
	old := service("web")
	sv := service("web")
	sv.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "app:2"}
	sv.PreviousSpec = &old.Spec
	sv.Meta.Version.Index = 77
	snap := &Snapshot{Nodes: []*swarm.Node{node("n1")}, Services: []*swarm.Service{sv},
		Tasks: []*swarm.Task{running(old, "t1", 1, "n1", 0)}}
	now := t0.Add(time.Hour)
	groups, _ := Orchestrate(snap, now, counter("task"))
	if len(groups) != 1 || len(groups[0]) != 1 {
		t.Fatalf("groups %v, want the service write alone", groups)
	}
	m := groups[0][0]
	written, ok := m.Object.(*swarm.Service)
	if m.Op != store.OpUpdate || !ok || m.Version != 77 {
		t.Fatalf("mutation %s of %T at version %d", m.Op, m.Object, m.Version)
	}
	if st := written.UpdateStatus; st == nil || st.State != swarm.UpdateStateUpdating || !st.StartedAt.Equal(now) {
		t.Errorf("status %+v", written.UpdateStatus)
	}
}

// TestLoopRollsOutAcrossALeaderChange runs a rolling update through the
// real loop and store, as the API starts it, with a new leader's loop
// taking over in the middle: one slot at a time, to "update completed".
func TestLoopRollsOutAcrossALeaderChange(t *testing.T) {
	c := newCluster()
	c.write(t, store.Create(node("n1")), store.Create(service("web", replicas(3))))
	settle := func(l *Loop) {
		t.Helper()
		if _, err := l.Settle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	converge := func(l *Loop) {
		t.Helper()
		for range 10 {
			settle(l)
			c.agentStep(t)
		}
		settle(l)
	}
	l := c.loop(t)
	converge(l)
	if n := count(c.tasks(t, "web"), isRunning); n != 3 {
		t.Fatalf("%d tasks running before the update, want 3", n)
	}

	// The API's update: the new spec, the old one as previous, no status.
	sv := c.snapshot(t).Services[0]
	next, err := store.Clone(sv)
	if err != nil {
		t.Fatal(err)
	}
	prev := next.Spec
	next.PreviousSpec = &prev
	next.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "app:2"}
	next.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second}
	next.UpdateStatus = nil
	c.write(t, store.Update(next, sv.Meta.Version.Index))

	updated := func() int {
		return count(c.tasks(t, "web"), func(tk *swarm.Task) bool {
			return isRunning(tk) && tk.Spec.ContainerSpec.Image == "app:2"
		})
	}
	settle(l)
	if st := c.snapshot(t).Services[0].UpdateStatus; st == nil || st.State != swarm.UpdateStateUpdating || st.Message != deploy.MessageUpdating {
		t.Fatalf("status %+v, want updating", st)
	}
	converge(l)
	if n := updated(); n != 1 {
		t.Fatalf("%d slots updated after the first batch, want 1 (parallelism 1)", n)
	}

	// A new leader: a new loop over the same store, which waits out the
	// delay the old one started.
	l = c.loop(t)
	c.clock.Advance(9 * time.Second)
	converge(l)
	if n := updated(); n != 1 {
		t.Fatalf("%d slots updated within the delay, want 1", n)
	}
	c.clock.Advance(time.Second)
	converge(l)
	if n := updated(); n != 2 {
		t.Fatalf("%d slots updated after the delay, want 2", n)
	}
	c.clock.Advance(10 * time.Second)
	converge(l)
	if n := updated(); n != 3 {
		t.Fatalf("%d slots updated, want 3", n)
	}
	if st := c.snapshot(t).Services[0].UpdateStatus; st.State != swarm.UpdateStateUpdating {
		t.Fatalf("status %s before the last monitor window ended", st.State)
	}
	// Swarm waits out the delay after the last slot, then monitors a
	// second longer than the delay (it is longer than monitor).
	c.clock.Advance(10*time.Second + 10*time.Second)
	settle(l)
	if st := c.snapshot(t).Services[0].UpdateStatus; st.State != swarm.UpdateStateUpdating {
		t.Fatalf("status %s before the last monitor window ended", st.State)
	}
	c.clock.Advance(time.Second)
	settle(l)
	st := c.snapshot(t).Services[0].UpdateStatus
	if st.State != swarm.UpdateStateCompleted || st.Message != deploy.MessageCompleted || st.CompletedAt == nil {
		t.Fatalf("status %+v, want completed", st)
	}
	for _, tk := range c.tasks(t, "web") {
		if tk.Labels[deploy.LabelUpdateOf] != "" && !strings.HasPrefix(tk.Labels[deploy.LabelUpdatedAt], "2026-") {
			t.Errorf("replacement %s labels %v: no updated-at stamp", tk.ID, tk.Labels)
		}
	}
}

// TestRollbackEndpointFollowsTheSpec: a rollback that puts back a spec
// publishing other ports gets the endpoint that spec has, with an ingress
// port chosen where it asks for none, and keeps a port it had.
func TestRollbackEndpointFollowsTheSpec(t *testing.T) {
	cur := service("web")
	cur.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}}
	cur.Endpoint = swarm.Endpoint{Spec: *cur.Spec.EndpointSpec, Ports: cur.Spec.EndpointSpec.Ports}
	other := service("other")
	other.Endpoint = swarm.Endpoint{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 1, PublishedPort: 30000}}}
	next := *cur
	next.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}, {Protocol: "tcp", TargetPort: 443}}}
	followEndpoint([]*swarm.Service{cur, other}, cur, &next)
	var got []string
	for _, p := range next.Endpoint.Ports {
		got = append(got, fmt.Sprintf("%d->%d", p.TargetPort, p.PublishedPort))
	}
	if strings.Join(got, " ") != "80->8080 443->30001" || len(next.Endpoint.Spec.Ports) != 2 {
		t.Errorf("endpoint after the rollback: %v (spec %d ports), want 80->8080 443->30001", got, len(next.Endpoint.Spec.Ports))
	}
	same := *cur
	followEndpoint([]*swarm.Service{cur}, cur, &same)
	if !reflect.DeepEqual(same.Endpoint, cur.Endpoint) {
		t.Error("an unchanged endpoint spec must keep the endpoint as it is")
	}
}

// TestOrchestrateStopsASlotsOtherOldTasksWithItsReplacement: a slot holds
// its old task and, beside it, an earlier rollout's start-first
// replacement that never started, both out of date now. The rollout's
// replacement and the shutdown of both must be one group: were the
// shutdown of the second refused as stale while the replacement
// committed, the slot would hold two tasks meant to run.
func TestOrchestrateStopsASlotsOtherOldTasksWithItsReplacement(t *testing.T) {
	v1 := service("web")
	v2 := service("web")
	v2.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "app:2"}
	sv := service("web")
	sv.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "app:3"}
	sv.PreviousSpec = &v2.Spec
	started := t0.Add(30 * time.Minute)
	sv.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started, Message: deploy.MessageUpdating}
	earlier := task(v2, "s1", 1, "", swarm.TaskStatePending, swarm.TaskStateRunning, 10)
	earlier.Labels = map[string]string{deploy.LabelUpdateOf: "t1", deploy.LabelRollout: "2026-01-01T00:00:00Z"}
	snap := &Snapshot{Nodes: []*swarm.Node{node("n1")}, Services: []*swarm.Service{sv},
		Tasks: []*swarm.Task{running(v1, "t1", 1, "n1", 0), earlier}}
	groups, _ := Orchestrate(snap, t0.Add(time.Hour), counter("task"))
	want := "[update t1 slot=1 desired=shutdown state=running v=100, update s1 slot=1 desired=shutdown state=pending v=110, " +
		"create task1 slot=1 desired=ready]"
	if got := describe(groups); got != want {
		t.Errorf("groups:\n got %s\nwant %s", got, want)
	}
}
