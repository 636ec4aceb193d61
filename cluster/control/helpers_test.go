package control

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// Builders keep the cases to what each is about.

type nodeOpt func(*swarm.Node)

func node(id string, opts ...nodeOpt) *swarm.Node {
	n := &swarm.Node{ID: id}
	n.Spec.Role = swarm.NodeRoleWorker
	n.Spec.Availability = swarm.NodeAvailabilityActive
	n.Spec.Labels = map[string]string{}
	n.Status.State = swarm.NodeStateReady
	n.Description.Hostname = "host-" + id
	n.Description.Platform = swarm.Platform{OS: "linux", Architecture: "x86_64"}
	n.Description.Resources = swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}
	for _, o := range opts {
		o(n)
	}
	return n
}

func label(k, v string) nodeOpt { return func(n *swarm.Node) { n.Spec.Labels[k] = v } }
func avail(a swarm.NodeAvailability) nodeOpt {
	return func(n *swarm.Node) { n.Spec.Availability = a }
}
func down(n *swarm.Node)    { n.Status.State = swarm.NodeStateDown }
func manager(n *swarm.Node) { n.Spec.Role = swarm.NodeRoleManager }
func resources(cpus float64, mem int64, generic ...swarm.GenericResource) nodeOpt {
	return func(n *swarm.Node) {
		n.Description.Resources = swarm.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem, GenericResources: generic}
	}
}

type svcOpt func(*swarm.Service)

func service(id string, opts ...svcOpt) *swarm.Service {
	s := &swarm.Service{ID: id}
	s.Spec.Name = "svc-" + id
	s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "app:1"}
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(1))}
	for _, o := range opts {
		o(s)
	}
	return s
}

func replicas(n uint64) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	}
}
func global(s *swarm.Service) { s.Spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}} }
func constraints(cs ...string) svcOpt {
	return func(s *swarm.Service) { s.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: cs} }
}
func reserve(cpus float64, mem int64) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}}
	}
}
func restartDelay(d time.Duration) svcOpt {
	return func(s *swarm.Service) {
		s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &d}
	}
}

// task builds a task of s created at t0+age seconds.
func task(s *swarm.Service, id string, slot int, nodeID string, state, desired swarm.TaskState, age int) *swarm.Task {
	ts := t0.Add(time.Duration(age) * time.Second)
	t := &swarm.Task{
		ID: id, ServiceID: s.ID, Slot: slot, NodeID: nodeID,
		Spec:         s.Spec.TaskTemplate,
		Status:       swarm.TaskStatus{State: state, Timestamp: ts},
		DesiredState: desired,
	}
	t.CreatedAt = ts
	t.Meta.Version.Index = uint64(100 + age)
	return t
}

func running(s *swarm.Service, id string, slot int, nodeID string, age int) *swarm.Task {
	return task(s, id, slot, nodeID, swarm.TaskStateRunning, swarm.TaskStateRunning, age)
}

func counter(prefix string) func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("%s%d", prefix, n) }
}

// fakeClock is a manual clock whose timers fire when Advance passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	added  chan struct{} // closed and replaced when a timer is added
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, added: make(chan struct{})} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	close(c.added)
	c.added = make(chan struct{})
	return ch
}

// Advance moves the clock on by d and fires the timers it passes.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// waitTimer waits until a timer due at or before at is pending: the loop is
// asleep and waiting for it.
func (c *fakeClock) waitTimer(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		found := slices.ContainsFunc(c.timers, func(ft fakeTimer) bool { return !ft.at.After(at) })
		added := c.added
		c.mu.Unlock()
		if found {
			return
		}
		select {
		case <-added:
		case <-deadline:
			t.Fatalf("no timer due by %s was set within 10s", at.Format(time.RFC3339Nano))
		}
	}
}

// cluster is a store fed by a fake Raft: Propose applies at the next index,
// at the clock's time, and returns the store's error as Raft's Applier
// response would.
type cluster struct {
	st    *store.Store
	clock *fakeClock

	mu        sync.Mutex
	index     uint64
	proposals int
	// before, when set, runs (under mu) before a proposal of the loop is
	// applied: the writes that land while a proposal is in flight.
	before func()
}

func newCluster() *cluster {
	return &cluster{st: store.New(), clock: newFakeClock()}
}

func (c *cluster) apply(muts ...store.Mutation) error {
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return err
	}
	c.index++
	return c.st.Apply(c.index, c.clock.Now(), data)
}

// write applies muts outside the loop, as the API or an agent would.
func (c *cluster) write(t *testing.T, muts ...store.Mutation) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.apply(muts...); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) propose(ctx context.Context, data []byte) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.proposals++
	if c.before != nil {
		c.before()
	}
	c.index++
	return c.index, c.st.Apply(c.index, c.clock.Now(), data)
}

func (c *cluster) config() Config {
	return Config{
		Store:    c.st,
		Propose:  c.propose,
		Now:      c.clock.Now,
		After:    c.clock.After,
		NewID:    counter("task"),
		Debounce: -1,
	}
}

func (c *cluster) loop(t *testing.T) *Loop {
	t.Helper()
	l, err := New(c.config())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (c *cluster) snapshot(t *testing.T) *Snapshot {
	t.Helper()
	snap, err := Read(c.st)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func (c *cluster) tasks(t *testing.T, serviceID string) []*swarm.Task {
	t.Helper()
	var out []*swarm.Task
	for _, tk := range c.snapshot(t).Tasks {
		if tk.ServiceID == serviceID {
			out = append(out, tk)
		}
	}
	return out
}

// waitFor waits, without sleeping, until cond holds over the store.
func (c *cluster) waitFor(t *testing.T, what string, cond func(*Snapshot) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		_, changed, _ := c.st.Events(c.st.LastIndex())
		if cond(c.snapshot(t)) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// agentStep moves every placed task of the store one state toward its
// desired state as agents would, one batch per call.
func (c *cluster) agentStep(t *testing.T) {
	t.Helper()
	var muts []store.Mutation
	for _, tk := range c.snapshot(t).Tasks {
		var next swarm.TaskState
		switch {
		case !between(tk.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning):
			continue
		case rank(tk.DesiredState) > rank(swarm.TaskStateComplete):
			next = swarm.TaskStateShutdown
		case tk.Status.State == swarm.TaskStateAssigned:
			next = swarm.TaskStateAccepted
		case tk.Status.State == swarm.TaskStateAccepted && rank(tk.DesiredState) >= rank(swarm.TaskStateRunning):
			next = swarm.TaskStateRunning
		default:
			continue
		}
		cp := *tk
		cp.Status = swarm.TaskStatus{State: next, Timestamp: c.clock.Now()}
		muts = append(muts, store.Update(&cp, tk.Meta.Version.Index))
	}
	if len(muts) > 0 {
		c.write(t, muts...)
	}
}

func count(tasks []*swarm.Task, pred func(*swarm.Task) bool) int {
	n := 0
	for _, t := range tasks {
		if pred(t) {
			n++
		}
	}
	return n
}

func isRunning(t *swarm.Task) bool {
	return t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning
}
