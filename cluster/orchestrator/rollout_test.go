package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// rolling returns s updated to a new image with its rollout in progress
// since started, and the old spec as its previous one.
func rolling(s *swarm.Service, cfg *swarm.UpdateConfig, started time.Time) *swarm.Service {
	u := *s
	prev := s.Spec
	u.PreviousSpec = &prev
	u.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:2"}
	u.Spec.UpdateConfig = cfg
	u.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started, Message: deploy.MessageUpdating}
	u.Meta.Version.Index = 42
	return &u
}

func TestRolloutStartsWithTheStatusAlone(t *testing.T) {
	old := replicatedSvc(2)
	u := rolling(old, nil, t0)
	u.UpdateStatus = nil
	now := t0.Add(time.Minute)
	p := Reconcile(input(u, now, []*swarm.Node{ready("n1")}, running(old, "a", 1, "n1"), running(old, "b", 2, "n1")))
	assertPlan(t, p, expect{})
	if p.Service == nil || p.Service.UpdateStatus.State != swarm.UpdateStateUpdating || !p.Service.UpdateStatus.StartedAt.Equal(now) {
		t.Fatalf("service write %+v, want the rollout started at %v", p.Service, now)
	}
	if p.Service == u || p.Service.Meta.Version.Index != 42 || u.UpdateStatus != nil {
		t.Error("the service write must be a copy at the version read, leaving the input alone")
	}
}

func TestRolloutStopFirstReplacesOneSlotAtATime(t *testing.T) {
	old := replicatedSvc(2)
	u := rolling(old, nil, t0)
	now := t0.Add(time.Minute)
	nodes := []*swarm.Node{ready("n1")}
	a, b := running(old, "a", 1, "n1"), running(old, "b", 2, "n1")
	p := Reconcile(input(u, now, nodes, a, b))
	// Parallelism 1 (Swarm's default): slot 1 only; its replacement waits,
	// desired ready, for a to stop.
	assertPlan(t, p, expect{
		create:  []created{{1, "", stReady, ""}},
		desired: map[string]swarm.TaskState{"a": stShutdown},
		wake:    now.Add(oldTaskTimeout),
	})
	ra := p.Create[0]
	if ra.Labels[deploy.LabelUpdateOf] != "a" || ra.Labels[deploy.LabelRollout] != t0.UTC().Format(time.RFC3339Nano) || Dirty(u, ra) {
		t.Fatalf("replacement labels %v, dirty %v", ra.Labels, Dirty(u, ra))
	}
	if p.Service != nil {
		t.Errorf("no status change while the rollout moves: %+v", p.Service.UpdateStatus)
	}

	// a stopped: the replacement starts; slot 2 waits for it.
	a.DesiredState, a.Status.State = stShutdown, stShutdown
	ra.CreatedAt = now
	p = Reconcile(input(u, now.Add(time.Second), nodes, a, b, ra))
	assertPlan(t, p, expect{desired: map[string]swarm.TaskState{ra.ID: stRunning}})

	// The replacement runs: it is stamped as updated and slot 2 goes next.
	ra.DesiredState, ra.Status = stRunning, swarm.TaskStatus{State: stRunning, Timestamp: now.Add(2 * time.Second)}
	later := now.Add(3 * time.Second)
	in := input(u, later, nodes, a, b, ra)
	in.NewID = counter("next")
	p = Reconcile(in)
	assertPlan(t, p, expect{
		create:  []created{{2, "", stReady, ""}},
		desired: map[string]swarm.TaskState{"b": stShutdown, ra.ID: stRunning},
		wake:    later.Add(oldTaskTimeout),
	})
	for _, up := range p.Update {
		if up.ID == ra.ID && up.Labels[deploy.LabelUpdatedAt] != now.Add(2*time.Second).UTC().Format(time.RFC3339Nano) {
			t.Errorf("stamp %q", up.Labels[deploy.LabelUpdatedAt])
		}
	}
	if _, ok := ra.Labels[deploy.LabelUpdatedAt]; ok {
		t.Error("Reconcile changed its input's labels")
	}
}

func TestRolloutStartFirstOverlaps(t *testing.T) {
	old := replicatedSvc(1)
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst}, t0)
	now := t0.Add(time.Minute)
	nodes := []*swarm.Node{ready("n1")}
	a := running(old, "a", 1, "n1")
	p := Reconcile(input(u, now, nodes, a))
	// The replacement starts at once beside a, which keeps running.
	assertPlan(t, p, expect{create: []created{{1, "", stRunning, ""}}})
	ra := p.Create[0]
	ra.CreatedAt = now

	// a crashes while its replacement starts: the replacement serves the
	// slot, so a is not restarted.
	crashed := *a
	crashed.Status = swarm.TaskStatus{State: stFailed, Timestamp: now.Add(time.Second)}
	assertPlan(t, Reconcile(input(u, now.Add(time.Second), nodes, &crashed, ra)), expect{
		desired: map[string]swarm.TaskState{"a": stShutdown},
	})

	// The replacement runs: a is told to stop.
	ra.Status = swarm.TaskStatus{State: stRunning, Timestamp: now.Add(2 * time.Second)}
	assertPlan(t, Reconcile(input(u, now.Add(2*time.Second), nodes, a, ra)), expect{
		desired: map[string]swarm.TaskState{"a": stShutdown, ra.ID: stRunning},
	})
}

func TestRolloutPausedMovesNothing(t *testing.T) {
	old := replicatedSvc(2)
	u := rolling(old, nil, t0)
	u.UpdateStatus.State = swarm.UpdateStatePaused
	u.UpdateStatus.Message = "update paused due to failure or early termination of task x"
	now := t0.Add(time.Hour)
	p := Reconcile(input(u, now, []*swarm.Node{ready("n1")}, running(old, "a", 1, "n1"), running(old, "b", 2, "n1")))
	assertPlan(t, p, expect{})
	if p.Service != nil {
		t.Errorf("a paused rollout writes nothing: %+v", p.Service.UpdateStatus)
	}
	// A restart still makes a task of the current spec.
	failed := task(old, "a", 1, "n1", stFailed, stRunning, 3000)
	p = Reconcile(input(u, now, []*swarm.Node{ready("n1")}, failed, running(old, "b", 2, "n1")))
	if len(p.Create) != 1 || Dirty(u, p.Create[0]) || p.Create[0].Labels[LabelRestartOf] != "a" {
		t.Fatalf("restart during a paused rollout: %+v", p.Create)
	}
}

func TestRolloutFailureRollsBackToThePreviousSpec(t *testing.T) {
	old := replicatedSvc(2)
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionRollback}, t0)
	now := t0.Add(time.Minute)
	// Slot 1's replacement failed in its monitor window.
	repl := task(u, "r1", 1, "n1", stFailed, stRunning, 30)
	repl.Labels = map[string]string{deploy.LabelUpdateOf: "a", deploy.LabelRollout: t0.UTC().Format(time.RFC3339Nano)}
	a := task(old, "a", 1, "n1", stShutdown, stShutdown, 0)
	p := Reconcile(input(u, now, []*swarm.Node{ready("n1")}, a, repl, running(old, "b", 2, "n1")))
	sv := p.Service
	if sv == nil {
		t.Fatal("no service write")
	}
	if sv.Spec.TaskTemplate.ContainerSpec.Image != old.Spec.TaskTemplate.ContainerSpec.Image || sv.PreviousSpec != nil {
		t.Errorf("rolled back spec %+v, previous %v: want the previous spec, and none before it", sv.Spec.TaskTemplate.ContainerSpec, sv.PreviousSpec)
	}
	want := "update rolled back due to failure or early termination of task r1"
	if st := sv.UpdateStatus; st.State != swarm.UpdateStateRollbackStarted || st.Message != want || !st.StartedAt.Equal(t0) {
		t.Errorf("status %+v", st)
	}
	if u.PreviousSpec == nil || u.Spec.TaskTemplate.ContainerSpec.Image != "img:2" {
		t.Error("Reconcile changed its input service")
	}
	// The failed replacement is restarted as any task; no slot is replaced
	// while the rollback is being written.
	assertPlan(t, p, expect{
		create:  []created{{1, "", stReady, "r1"}},
		desired: map[string]swarm.TaskState{"r1": stShutdown},
		wake:    now.Add(5 * time.Second),
	})
}

func TestRolloutHealthyDeadlineFailsTheReplacement(t *testing.T) {
	old := replicatedSvc(1)
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionContinue}, t0)
	u.Spec.Labels = map[string]string{deploy.LabelHealthyDeadline: "30s"}
	repl := task(u, "r1", 1, "n1", swarm.TaskStateStarting, stRunning, 10)
	repl.Labels = map[string]string{deploy.LabelUpdateOf: "a", deploy.LabelRollout: t0.UTC().Format(time.RFC3339Nano)}
	now := t0.Add(40 * time.Second)
	p := Reconcile(input(u, now, []*swarm.Node{ready("n1")}, task(old, "a", 1, "n1", stShutdown, stShutdown, 0), repl))
	// Told to stop, with the reason on it, and restarted by its policy
	// once it has stopped.
	assertPlan(t, p, expect{
		create:  []created{{1, "", stReady, "r1"}},
		desired: map[string]swarm.TaskState{"r1": stShutdown},
		wake:    now.Add(5 * time.Second),
	})
	for _, up := range p.Update {
		if up.ID == "r1" && up.Labels[deploy.LabelFailed] == "" {
			t.Error("the failed replacement carries no reason")
		}
	}
}

func TestRolloutGlobalSkipsPausedNodes(t *testing.T) {
	old := globalSvc()
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 0}, t0)
	now := t0.Add(time.Minute)
	nodes := []*swarm.Node{ready("n1"), node("n2", swarm.NodeStateReady, swarm.NodeAvailabilityPause), ready("n3")}
	p := Reconcile(input(u, now, nodes, running(old, "g1", 0, "n1"), running(old, "g2", 0, "n2"), running(old, "g3", 0, "n3")))
	// Parallelism 0: every node at once, on its own node, but not the
	// paused one, which Swarm does not update.
	assertPlan(t, p, expect{
		create:  []created{{0, "n1", stReady, ""}, {0, "n3", stReady, ""}},
		desired: map[string]swarm.TaskState{"g1": stShutdown, "g3": stShutdown},
		wake:    now.Add(oldTaskTimeout),
	})
}

// TestRolloutGlobalPausedMidReplacementKeepsItsWorker: a node paused
// while the rollout's replacement on it is on its way does not free that
// replacement's worker: with parallelism 1 the next node waits.
func TestRolloutGlobalPausedMidReplacementKeepsItsWorker(t *testing.T) {
	old := globalSvc()
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 1}, t0)
	now := t0.Add(time.Minute)
	nodes := []*swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityPause), ready("n2")}
	repl := task(u, "r1", 0, "n1", swarm.TaskStateAssigned, stRunning, 50)
	repl.Labels = map[string]string{deploy.LabelUpdateOf: "g1", deploy.LabelRollout: t0.UTC().Format(time.RFC3339Nano)}
	p := Reconcile(input(u, now, nodes,
		task(old, "g1", 0, "n1", stShutdown, stShutdown, 0), repl, running(old, "g2", 0, "n2")))
	assertPlan(t, p, expect{})
	if p.Service != nil {
		t.Errorf("status changed: %+v", p.Service.UpdateStatus)
	}
	// Once it runs (and counts as updated: no gates), n2 is next; the
	// paused node's own old tasks would not be.
	repl.Status.State = stRunning
	p = Reconcile(input(u, now, nodes,
		task(old, "g1", 0, "n1", stShutdown, stShutdown, 0), repl, running(old, "g2", 0, "n2")))
	if len(p.Rollout.Replace) != 1 || p.Rollout.Replace[0].TaskID != "g2" {
		t.Errorf("replace %+v, want g2 once n1's replacement runs", p.Rollout.Replace)
	}
}

func TestRolloutKeepsItsFailuresFromTheReaper(t *testing.T) {
	old := replicatedSvc(1)
	u := rolling(old, &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionContinue, MaxFailureRatio: 1}, t0)
	id := t0.UTC().Format(time.RFC3339Nano)
	repl := task(u, "r1", 1, "n1", stFailed, stShutdown, 10)
	repl.Labels = map[string]string{deploy.LabelUpdateOf: "a", deploy.LabelRollout: id}
	tasks := []*swarm.Task{task(old, "a", 1, "n1", stShutdown, stShutdown, 0), repl, running(u, "x", 1, "n1")}
	tasks[2].CreatedAt = t0.Add(20 * time.Second)
	in := input(u, t0.Add(time.Minute), []*swarm.Node{ready("n1")}, tasks...)
	in.HistoryLimit = 1
	p := Reconcile(in)
	for _, id := range p.Delete {
		if id == "r1" {
			t.Fatal("the reaper deleted a failure the rollout in progress counts")
		}
	}
	if len(p.Delete) != 1 || p.Delete[0] != "a" {
		t.Errorf("deleted %v, want the old task", p.Delete)
	}
}

// TestRollbackOldTaskServesTheSlot: after a rollback, the old task of a
// start-first overlap is of the current spec again; its failed
// replacement, now out of date, is not restarted beside it.
func TestRollbackOldTaskServesTheSlot(t *testing.T) {
	svc := replicatedSvc(1)
	now := t0.Add(time.Minute)
	old := running(svc, "o", 1, "n1")
	newer := replicatedSvc(1)
	newer.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:2"}
	failed := task(newer, "r", 1, "n1", swarm.TaskStateFailed, swarm.TaskStateRunning, 30)
	failed.Labels = map[string]string{deploy.LabelUpdateOf: "o"}
	p := Reconcile(input(svc, now, []*swarm.Node{ready("n1")}, old, failed))
	if len(p.Create) != 0 {
		t.Errorf("created %d tasks beside the old task that serves the slot", len(p.Create))
	}
	shut := false
	for _, u := range p.Update {
		shut = shut || u.ID == "r" && u.DesiredState == swarm.TaskStateShutdown
	}
	if !shut {
		t.Error("the failed replacement is not told to shut down")
	}
}

// TestOneRestartPerSlot: a slot that holds two out-of-date tasks (left by
// rollouts cut short) gets no restart for the one that ends while the
// other is still meant to run there.
func TestOneRestartPerSlot(t *testing.T) {
	svc := replicatedSvc(1)
	svc.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:3"}
	older := replicatedSvc(1)
	older.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:2"}
	waiting := task(older, "a", 1, "", swarm.TaskStatePending, swarm.TaskStateRunning, 10)
	ended := task(older, "b", 1, "n1", swarm.TaskStateFailed, swarm.TaskStateRunning, 20)
	p := Reconcile(input(svc, t0.Add(time.Minute), []*swarm.Node{ready("n1")}, waiting, ended))
	for _, c := range p.Create {
		if Replaces(c) == "b" {
			t.Errorf("b was restarted (%s) though a is still meant to run in its slot", c.ID)
		}
	}
}
