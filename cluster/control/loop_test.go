package control

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{Propose: newCluster().propose}); err == nil {
		t.Error("a loop without a store was made")
	}
	if _, err := New(Config{Store: store.New()}); err == nil {
		t.Error("a loop without Propose was made")
	}
}

func TestSettleConvergesThenStops(t *testing.T) {
	c := newCluster()
	c.write(t, store.Create(node("n1")), store.Create(node("n2")), store.Create(service("web", replicas(3))))
	l := c.loop(t)
	res, err := l.Settle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Settled || res.Committed != 6 || res.Passes != 2 || res.Conflicts != 0 {
		t.Fatalf("first settle: %+v, want 3 creates and 3 assignments in one pass, then a quiet one", res)
	}
	tasks := c.tasks(t, "web")
	if n := count(tasks, func(tk *swarm.Task) bool { return tk.Status.State == swarm.TaskStateAssigned && tk.NodeID != "" }); n != 3 {
		t.Fatalf("%d of %d tasks assigned", n, len(tasks))
	}
	if res.Index != c.st.LastIndex() {
		t.Errorf("result index %d, store at %d", res.Index, c.st.LastIndex())
	}
	res, err = l.Settle(context.Background())
	if err != nil || !res.Settled || res.Committed != 0 || res.Passes != 1 {
		t.Fatalf("second settle: %+v, %v; want one quiet pass", res, err)
	}
}

// TestStalePlanIsReplanned lets an agent's status update land while the
// loop's proposal is in flight: the store refuses the stale batch and the
// next pass, from a fresh snapshot, commits.
func TestStalePlanIsReplanned(t *testing.T) {
	c := newCluster()
	web := service("web", replicas(2))
	c.write(t, store.Create(node("n1")), store.Create(web),
		store.Create(running(web, "w1", 1, "n1", 0)), store.Create(running(web, "w2", 2, "n1", 1)))
	scaled := *web
	scaled.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(1))}
	c.write(t, store.Update(&scaled, 1))

	bumped := false
	c.before = func() {
		if bumped {
			return
		}
		bumped = true
		w2, err := readTask(c.st, "w2")
		if err != nil {
			t.Error(err)
			return
		}
		cp := *w2
		cp.Status.Timestamp = c.clock.Now().Add(time.Second)
		if err := c.apply(store.Update(&cp, w2.Meta.Version.Index)); err != nil {
			t.Error(err)
		}
	}
	res, err := c.loop(t).Settle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 1 || !res.Settled || res.Committed != 1 {
		t.Fatalf("%+v: want one conflict, then the scale-down committed", res)
	}
	w2, _ := readTask(c.st, "w2")
	if w2.DesiredState != swarm.TaskStateRemove || !w2.Status.Timestamp.Equal(c.clock.Now().Add(time.Second)) {
		t.Fatalf("w2 desired %s, status %+v: the replanned update must keep the agent's status", w2.DesiredState, w2.Status)
	}
}

// TestRefusedBatchIsRechecked checks that one stale group does not hold
// back the groups proposed with it: the refused batch is checked against
// the store, and what is still valid is proposed again at once.
func TestRefusedBatchIsRechecked(t *testing.T) {
	c := newCluster()
	a, b := service("a", replicas(0)), service("b", replicas(0))
	c.write(t, store.Create(node("n1")), store.Create(a), store.Create(b),
		store.Create(running(a, "a1", 1, "n1", 0)), store.Create(running(b, "b1", 1, "n1", 1)))
	first := true
	c.before = func() {
		if !first {
			return
		}
		first = false
		b1, _ := readTask(c.st, "b1")
		cp := *b1
		cp.Status.Message = "re-reported"
		if err := c.apply(store.Update(&cp, b1.Meta.Version.Index)); err != nil {
			t.Error(err)
		}
	}
	l := c.loop(t)
	p, err := l.pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.committed != 1 || p.conflicts != 1 || c.proposals != 2 {
		t.Fatalf("pass committed %d, %d refused, %d proposals; want a1's update committed after the batch of both was refused",
			p.committed, p.conflicts, c.proposals)
	}
	a1, _ := readTask(c.st, "a1")
	b1, _ := readTask(c.st, "b1")
	if a1.DesiredState != swarm.TaskStateRemove || b1.DesiredState != swarm.TaskStateRunning {
		t.Fatalf("a1 desired %s, b1 desired %s", a1.DesiredState, b1.DesiredState)
	}
}

func TestBatchesAreBounded(t *testing.T) {
	c := newCluster()
	c.write(t, store.Create(node("n1")), store.Create(service("web", replicas(25))))
	cfg := c.config()
	cfg.MaxBatch = 10
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 25 creates and 25 assignments, 10 a proposal.
	if c.proposals != 6 {
		t.Fatalf("%d proposals, want 6", c.proposals)
	}
}

// TestUnknownOutcomeWaitsForBarrier fails a proposal the way a lost
// leadership does: the next Settle must first make sure the store holds
// everything committed, then plan again.
func TestUnknownOutcomeWaitsForBarrier(t *testing.T) {
	c := newCluster()
	c.write(t, store.Create(node("n1")), store.Create(service("web")))
	cfg := c.config()
	var barriers int
	cfg.Barrier = func(context.Context) error { barriers++; return nil }
	lost := errors.New("leadership lost while committing")
	fail := true
	cfg.Propose = func(ctx context.Context, data []byte) (uint64, error) {
		if fail {
			fail = false
			return 0, lost
		}
		return c.propose(ctx, data)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(context.Background()); !errors.Is(err, lost) {
		t.Fatalf("settle: %v, want the proposal's error", err)
	}
	if barriers != 1 {
		t.Fatalf("%d barriers before the first pass, want 1", barriers)
	}
	res, err := l.Settle(context.Background())
	if err != nil || !res.Settled || barriers != 2 {
		t.Fatalf("retry: %+v, %v, %d barriers; want a barrier, then convergence", res, err, barriers)
	}
}

// runLoop runs l until stop is called or the test ends, reporting each
// Settle on the returned channel. stop returns Run's error.
func runLoop(t *testing.T, l *Loop) (results <-chan settleReport, stop func() error) {
	t.Helper()
	ch := make(chan settleReport, 1000) // never full: a blocked report would stall the loop
	l.settled = func(r Result, err error) { ch <- settleReport{r, err} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = l.Run(ctx)
	}()
	stop = func() error {
		cancel()
		<-done
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return ch, stop
}

type settleReport struct {
	Result
	err error
}

// next returns the next Settle's result, which must not have failed.
func next(t *testing.T, results <-chan settleReport) Result {
	t.Helper()
	r, err := nextErr(t, results)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	return r
}

func nextErr(t *testing.T, results <-chan settleReport) (Result, error) {
	t.Helper()
	select {
	case r := <-results:
		return r.Result, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("no Settle within 10s")
		return Result{}, nil
	}
}

// TestRunCoalescesBursts changes the store three times while the loop
// debounces the first change: one Settle handles all three.
func TestRunCoalescesBursts(t *testing.T) {
	c := newCluster()
	web := service("web", replicas(1))
	c.write(t, store.Create(node("n1")), store.Create(web))
	cfg := c.config()
	cfg.Debounce = 50 * time.Millisecond
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	results, stop := runLoop(t, l)
	if r := next(t, results); r.Committed != 2 {
		t.Fatalf("first settle %+v, want one task created and assigned", r)
	}
	scale := func(n uint64) {
		sv, err := readService(c.st, "web")
		if err != nil {
			t.Fatal(err)
		}
		cp := *sv
		cp.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
		c.write(t, store.Update(&cp, sv.Meta.Version.Index))
	}
	scale(2)
	c.clock.waitTimer(t, c.clock.Now().Add(cfg.Debounce))
	scale(3)
	scale(4)
	c.clock.Advance(cfg.Debounce)
	if r := next(t, results); r.Committed != 6 || !r.Settled {
		t.Fatalf("settle after the burst: %+v, want three tasks created and assigned", r)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if len(results) != 0 {
		t.Fatalf("%d more Settles ran after the burst, want none", len(results))
	}
}

// TestRunWakesForRestartDelay fails a task whose restart policy delays the
// replacement: the loop must come back by itself when the delay ends.
func TestRunWakesForRestartDelay(t *testing.T) {
	c := newCluster()
	web := service("web", restartDelay(10*time.Second))
	c.write(t, store.Create(node("n1")), store.Create(web))
	results, _ := runLoop(t, c.loop(t))
	next(t, results)
	c.agentStep(t) // accepted
	c.agentStep(t) // running
	tasks := c.tasks(t, "web")
	if len(tasks) != 1 || !isRunning(tasks[0]) {
		t.Fatalf("tasks %v, want one running", tasks)
	}
	failed := *tasks[0]
	failed.Status = swarm.TaskStatus{State: swarm.TaskStateFailed, Timestamp: c.clock.Now(), Err: "exit 1"}
	c.write(t, store.Update(&failed, tasks[0].Meta.Version.Index))
	r := next(t, results)
	wantWake := c.clock.Now().Add(10 * time.Second)
	if !r.Wake.Equal(wantWake) {
		t.Fatalf("settle after the failure: %+v, want a wake at %v", r, wantWake)
	}
	c.clock.waitTimer(t, wantWake)
	c.clock.Advance(10 * time.Second)
	c.waitFor(t, "the replacement is promoted to running", func(s *Snapshot) bool {
		for _, tk := range s.Tasks {
			if tk.Labels[orchestrator.LabelRestartOf] == failed.ID && tk.DesiredState == swarm.TaskStateRunning {
				return true
			}
		}
		return false
	})
}

// TestNewLeaderContinues throws the loop away mid-delay, as a leader
// change does: a new loop finds the pending restart in the store alone.
func TestNewLeaderContinues(t *testing.T) {
	c := newCluster()
	web := service("web", restartDelay(10*time.Second))
	c.write(t, store.Create(node("n1")), store.Create(web),
		store.Create(task(web, "old", 1, "n1", swarm.TaskStateFailed, swarm.TaskStateRunning, 0)))
	res, err := c.loop(t).Settle(context.Background())
	if err != nil || res.Wake.IsZero() {
		t.Fatalf("first leader: %+v, %v; want a replacement waiting for its delay", res, err)
	}
	c.clock.Advance(3 * time.Second)
	second := c.loop(t)
	res2, err := second.Settle(context.Background())
	if err != nil || res2.Committed != 0 || !res2.Wake.Equal(res.Wake) {
		t.Fatalf("new leader before the delay: %+v, %v; want nothing to do and the same wake %v", res2, err, res.Wake)
	}
	c.clock.Advance(7 * time.Second)
	res3, err := second.Settle(context.Background())
	if err != nil || res3.Committed != 1 {
		t.Fatalf("new leader after the delay: %+v, %v; want the replacement promoted", res3, err)
	}
}

func TestRunBacksOffAfterErrors(t *testing.T) {
	c := newCluster()
	c.write(t, store.Create(node("n1")), store.Create(service("web")))
	cfg := c.config()
	failures := 2
	cfg.Propose = func(ctx context.Context, data []byte) (uint64, error) {
		c.mu.Lock()
		fail := failures > 0
		failures--
		c.mu.Unlock()
		if fail {
			return 0, errors.New("no quorum")
		}
		return c.propose(ctx, data)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	results, _ := runLoop(t, l)
	if _, err := nextErr(t, results); err == nil {
		t.Fatal("the first settle did not fail")
	}
	c.clock.waitTimer(t, c.clock.Now().Add(minBackoff))
	c.clock.Advance(minBackoff)
	if _, err := nextErr(t, results); err == nil {
		t.Fatal("the second settle did not fail")
	}
	c.clock.waitTimer(t, c.clock.Now().Add(2*minBackoff))
	c.clock.Advance(2 * minBackoff)
	if r := next(t, results); !r.Settled || r.Committed != 2 {
		t.Fatalf("after two failures: %+v, want the task created and assigned", r)
	}
}

func TestRelevant(t *testing.T) {
	sv := service("web")
	at := func(state, desired swarm.TaskState, nodeID string) *swarm.Task {
		return task(sv, "t", 1, nodeID, state, desired, 0)
	}
	update := func(old, cur *swarm.Task) store.Event {
		return store.Event{Table: store.TableTasks, Action: store.OpUpdate, Old: old, Object: cur}
	}
	cases := []struct {
		name string
		ev   store.Event
		want bool
	}{
		{"a secret", store.Event{Table: store.TableSecrets, Action: store.OpCreate}, false},
		{"a node", store.Event{Table: store.TableNodes, Action: store.OpUpdate}, true},
		{"a service", store.Event{Table: store.TableServices, Action: store.OpDelete}, true},
		{"the cluster", store.Event{Table: store.TableCluster, Action: store.OpUpdate}, true},
		{"a task created", store.Event{Table: store.TableTasks, Action: store.OpCreate}, true},
		{"progress", update(at(swarm.TaskStateAssigned, swarm.TaskStateRunning, "n1"), at(swarm.TaskStatePreparing, swarm.TaskStateRunning, "n1")), false},
		{"a re-report", update(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1"), at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1")), false},
		{"a task ended", update(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1"), at(swarm.TaskStateFailed, swarm.TaskStateRunning, "n1")), true},
		{"assigned", update(at(swarm.TaskStatePending, swarm.TaskStateRunning, ""), at(swarm.TaskStateAssigned, swarm.TaskStateRunning, "n1")), true},
		{"desired changed", update(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1"), at(swarm.TaskStateRunning, swarm.TaskStateShutdown, "n1")), true},
		{"a replacement runs", update(replacement(at(swarm.TaskStateStarting, swarm.TaskStateRunning, "n1")), replacement(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1"))), true},
		{"a replacement re-reports", update(replacement(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1")), replacement(at(swarm.TaskStateRunning, swarm.TaskStateRunning, "n1"))), false},
		{"a replacement progresses", update(replacement(at(swarm.TaskStateAssigned, swarm.TaskStateRunning, "n1")), replacement(at(swarm.TaskStateStarting, swarm.TaskStateRunning, "n1"))), false},
	}
	for _, c := range cases {
		if got := relevant(c.ev); got != c.want {
			t.Errorf("%s: relevant %v, want %v", c.name, got, c.want)
		}
	}
}

// replacement labels t as a rollout's replacement of another task.
func replacement(t *swarm.Task) *swarm.Task {
	t.Labels = map[string]string{deploy.LabelUpdateOf: "old"}
	return t
}

func readTask(st *store.Store, id string) (*swarm.Task, error) {
	var t *swarm.Task
	err := st.View(func(tx store.ReadTx) error {
		var err error
		t, err = tx.Task(id)
		return err
	})
	return t, err
}

func readService(st *store.Store, id string) (*swarm.Service, error) {
	var s *swarm.Service
	err := st.View(func(tx store.ReadTx) error {
		var err error
		s, err = tx.Service(id)
		return err
	})
	return s, err
}

// TestBatchNoStoreAcceptsIsDropped proposes a valid group with one no
// store accepts (a planner bug, not a race): the valid one commits, the
// bad one is dropped rather than retried forever.
func TestBatchNoStoreAcceptsIsDropped(t *testing.T) {
	c := newCluster()
	web := service("web")
	c.write(t, store.Create(node("n1")), store.Create(web),
		store.Create(running(web, "w1", 1, "n1", 0)), store.Create(running(web, "w2", 2, "n1", 0)))
	w1, _ := readTask(c.st, "w1")
	w2, _ := readTask(c.st, "w2")
	cp := *w1
	cp.DesiredState = swarm.TaskStateShutdown
	groups := [][]store.Mutation{
		{store.Update(&cp, w1.Meta.Version.Index)},
		{{Op: store.OpUpdate, Table: store.TableTasks, ID: "w2", Version: w2.Meta.Version.Index, Object: "not a task"}},
	}
	committed, refused, err := c.loop(t).propose(context.Background(), "test", groups)
	if err != nil || committed != 1 || refused != 2 {
		t.Fatalf("committed %d, refused %d, %v; want the valid group committed and the bad one dropped", committed, refused, err)
	}
	if w1, _ = readTask(c.st, "w1"); w1.DesiredState != swarm.TaskStateShutdown {
		t.Fatalf("w1 desired %s", w1.DesiredState)
	}
}
