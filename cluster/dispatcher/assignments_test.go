package dispatcher

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

func TestAssignmentsAreExactlyTheNodesTasksAndTheirData(t *testing.T) {
	objs := []any{
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("w2", swarm.NodeRoleWorker, swarm.NodeStateReady),
		service("svcA", "shop_web", 8080),
		service("svcB", "shop_db", 0),
	}
	for i := 1; i <= 6; i++ {
		objs = append(objs, secret(fmt.Sprint("s", i)))
	}
	for i := 1; i <= 4; i++ {
		objs = append(objs, config(fmt.Sprint("c", i)))
	}
	objs = append(objs,
		task("a1", "svcA", "w1", swarm.TaskStateRunning, []string{"s1", "s2"}, []string{"c1"}),
		task("a2", "svcA", "w1", swarm.TaskStateRunning, []string{"s2"}, []string{"c1"}),
		task("a3", "svcB", "w1", swarm.TaskStateShutdown, []string{"s3"}, []string{"c2"}), // dead: none of its data
		task("a4", "svcB", "w1", swarm.TaskStateReady, []string{"s4"}, nil),               // before running: it may still run
		task("a5", "svcB", "w1", swarm.TaskStateRemove, []string{"s5"}, nil),
		task("b1", "svcA", "w2", swarm.TaskStateRunning, []string{"s6"}, []string{"c3"}),
		task("p1", "svcA", "", swarm.TaskStateRunning, []string{"s6", "s5"}, []string{"c4"}), // pending: nobody's
	)
	h := newHarness(t, nil, objs...)

	w1 := h.poll("w1", h.register("w1").SessionID)
	if got := taskIDs(w1.Tasks); !slices.Equal(got, []string{"a1", "a2", "a3", "a4", "a5"}) {
		t.Errorf("w1 tasks = %v", got)
	}
	if got := dataIDs(w1.Secrets); !slices.Equal(got, []string{"s1", "s2", "s4"}) {
		t.Errorf("w1 secrets = %v, want exactly s1 s2 s4", got)
	}
	for _, s := range w1.Secrets {
		if string(s.Data) != "secret of "+s.ID || s.Name != s.ID {
			t.Errorf("secret %s sent as %q (%q): want its decrypted data under its name", s.ID, s.Data, s.Name)
		}
	}
	if got := dataIDs(w1.Configs); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("w1 configs = %v, want exactly c1", got)
	}
	if c := w1.Configs[0]; string(c.Data) != "config of c1" || c.Name != "c1" {
		t.Errorf("config sent as %+v", c)
	}
	if len(w1.Services) != 2 || w1.Services["svcA"].Name != "shop_web" || w1.Services["svcB"].Name != "shop_db" ||
		w1.Services["svcA"].Endpoint == nil || w1.Services["svcA"].Endpoint.Ports[0].PublishedPort != 8080 || w1.Services["svcB"].Endpoint != nil {
		t.Errorf("w1 services = %+v", w1.Services)
	}
	if w1.Role != swarm.NodeRoleWorker || !slices.Equal(w1.Managers, testManagers) || w1.Sequence == 0 {
		t.Errorf("w1 role %q, managers %v, sequence %d", w1.Role, w1.Managers, w1.Sequence)
	}

	w2 := h.poll("w2", h.register("w2").SessionID)
	if got := taskIDs(w2.Tasks); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("w2 tasks = %v", got)
	}
	if got, cfgs := dataIDs(w2.Secrets), dataIDs(w2.Configs); !slices.Equal(got, []string{"s6"}) || !slices.Equal(cfgs, []string{"c3"}) {
		t.Errorf("w2 secrets %v configs %v, want exactly s6 and c3", got, cfgs)
	}
	if _, ok := w2.Services["svcB"]; ok || len(w2.Services) != 1 {
		t.Errorf("w2 services = %v, want svcA only", w2.Services)
	}
}

func TestAssignmentsSkipWhatCannotBeSent(t *testing.T) {
	bad := secret("garbled")
	bad.Spec.Data = []byte("plaintext that is not sealed")
	h := newHarness(t, nil,
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		service("svcA", "web", 0), secret("ok"), bad,
		task("a1", "svcA", "w1", swarm.TaskStateRunning, []string{"ok", "garbled", "missing"}, []string{"missing-config"}),
		task("orphan", "svc-gone", "w1", swarm.TaskStateRunning, nil, nil))
	asg := h.poll("w1", h.register("w1").SessionID)
	if got := dataIDs(asg.Secrets); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("secrets = %v, want only the one that exists and opens", got)
	}
	if len(asg.Configs) != 0 || len(asg.Tasks) != 2 || len(asg.Services) != 1 {
		t.Errorf("configs %v, tasks %v, services %v", asg.Configs, taskIDs(asg.Tasks), asg.Services)
	}
}

// TestAssignmentsProperty checks "exactly" over random placements: each
// node gets its tasks and the union of the secrets and configs of those
// of them meant to run, computed here independently.
func TestAssignmentsProperty(t *testing.T) {
	desired := []swarm.TaskState{swarm.TaskStateNew, swarm.TaskStateReady, swarm.TaskStateRunning, swarm.TaskStateShutdown, swarm.TaskStateRemove, swarm.TaskStateComplete}
	nodes := []string{"n0", "n1", "n2"}
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		objs := []any{service("svc", "web", 0)}
		for _, n := range nodes {
			objs = append(objs, node(n, swarm.NodeRoleWorker, swarm.NodeStateReady))
		}
		for i := range 8 {
			objs = append(objs, secret(fmt.Sprint("s", i)))
		}
		for i := range 5 {
			objs = append(objs, config(fmt.Sprint("c", i)))
		}
		wantTasks, wantSecrets, wantConfigs := map[string][]string{}, map[string][]string{}, map[string][]string{}
		for i := range 25 {
			on := append([]string{""}, nodes...)[r.IntN(len(nodes)+1)]
			state := desired[r.IntN(len(desired))]
			var secs, cfgs []string
			for range r.IntN(3) {
				secs = append(secs, fmt.Sprint("s", r.IntN(8)))
			}
			for range r.IntN(2) {
				cfgs = append(cfgs, fmt.Sprint("c", r.IntN(5)))
			}
			id := fmt.Sprint("t", i)
			objs = append(objs, task(id, "svc", on, state, secs, cfgs))
			wantTasks[on] = append(wantTasks[on], id)
			if state == swarm.TaskStateNew || state == swarm.TaskStateReady || state == swarm.TaskStateRunning {
				wantSecrets[on] = append(wantSecrets[on], secs...)
				wantConfigs[on] = append(wantConfigs[on], cfgs...)
			}
		}
		h := newHarness(t, nil, objs...)
		for _, n := range nodes {
			asg := h.poll(n, h.register(n).SessionID)
			norm := func(xs []string) []string {
				xs = slices.Clone(xs)
				slices.Sort(xs)
				return append([]string{}, slices.Compact(xs)...)
			}
			if got, want := taskIDs(asg.Tasks), norm(wantTasks[n]); !slices.Equal(got, want) {
				t.Fatalf("seed %d node %s: tasks %v, want %v", seed, n, got, want)
			}
			if got, want := dataIDs(asg.Secrets), norm(wantSecrets[n]); !slices.Equal(got, want) {
				t.Fatalf("seed %d node %s: secrets %v, want exactly %v", seed, n, got, want)
			}
			if got, want := dataIDs(asg.Configs), norm(wantConfigs[n]); !slices.Equal(got, want) {
				t.Fatalf("seed %d node %s: configs %v, want exactly %v", seed, n, got, want)
			}
		}
	}
}

type pollResult struct {
	asg api.Assignments
	err error
}

// longPoll starts a long poll and returns where its answer arrives.
func (h *harness) longPoll(ctx context.Context, nodeID, session string, since uint64) <-chan pollResult {
	out := make(chan pollResult, 1)
	go func() {
		asg, err := h.d.Assignments(ctx, nodeID, api.AssignmentsRequest{SessionID: session, Since: since})
		out <- pollResult{asg, err}
	}()
	return out
}

func wait(t *testing.T, ch <-chan pollResult) pollResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll never answered")
		return pollResult{}
	}
}

func TestAssignmentsLongPoll(t *testing.T) {
	// A period far longer than the test: only changes can end the polls.
	h := newHarness(t, func(c *Config) { c.HeartbeatPeriod = time.Hour },
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("w2", swarm.NodeRoleWorker, swarm.NodeStateReady),
		service("svc", "web", 0), secret("s1"),
		task("a1", "svc", "w1", swarm.TaskStateRunning, []string{"s1"}, nil))
	sess := h.register("w1").SessionID
	first := h.poll("w1", sess)
	if again := h.poll("w1", sess); again.Sequence != first.Sequence {
		t.Errorf("an unchanged set got sequence %d, then %d", first.Sequence, again.Sequence)
	}

	polled := h.longPoll(context.Background(), "w1", sess, first.Sequence)
	// Neither another node's task, nor the node's own status report, nor
	// an unrelated service change what w1 must do.
	h.propose(store.Create(task("b1", "svc", "w2", swarm.TaskStateRunning, nil, nil)))
	h.propose(store.SetTaskStatus("a1", "w1", status(swarm.TaskStateRunning, time.Second)))
	h.propose(store.Create(service("other", "db", 0)))
	// This does.
	h.propose(store.Create(task("a2", "svc", "w1", swarm.TaskStateRunning, nil, nil)))
	r := wait(t, polled)
	if r.err != nil || r.asg.Sequence != first.Sequence+1 || !slices.Equal(taskIDs(r.asg.Tasks), []string{"a1", "a2"}) {
		t.Fatalf("long poll = seq %d tasks %v (%v); want seq %d with a1 a2: it must wake for the new task only", r.asg.Sequence, taskIDs(r.asg.Tasks), r.err, first.Sequence+1)
	}
	cur := r.asg.Sequence

	// Shutting a1 down: the set changes, and s1 is no longer sent.
	polled = h.longPoll(context.Background(), "w1", sess, cur)
	a1 := *h.task("a1")
	a1.DesiredState = swarm.TaskStateShutdown
	h.propose(store.Update(&a1, a1.Version.Index))
	r = wait(t, polled)
	if r.err != nil || r.asg.Sequence != cur+1 || len(r.asg.Secrets) != 0 {
		t.Fatalf("after shutting a1 down: seq %d secrets %v (%v)", r.asg.Sequence, dataIDs(r.asg.Secrets), r.err)
	}
	cur = r.asg.Sequence

	// A task deleted from the store leaves the set.
	polled = h.longPoll(context.Background(), "w1", sess, cur)
	h.propose(store.Delete(store.TableTasks, "a1", 0))
	r = wait(t, polled)
	if r.err != nil || !slices.Equal(taskIDs(r.asg.Tasks), []string{"a2"}) {
		t.Fatalf("after deleting a1: tasks %v (%v)", taskIDs(r.asg.Tasks), r.err)
	}
	cur = r.asg.Sequence

	// A promotion reaches the node.
	polled = h.longPoll(context.Background(), "w1", sess, cur)
	n := *h.node("w1")
	n.Spec.Role = swarm.NodeRoleManager
	h.propose(storeUpdate(&n))
	if r = wait(t, polled); r.err != nil || r.asg.Role != swarm.NodeRoleManager {
		t.Fatalf("after a promotion: role %q (%v)", r.asg.Role, r.err)
	}

	// An older sequence is answered at once.
	if got := h.poll("w1", sess); got.Sequence != r.asg.Sequence {
		t.Errorf("poll now = seq %d, want %d", got.Sequence, r.asg.Sequence)
	}
	r = wait(t, h.longPoll(context.Background(), "w1", sess, first.Sequence))
	if r.err != nil || r.asg.Sequence != cur+1 {
		t.Errorf("a poll since an old sequence = seq %d (%v), want the current %d at once", r.asg.Sequence, r.err, cur+1)
	}
}

func TestAssignmentsLongPollEnds(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HeartbeatPeriod = 20 * time.Millisecond },
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	sess := h.register("w1").SessionID
	first := h.poll("w1", sess)

	// After one heartbeat period, the same set.
	r := wait(t, h.longPoll(context.Background(), "w1", sess, first.Sequence))
	if r.err != nil || r.asg.Sequence != first.Sequence {
		t.Errorf("after a quiet period: seq %d (%v), want %d", r.asg.Sequence, r.err, first.Sequence)
	}

	// With its caller.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := wait(t, h.longPoll(ctx, "w1", sess, first.Sequence)); !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled poll: %v", r.err)
	}

	// With the term: Run ending stops the dispatcher.
	h.d.cfg.HeartbeatPeriod = time.Hour
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { h.d.Run(runCtx); close(ran) }()
	polled := h.longPoll(context.Background(), "w1", sess, first.Sequence)
	stop()
	<-ran
	if r := wait(t, polled); !errors.Is(r.err, ErrStopped) {
		t.Errorf("poll across the end of the term: %v, want ErrStopped", r.err)
	}
	if _, err := h.d.Register(context.Background(), "w1", "10.0.0.1:1", api.SessionRequest{}); !errors.Is(err, ErrStopped) {
		t.Errorf("register after the term: %v, want ErrStopped", err)
	}
}

func TestAssignmentsCarryTheServicesRegistryAuth(t *testing.T) {
	withAuth := service("svcA", "shop_web", 0)
	withAuth.Spec.Labels = map[string]string{api.LabelRegistryAuth: base64.StdEncoding.EncodeToString(sealed("creds"))}
	forged := service("svcB", "shop_db", 0)
	forged.Spec.Labels = map[string]string{api.LabelRegistryAuth: base64.StdEncoding.EncodeToString([]byte("not sealed"))}
	h := newHarness(t, nil,
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady), withAuth, forged,
		task("a1", "svcA", "w1", swarm.TaskStateRunning, nil, nil),
		task("b1", "svcB", "w1", swarm.TaskStateRunning, nil, nil),
	)
	asg := h.poll("w1", h.register("w1").SessionID)
	if got := asg.Services["svcA"].Auth; got != "creds" {
		t.Errorf("svcA's registry auth = %q, want the opened credentials", got)
	}
	if got := asg.Services["svcB"].Auth; got != "" {
		t.Errorf("svcB's registry auth = %q: credentials that do not open must not be sent", got)
	}
}
