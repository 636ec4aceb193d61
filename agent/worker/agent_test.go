package worker

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

var up = []swarm.TaskState{
	swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady,
	swarm.TaskStateStarting, swarm.TaskStateRunning,
}

const sleeper = "exec sleep 300"

func checkStates(t *testing.T, d *fakeDispatcher, id string, want ...swarm.TaskState) {
	t.Helper()
	if got := d.states(id); !slices.Equal(got, want) {
		t.Errorf("task %s reported %v, want %v", id, got, want)
	}
}

// Assigned tasks run and every state is reported once, in order, with a
// time; a desired shutdown stops the process; a task gone from the set is
// stopped and removed.
func TestRunsAssignedTasks(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	d.setTask(execTask("t1", sleeper))
	d.setTask(execTask("t2", sleeper))
	n := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})

	d.waitState(t, "t1", swarm.TaskStateRunning)
	d.waitState(t, "t2", swarm.TaskStateRunning)
	checkStates(t, d, "t1", up...)
	checkStates(t, d, "t2", up...)
	d.mu.Lock()
	last := map[string]time.Time{}
	for _, u := range d.updates {
		ts := u.Status.Timestamp
		if ts.IsZero() || ts.Before(last[u.TaskID]) {
			t.Errorf("task %s status %s has time %v after %v", u.TaskID, u.Status.State, ts, last[u.TaskID])
		}
		last[u.TaskID] = ts
	}
	reg := d.registrations[0]
	d.mu.Unlock()
	if reg.Addr != "127.0.0.1:4243" || reg.Description.Hostname != "node1" {
		t.Errorf("registered %+v, want the node's address and description", reg)
	}

	pid1, pid2 := pidOf(t, n.exec, "t1"), pidOf(t, n.exec, "t2")
	if !alive(pid1) || !alive(pid2) {
		t.Fatalf("processes %d and %d should run", pid1, pid2)
	}
	d.setDesired("t1", swarm.TaskStateShutdown)
	d.waitState(t, "t1", swarm.TaskStateShutdown)
	checkStates(t, d, "t1", append(up, swarm.TaskStateShutdown)...)
	if alive(pid1) {
		t.Errorf("t1's process %d still runs after shutdown was reported", pid1)
	}

	d.removeTask("t2")
	eventually(t, "t2 removed", &n.rec.sig, n.rec.called("remove t2"))
	if alive(pid2) {
		t.Errorf("t2's process %d still runs after the task left the set", pid2)
	}
	if pidOf(t, n.exec, "t2") != 0 {
		t.Error("t2's task directory is still there")
	}
	if n.rec.called("remove t1")() {
		t.Error("t1 was removed though it is still assigned")
	}
	if pidOf(t, n.exec, "t1") == 0 {
		t.Error("t1's task directory went though the task is still assigned")
	}
}

// An agent killed while its tasks run leaves them running; the next one
// adopts the assigned task's process (same pid, never restarted, no status
// reported) and removes those of tasks no longer assigned.
func TestAdoptsAfterRestart(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	d.setTask(execTask("t1", sleeper))
	d.setTask(execTask("t2", sleeper))
	n1 := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	d.waitState(t, "t1", swarm.TaskStateRunning)
	d.waitState(t, "t2", swarm.TaskStateRunning)
	pid1, pid2 := pidOf(t, n1.exec, "t1"), pidOf(t, n1.exec, "t2")
	n1.kill(t)
	if !alive(pid1) || !alive(pid2) {
		t.Fatalf("the agent's end stopped its tasks (pids %d, %d)", pid1, pid2)
	}

	// While the agent is down, t2 goes; a task directory no store knows
	// lies beside them, prepared and never started.
	d.removeTask("t2")
	if err := n1.exec.Prepare(context.Background(), specOf(execTask("t9", sleeper))); err != nil {
		t.Fatal(err)
	}
	reported := len(d.states("t1"))

	n2 := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	eventually(t, "t1 followed", &n2.rec.sig, n2.rec.called("wait t1"))
	eventually(t, "t2 removed", &n2.rec.sig, n2.rec.called("remove t2"))
	eventually(t, "t9 removed", &n2.rec.sig, n2.rec.called("remove t9"))
	if got := pidOf(t, n2.exec, "t1"); got != pid1 || !alive(pid1) {
		t.Errorf("t1 runs as pid %d (alive %v), want the adopted %d", got, alive(got), pid1)
	}
	for _, c := range n2.rec.Calls() {
		if c == "prepare t1" || c == "start t1" {
			t.Errorf("the new agent called %q on an adopted task", c)
		}
	}
	if alive(pid2) || pidOf(t, n2.exec, "t2") != 0 || pidOf(t, n2.exec, "t9") != 0 {
		t.Errorf("the orphans t2 (pid %d, alive %v) and t9 are not all gone", pid2, alive(pid2))
	}
	if got := d.states("t1")[reported:]; len(got) != 0 {
		t.Errorf("the adopted t1 reported %v, want nothing", got)
	}

	// The new agent owns the process: shutdown stops it.
	d.setDesired("t1", swarm.TaskStateShutdown)
	d.waitState(t, "t1", swarm.TaskStateShutdown)
	if got := d.states("t1")[reported:]; !slices.Equal(got, []swarm.TaskState{swarm.TaskStateShutdown}) {
		t.Errorf("the adopted t1 reported %v, want [shutdown]", got)
	}
	if alive(pid1) {
		t.Errorf("t1's process %d survived its shutdown", pid1)
	}
}

// The agent asks the managers in turn (the first is down), follows the
// follower's leader header, and keeps its session with the leader.
func TestFollowsLeader(t *testing.T) {
	tp := newTLS(t)
	leader := newDispatcher(t, tp)
	follower := newDispatcher(t, tp)
	follower.change(func(d *fakeDispatcher) { d.leader = leader.addr })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cleanupTasks(t, dir)
	leader.setTask(execTask("t1", sleeper))
	startNode(t, tp, dir, nodeOpts{managers: []string{down, follower.addr}})

	leader.waitState(t, "t1", swarm.TaskStateRunning)
	checkStates(t, leader, "t1", up...)
	leader.mu.Lock()
	regs := len(leader.registrations)
	leader.mu.Unlock()
	follower.mu.Lock()
	fregs := len(follower.registrations)
	follower.mu.Unlock()
	if regs != 1 || fregs != 0 {
		t.Errorf("registrations: leader %d, follower %d; want 1 and 0", regs, fregs)
	}
}

// A manager that forgot the session answers 404: the agent registers
// again and goes on, in the new session.
func TestRegistersAgainOnUnknownSession(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	d.setTask(execTask("t1", sleeper))
	startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	d.waitState(t, "t1", swarm.TaskStateRunning)

	d.change(func(d *fakeDispatcher) {
		clear(d.sessions) // as a new leader knows none
		for i := range d.tasks {
			d.tasks[i].DesiredState = swarm.TaskStateShutdown
		}
	})
	d.waitState(t, "t1", swarm.TaskStateShutdown)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.registrations) != 2 {
		t.Errorf("%d registrations, want 2", len(d.registrations))
	}
	lastUpdate := d.updates[len(d.updates)-1]
	if lastUpdate.TaskID != "t1" || lastUpdate.Status.State != swarm.TaskStateShutdown || lastUpdate.session != "sess2" {
		t.Errorf("last update %+v, want t1 shutdown in sess2", lastUpdate)
	}
	if d.callsBySess["sess2"] == 0 {
		t.Error("the new session never polled its assignments")
	}
}

// Each task's runtime Spec carries its service and exactly the secrets and
// configs it references; a reference the node was not sent rejects the
// task with an error naming it.
func TestSpecCarriesExactlyReferencedData(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	secretRef := func(id, name string) *swarm.SecretReference {
		return &swarm.SecretReference{SecretID: id, SecretName: name, File: &swarm.SecretReferenceFileTarget{Name: name, Mode: 0o400}}
	}
	t1 := execTask("t1", sleeper)
	t1.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("s1", "db_pw")}
	t1.Spec.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "c1", ConfigName: "nginx.conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx.conf"}}}
	t2 := execTask("t2", sleeper)
	t2.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("s2", "api_key")}
	t3 := execTask("t3", sleeper)
	t3.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{secretRef("s9", "lost")}
	endpoint := &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}}
	d.change(func(d *fakeDispatcher) {
		d.tasks = []swarm.Task{t1, t2, t3}
		d.services["svc1"] = api.AssignedService{Name: "web", Endpoint: endpoint, Auth: "creds"}
		d.secrets = []api.AssignedData{{ID: "s1", Name: "db_pw", Data: []byte("one")}, {ID: "s2", Name: "api_key", Data: []byte("two")}, {ID: "s3", Name: "other", Data: []byte("three")}}
		d.configs = []api.AssignedData{{ID: "c1", Name: "nginx.conf", Data: []byte("conf")}, {ID: "c2", Name: "unused", Data: []byte("x")}}
	})
	n := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	eventually(t, "t1 and t2 prepared", &n.rec.sig, func() bool {
		return n.rec.called("prepare t1")() && n.rec.called("prepare t2")()
	})
	d.waitState(t, "t3", swarm.TaskStateRejected)

	n.rec.mu.Lock()
	s1, s2 := n.rec.specs["t1"], n.rec.specs["t2"]
	_, prepared3 := n.rec.specs["t3"]
	n.rec.mu.Unlock()
	if s1.Service != "web" || s1.Endpoint == nil || len(s1.Endpoint.Ports) != 1 || s1.Endpoint.Ports[0].PublishedPort != 8080 || s1.Auth != "creds" {
		t.Errorf("t1 spec service %q endpoint %+v auth %q, want web, its endpoint and its registry auth", s1.Service, s1.Endpoint, s1.Auth)
	}
	checkData(t, "t1 secrets", s1.Secrets, map[string]string{"s1": "one"})
	checkData(t, "t1 configs", s1.Configs, map[string]string{"c1": "conf"})
	checkData(t, "t2 secrets", s2.Secrets, map[string]string{"s2": "two"})
	checkData(t, "t2 configs", s2.Configs, nil)
	if prepared3 {
		t.Error("t3 reached the runtime without its secret")
	}
	checkStates(t, d, "t3", swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateRejected)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, tk := range d.tasks {
		if tk.ID == "t3" && !strings.Contains(tk.Status.Err, "secret lost (s9)") {
			t.Errorf("t3's error %q does not name the missing secret", tk.Status.Err)
		}
	}
}

func checkData(t *testing.T, what string, got map[string][]byte, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %v", what, len(got), want)
	}
	for id, w := range want {
		if !bytes.Equal(got[id], []byte(w)) {
			t.Errorf("%s[%s] = %q, want %q", what, id, got[id], w)
		}
	}
}

// A task asking for a runtime the node lacks is rejected with an error
// naming the label and the runtimes the node has.
func TestUnknownDriverRejects(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	tk := execTask("t1", sleeper)
	delete(tk.Spec.ContainerSpec.Labels, api.LabelDriver) // docker, by default
	d.setTask(tk)
	n := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	d.waitState(t, "t1", swarm.TaskStateRejected)
	checkStates(t, d, "t1", swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateRejected)
	d.mu.Lock()
	msg := d.tasks[0].Status.Err
	d.mu.Unlock()
	for _, want := range []string{`"docker"`, api.LabelDriver, "exec"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", msg, want)
		}
	}
	if len(n.rec.Calls()) != 0 {
		t.Errorf("the exec runtime got %v for a docker task", n.rec.Calls())
	}
}

// A promoted node is told once, however many replies name its new role.
func TestOnRole(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	d.change(func(d *fakeDispatcher) {
		d.role = swarm.NodeRoleManager
		d.period = 50 * time.Millisecond // several replies
	})
	roles := make(chan swarm.NodeRole, 10)
	startNode(t, tp, t.TempDir(), nodeOpts{managers: []string{d.addr}, onRole: func(r swarm.NodeRole) { roles <- r }})
	eventually(t, "three assignment replies", &d.sig, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.callsBySess["sess1"] >= 3
	})
	if got := len(roles); got != 1 {
		t.Fatalf("OnRole called %d times, want 1", got)
	}
	if r := <-roles; r != swarm.NodeRoleManager {
		t.Errorf("OnRole(%s), want manager", r)
	}
}

// The same Agent may Run again after its context ended: it adopts its
// tasks afresh and controls them.
func TestRunAgain(t *testing.T) {
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	dir := t.TempDir()
	cleanupTasks(t, dir)
	d.setTask(execTask("t1", sleeper))
	n := startNode(t, tp, dir, nodeOpts{managers: []string{d.addr}})
	d.waitState(t, "t1", swarm.TaskStateRunning)
	pid := pidOf(t, n.exec, "t1")
	n.kill(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.agent.Run(ctx) }()
	defer func() { cancel(); <-done }()
	d.setDesired("t1", swarm.TaskStateShutdown)
	d.waitState(t, "t1", swarm.TaskStateShutdown)
	checkStates(t, d, "t1", append(up, swarm.TaskStateShutdown)...)
	if alive(pid) {
		t.Errorf("t1's process %d survived its shutdown", pid)
	}
}
