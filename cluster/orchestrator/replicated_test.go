package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

const (
	stRunning  = swarm.TaskStateRunning
	stReady    = swarm.TaskStateReady
	stShutdown = swarm.TaskStateShutdown
	stFailed   = swarm.TaskStateFailed
	stComplete = swarm.TaskStateComplete
	stRemove   = swarm.TaskStateRemove
)

func TestReplicatedRules(t *testing.T) {
	nodes := []*swarm.Node{ready("n1"), ready("n2")}
	s3 := replicatedSvc(3)
	s1 := replicatedSvc(1)
	now := t0.Add(time.Hour)
	runRules(t, []ruleCase{
		{name: "new service fills slots 1..N", in: input(s3, now, nodes),
			want: expect{create: []created{{1, "", stRunning, ""}, {2, "", stRunning, ""}, {3, "", stRunning, ""}}}},
		{name: "converged service: nothing to do", in: input(s3, now, nodes,
			running(s3, "a", 1, "n1"), running(s3, "b", 2, "n2"), running(s3, "c", 3, "n1"))},
		{name: "scale down removes the highest slots", in: input(s1, now, nodes,
			running(s1, "a", 1, "n1"), running(s1, "b", 2, "n2"), running(s1, "c", 3, "n1")),
			want: expect{desired: map[string]swarm.TaskState{"b": stRemove, "c": stRemove}}},
		{name: "scale down does not restart a task in a removed slot", in: input(s1, now, nodes,
			running(s1, "a", 1, "n1"), task(s1, "b", 2, "n1", stFailed, stRunning, 0)),
			want: expect{deleted: []string{"b"}}},
		{name: "scale up fills the lowest free slot and keeps running ones", in: input(s3, now, nodes,
			running(s3, "a", 1, "n1"), running(s3, "c", 3, "n1")),
			want: expect{create: []created{{2, "", stRunning, ""}}}},
		{name: "an unoccupied slot beyond N is removed", in: input(s3, now, nodes,
			running(s3, "a", 1, "n1"), running(s3, "b", 2, "n1"), running(s3, "c", 3, "n1"),
			task(s3, "old", 7, "n1", stShutdown, stShutdown, 0)),
			want: expect{deleted: []string{"old"}}},
		{name: "a task on a down node is replaced after the delay", in: input(s1, now,
			[]*swarm.Node{node("n1", swarm.NodeStateDown, swarm.NodeAvailabilityActive)},
			running(s1, "a", 1, "n1")),
			want: expect{create: []created{{1, "", stReady, "a"}},
				desired: map[string]swarm.TaskState{"a": stShutdown}, wake: now.Add(5 * time.Second)}},
		{name: "a task on a drained node is replaced without delay once it stops", in: input(s1, now,
			[]*swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityDrain)},
			running(s1, "a", 1, "n1")),
			want: expect{create: []created{{1, "", stReady, "a"}},
				desired: map[string]swarm.TaskState{"a": stShutdown}, wake: now.Add(time.Minute)}},
		{name: "a task whose node left the cluster is replaced", in: input(s1, now, nil,
			running(s1, "a", 1, "gone")),
			want: expect{create: []created{{1, "", stReady, "a"}},
				desired: map[string]swarm.TaskState{"a": stShutdown}, wake: now.Add(5 * time.Second)}},
		{name: "a paused node keeps its task", in: input(s1, now,
			[]*swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityPause)},
			running(s1, "a", 1, "n1"))},
		{name: "removed service: running tasks told to go, stopped ones deleted",
			in: input(nil, now, nodes, running(s3, "a", 1, "n1"),
				task(s3, "b", 2, "n1", stFailed, stShutdown, 0),
				task(s3, "c", 3, "", swarm.TaskStatePending, stRunning, 0)),
			want: expect{desired: map[string]swarm.TaskState{"a": stRemove}, deleted: []string{"b", "c"}}},
		{name: "removed tasks are deleted once stopped, not before", in: input(s1, now, nodes,
			running(s1, "a", 1, "n1"),
			task(s1, "b", 2, "n1", stRunning, stRemove, 0),
			task(s1, "c", 3, "n1", stShutdown, stRemove, 0)),
			want: expect{deleted: []string{"c"}}},
		{name: "tasks left from global mode are removed", in: input(s1, now, nodes,
			running(s1, "a", 1, "n1"), running(s1, "g", 0, "n2")),
			want: expect{desired: map[string]swarm.TaskState{"g": stRemove}}},
	})
}

func TestNewTaskFields(t *testing.T) {
	s := replicatedSvc(1)
	s.JobStatus = nil
	now := t0.Add(time.Minute)
	p := Reconcile(Input{Service: s, Now: now, NewID: counter("id")})
	if len(p.Create) != 1 {
		t.Fatalf("created %d tasks, want 1", len(p.Create))
	}
	c := p.Create[0]
	if c.ID != "id1" || c.ServiceID != "svc" || c.Slot != 1 || c.NodeID != "" ||
		c.Spec.ContainerSpec.Image != "img" || c.DesiredState != stRunning || c.JobIteration != nil {
		t.Errorf("new task: %+v", c)
	}
	if c.Status.State != swarm.TaskStateNew || !c.Status.Timestamp.Equal(now) || c.Status.Message != "created" {
		t.Errorf("new task status: %+v", c.Status)
	}
}

func TestHistoryRetention(t *testing.T) {
	s := replicatedSvc(1)
	now := t0.Add(time.Hour)
	tasks := []*swarm.Task{running(s, "live", 1, "n1")}
	tasks[0].CreatedAt = t0.Add(100 * time.Second)
	for i := range 7 {
		tasks = append(tasks, task(s, string(rune('a'+i)), 1, "n1", stFailed, stShutdown, i))
	}
	// Another slot's history is its own.
	tasks = append(tasks, running(s, "other", 2, "n1"))
	s2 := replicatedSvc(2)
	in5 := Input{Service: s2, Tasks: tasks, Nodes: []*swarm.Node{ready("n1")}, Now: now, NewID: counter("x")}
	in3 := in5
	in3.HistoryLimit = 3
	inAll := in5
	inAll.HistoryLimit = -1
	withMax := in5
	withMax.Service = withRestart(replicatedSvc(2), swarm.RestartPolicy{MaxAttempts: ptr(uint64(6))})
	withMax.Tasks = nil
	for _, tk := range tasks { // made from the service's current spec, so none is out of date
		c := *tk
		c.Spec = withMax.Service.Spec.TaskTemplate
		withMax.Tasks = append(withMax.Tasks, &c)
	}
	runRules(t, []ruleCase{
		{name: "default keeps 5 per slot, live task included", in: in5,
			want: expect{deleted: []string{"a", "b", "c"}}},
		{name: "limit 3", in: in3, want: expect{deleted: []string{"a", "b", "c", "d", "e"}}},
		{name: "negative keeps everything", in: inAll},
		{name: "max_attempts raises the limit to max_attempts+1", in: withMax,
			want: expect{deleted: []string{"a"}}},
	})
}
