package orchestrator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func counter(prefix string) func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("%s%d", prefix, n) }
}

func replicatedSvc(n uint64) *swarm.Service {
	return &swarm.Service{ID: "svc", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "img"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}}
}

func globalSvc(constraints ...string) *swarm.Service {
	s := replicatedSvc(0)
	s.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	if len(constraints) > 0 {
		s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: constraints}
	}
	return s
}

func withRestart(s *swarm.Service, p swarm.RestartPolicy) *swarm.Service {
	s.Spec.TaskTemplate.RestartPolicy = &p
	return s
}

func node(id string, state swarm.NodeState, avail swarm.NodeAvailability, labels ...string) *swarm.Node {
	n := &swarm.Node{ID: id, Status: swarm.NodeStatus{State: state}}
	n.Spec.Availability = avail
	n.Spec.Labels = map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		n.Spec.Labels[k] = v
	}
	n.Description.Hostname = "host-" + id
	return n
}

func ready(id string, labels ...string) *swarm.Node {
	return node(id, swarm.NodeStateReady, swarm.NodeAvailabilityActive, labels...)
}

// task builds a task of s created at t0+age seconds, whose status was last
// set at the same time.
func task(s *swarm.Service, id string, slot int, nodeID string, state, desired swarm.TaskState, at int) *swarm.Task {
	ts := t0.Add(time.Duration(at) * time.Second)
	t := &swarm.Task{
		ID: id, ServiceID: s.ID, Slot: slot, NodeID: nodeID,
		Spec:         s.Spec.TaskTemplate,
		Status:       swarm.TaskStatus{State: state, Timestamp: ts},
		DesiredState: desired,
	}
	t.CreatedAt = ts
	if s.JobStatus != nil {
		it := s.JobStatus.JobIteration
		t.JobIteration = &it
	}
	return t
}

func running(s *swarm.Service, id string, slot int, nodeID string) *swarm.Task {
	return task(s, id, slot, nodeID, swarm.TaskStateRunning, swarm.TaskStateRunning, 0)
}

func input(s *swarm.Service, now time.Time, nodes []*swarm.Node, tasks ...*swarm.Task) Input {
	return Input{Service: s, Tasks: tasks, Nodes: nodes, Now: now, NewID: counter("new")}
}

// created describes one task the plan must create, in order.
type created struct {
	slot    int
	node    string
	desired swarm.TaskState
	// restartOf, when set, is the LabelRestartOf the task must carry.
	restartOf string
}

// expect is the whole plan a rule must produce: every create, every desired
// state change and every delete, nothing more (Nomad's assertResults).
type expect struct {
	create  []created
	desired map[string]swarm.TaskState
	deleted []string
	wake    time.Time
}

func assertPlan(t *testing.T, p Plan, e expect) {
	t.Helper()
	var got []created
	for _, c := range p.Create {
		got = append(got, created{c.Slot, c.NodeID, c.DesiredState, c.Labels[LabelRestartOf]})
	}
	if fmt.Sprint(got) != fmt.Sprint(e.create) {
		t.Errorf("create:\n got %v\nwant %v", got, e.create)
	}
	gotDesired := map[string]swarm.TaskState{}
	for _, u := range p.Update {
		gotDesired[u.ID] = u.DesiredState
	}
	if e.desired == nil {
		e.desired = map[string]swarm.TaskState{}
	}
	if fmt.Sprint(gotDesired) != fmt.Sprint(e.desired) {
		t.Errorf("desired states:\n got %v\nwant %v", gotDesired, e.desired)
	}
	del := slices.Sorted(slices.Values(p.Delete))
	want := slices.Sorted(slices.Values(e.deleted))
	if fmt.Sprint(del) != fmt.Sprint(want) {
		t.Errorf("delete:\n got %v\nwant %v", del, want)
	}
	if !p.Wake.Equal(e.wake) {
		t.Errorf("wake: got %v, want %v", p.Wake, e.wake)
	}
}

type ruleCase struct {
	name string
	in   Input
	want expect
}

func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := make([]swarm.Task, len(c.in.Tasks))
			for i, tk := range c.in.Tasks {
				before[i] = *tk
			}
			p := Reconcile(c.in)
			assertPlan(t, p, c.want)
			for i, tk := range c.in.Tasks {
				if fmt.Sprint(*tk) != fmt.Sprint(before[i]) {
					t.Errorf("Reconcile modified its input task %s", tk.ID)
				}
			}
		})
	}
}
