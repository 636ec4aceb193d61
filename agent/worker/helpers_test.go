package worker

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	agentexec "github.com/swarmops/swarmops/agent/exec"
	"github.com/swarmops/swarmops/agent/executor"
	"github.com/swarmops/swarmops/agent/runtime"
	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
)

// waitLimit bounds every wait for a condition in these tests.
const waitLimit = 20 * time.Second

// signal wakes whoever waits for a condition whenever state changes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// eventually waits until cond holds, re-checking whenever sig fires (and
// every tick, for conditions outside the process such as a process's
// exit), and fails the test after waitLimit.
func eventually(t *testing.T, what string, sig *signal, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var woke <-chan struct{}
		if sig != nil {
			woke = sig.wait()
		}
		if cond() {
			return
		}
		select {
		case <-woke:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// tlsPair is one cluster's manager (server) and node (client) TLS configs.
type tlsPair struct {
	server, client *tls.Config
	root           *ca.RootCA
}

func newTLS(t *testing.T) tlsPair {
	t.Helper()
	now := time.Now()
	root, err := ca.NewRootCA(now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(id string, role ca.Role) *ca.Credentials {
		certPEM, keyPEM, err := root.IssueKeyPair(id, role, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := root.KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return ca.NewCredentials(pair)
	}
	return tlsPair{
		server: root.ServerConfig(issue("mgr1", ca.RoleManager)),
		client: root.ClientConfig(issue("node1", ca.RoleWorker)),
		root:   root,
	}
}

// update is one status update as the fake dispatcher received it.
type update struct {
	session string
	api.TaskStatusUpdate
}

// fakeDispatcher serves the dispatcher's protocol over mutual TLS, as a
// leader's would, from an in-memory set; or, with leader set, answers as a
// follower does.
type fakeDispatcher struct {
	t    *testing.T
	addr string
	sig  signal

	mu            sync.Mutex
	leader        string
	sessions      map[string]bool
	nextSession   int
	registrations []api.SessionRequest
	callsBySess   map[string]int
	seq           uint64
	tasks         []swarm.Task
	services      map[string]api.AssignedService
	secrets       []api.AssignedData
	configs       []api.AssignedData
	role          swarm.NodeRole
	managers      []string
	period        time.Duration
	updates       []update
}

func newDispatcher(t *testing.T, tp tlsPair) *fakeDispatcher {
	d := &fakeDispatcher{
		t: t, sessions: map[string]bool{}, callsBySess: map[string]int{},
		services: map[string]api.AssignedService{}, role: swarm.NodeRoleWorker, period: time.Second, seq: 1,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.SessionPath, d.session)
	mux.HandleFunc("POST "+api.AssignmentsPath, d.assignments)
	mux.HandleFunc("POST "+api.StatusPath, d.status)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = tls.NewListener(srv.Listener, tp.server)
	srv.Start()
	t.Cleanup(srv.Close)
	d.addr = srv.Listener.Addr().String()
	return d
}

func (d *fakeDispatcher) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// follower answers 503 naming the leader, if this dispatcher follows.
func (d *fakeDispatcher) follower(w http.ResponseWriter) bool {
	if d.leader == "" {
		return false
	}
	w.Header().Set(api.HeaderLeader, d.leader)
	d.reply(w, http.StatusServiceUnavailable, map[string]string{"message": "not the leader"})
	return true
}

func (d *fakeDispatcher) session(w http.ResponseWriter, r *http.Request) {
	var req api.SessionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		d.reply(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.sig.fire()
	if d.follower(w) {
		return
	}
	d.nextSession++
	id := fmt.Sprintf("sess%d", d.nextSession)
	d.sessions[id] = true
	d.registrations = append(d.registrations, req)
	d.reply(w, http.StatusOK, api.SessionReply{
		SessionID: id, NodeID: "node1", HeartbeatPeriod: d.period, Role: d.role, Managers: d.managers,
	})
}

func (d *fakeDispatcher) assignments(w http.ResponseWriter, r *http.Request) {
	var req api.AssignmentsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		d.reply(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	timeout := time.NewTimer(d.heartbeat())
	defer timeout.Stop()
	for {
		woke := d.sig.wait()
		d.mu.Lock()
		if d.follower(w) {
			d.mu.Unlock()
			return
		}
		if !d.sessions[req.SessionID] {
			d.mu.Unlock()
			d.reply(w, http.StatusNotFound, map[string]string{"message": "unknown session " + req.SessionID})
			return
		}
		if req.Since != d.seq {
			d.callsBySess[req.SessionID]++
			asg := api.Assignments{
				Sequence: d.seq, Tasks: slices.Clone(d.tasks), Services: d.services,
				Secrets: d.secrets, Configs: d.configs, Role: d.role, Managers: d.managers,
			}
			d.mu.Unlock()
			d.sig.fire()
			d.reply(w, http.StatusOK, asg)
			return
		}
		d.mu.Unlock()
		select {
		case <-woke:
		case <-timeout.C:
			req.Since = 0 // answer the same set: the heartbeat period is over
		case <-r.Context().Done():
			return
		}
	}
}

func (d *fakeDispatcher) heartbeat() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.period
}

func (d *fakeDispatcher) status(w http.ResponseWriter, r *http.Request) {
	var req api.StatusRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		d.reply(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.sig.fire()
	if d.follower(w) {
		return
	}
	if !d.sessions[req.SessionID] {
		d.reply(w, http.StatusNotFound, map[string]string{"message": "unknown session " + req.SessionID})
		return
	}
	for _, u := range req.Updates {
		d.updates = append(d.updates, update{session: req.SessionID, TaskStatusUpdate: u})
		// As the store does: the status moves forward only.
		for i := range d.tasks {
			if d.tasks[i].ID == u.TaskID && executor.Rank(u.Status.State) > executor.Rank(d.tasks[i].Status.State) {
				d.tasks[i].Status = u.Status
			}
		}
	}
	d.reply(w, http.StatusOK, struct{}{})
}

// change edits the set under the lock and numbers it anew.
func (d *fakeDispatcher) change(f func(d *fakeDispatcher)) {
	d.mu.Lock()
	f(d)
	d.seq++
	d.mu.Unlock()
	d.sig.fire()
}

func (d *fakeDispatcher) setTask(t swarm.Task) {
	d.change(func(d *fakeDispatcher) {
		for i := range d.tasks {
			if d.tasks[i].ID == t.ID {
				d.tasks[i] = t
				return
			}
		}
		d.tasks = append(d.tasks, t)
	})
}

func (d *fakeDispatcher) setDesired(id string, s swarm.TaskState) {
	d.change(func(d *fakeDispatcher) {
		for i := range d.tasks {
			if d.tasks[i].ID == id {
				d.tasks[i].DesiredState = s
			}
		}
	})
}

func (d *fakeDispatcher) removeTask(id string) {
	d.change(func(d *fakeDispatcher) {
		d.tasks = slices.DeleteFunc(d.tasks, func(t swarm.Task) bool { return t.ID == id })
	})
}

// states are the states reported for a task, in the order received.
func (d *fakeDispatcher) states(id string) []swarm.TaskState {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []swarm.TaskState
	for _, u := range d.updates {
		if u.TaskID == id {
			out = append(out, u.Status.State)
		}
	}
	return out
}

func (d *fakeDispatcher) reported(id string, s swarm.TaskState) func() bool {
	return func() bool { return slices.Contains(d.states(id), s) }
}

// waitState waits until the task's status in the set (the store) is s.
func (d *fakeDispatcher) waitState(t *testing.T, id string, s swarm.TaskState) {
	t.Helper()
	eventually(t, fmt.Sprintf("task %s %s", id, s), &d.sig, d.reported(id, s))
}

// recorder wraps a runtime, recording its calls and the specs it prepared.
type recorder struct {
	Runtime
	sig   signal
	mu    sync.Mutex
	calls []string
	specs map[string]runtime.Spec
}

func record(rt Runtime) *recorder { return &recorder{Runtime: rt, specs: map[string]runtime.Spec{}} }

func (r *recorder) note(call string) {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
	r.sig.fire()
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) called(call string) func() bool {
	return func() bool { return slices.Contains(r.Calls(), call) }
}

func (r *recorder) Prepare(ctx context.Context, s runtime.Spec) error {
	r.mu.Lock()
	r.specs[s.Task.ID] = s
	r.mu.Unlock()
	err := r.Runtime.Prepare(ctx, s)
	r.note("prepare " + s.Task.ID)
	return err
}

func (r *recorder) Start(ctx context.Context, id string) error {
	err := r.Runtime.Start(ctx, id)
	r.note("start " + id)
	return err
}

func (r *recorder) Wait(ctx context.Context, id string, h func(string)) error {
	r.note("wait " + id)
	return r.Runtime.Wait(ctx, id, h)
}

func (r *recorder) Stop(ctx context.Context, id string, g *time.Duration) error {
	err := r.Runtime.Stop(ctx, id, g)
	r.note("stop " + id)
	return err
}

func (r *recorder) Remove(ctx context.Context, id string) error {
	err := r.Runtime.Remove(ctx, id)
	r.note("remove " + id)
	return err
}

// execTask is a task of service svc1 running script under the exec
// runtime, desired running.
func execTask(id, script string) swarm.Task {
	grace := 2 * time.Second
	return swarm.Task{
		ID: id, ServiceID: "svc1", NodeID: "node1", Slot: 1, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStateAssigned, Message: "scheduler assigned task to node"},
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:           "busybox:latest",
			Command:         []string{"/bin/sh", "-c", script},
			Labels:          map[string]string{api.LabelDriver: "exec"},
			StopGracePeriod: &grace,
		}},
	}
}

func specOf(t swarm.Task) runtime.Spec { return runtime.Spec{Task: t, Service: "web"} }

// node is one agent process of the tests: its exec runtime on a state dir
// that outlives it, and Run in a goroutine.
type node struct {
	agent  *Agent
	exec   *agentexec.Runtime
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

type nodeOpts struct {
	managers []string
	onRole   func(swarm.NodeRole)
}

func startNode(t *testing.T, tp tlsPair, dir string, o nodeOpts) *node {
	t.Helper()
	ex := agentexec.New(dir, "node1")
	rec := record(Exec(ex))
	a, err := New(Config{
		Managers: o.managers, TLS: tp.client, Addr: "127.0.0.1:4243",
		Description: swarm.NodeDescription{Hostname: "node1"},
		Runtimes:    map[string]Runtime{"exec": rec},
		OnRole:      o.onRole,
		RetryMin:    10 * time.Millisecond, RetryMax: 100 * time.Millisecond, CallTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{agent: a, exec: ex, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- a.Run(ctx) }()
	t.Cleanup(func() { n.kill(t) })
	return n
}

// kill ends the agent the way kill -9 would for its tasks: nothing is
// stopped. It waits for Run to return.
func (n *node) kill(t *testing.T) {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		n.done <- nil // kill is idempotent
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context ended")
	}
}

// pidOf is the pid the exec runtime records for a task, 0 if none.
func pidOf(t *testing.T, ex *agentexec.Runtime, id string) int {
	t.Helper()
	owned, err := ex.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owned {
		if o.TaskID == id {
			return o.Pid
		}
	}
	return 0
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// cleanupTasks kills whatever task processes a failed test left under dir.
func cleanupTasks(t *testing.T, dir string) {
	t.Cleanup(func() {
		ex := agentexec.New(dir, "node1")
		owned, _ := ex.List(context.Background())
		for _, o := range owned {
			_ = ex.Remove(context.Background(), o.TaskID)
		}
	})
}
