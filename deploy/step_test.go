package deploy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestConfigDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   *swarm.UpdateConfig
		want config
	}{
		{"absent: Swarm's defaults", nil,
			config{parallelism: 1, monitor: 5 * time.Second, failureAction: "pause"}},
		{"zero fields as the Engine API reads them: parallelism 0 is all at once, monitor 0 is unset",
			&swarm.UpdateConfig{},
			config{parallelism: 0, monitor: 5 * time.Second, failureAction: "pause"}},
		{"every field", &swarm.UpdateConfig{Parallelism: 3, Delay: time.Second, Monitor: time.Minute,
			FailureAction: "rollback", MaxFailureRatio: 0.2, Order: "start-first"},
			config{parallelism: 3, delay: time.Second, monitor: time.Minute, failureAction: "rollback", maxFailureRatio: 0.2, startFirst: true}},
		{"an unknown failure action pauses", &swarm.UpdateConfig{Parallelism: 1, FailureAction: "explode"},
			config{parallelism: 1, monitor: 5 * time.Second, failureAction: "pause"}},
	}
	for _, c := range cases {
		if got := configOf(c.in); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := (config{delay: 5 * time.Second, monitor: 5 * time.Second}).finalMonitor(); got != 6*time.Second {
		t.Errorf("final monitor with delay = monitor: %s, want delay+1s as SwarmKit waits", got)
	}
}

func TestGatesIgnoreWhatDoesNotParse(t *testing.T) {
	g := gatesOf(map[string]string{
		LabelMinHealthyTime: "10s", LabelHealthyDeadline: "soon", LabelProgressDeadline: "-1m", LabelAutoRollback: "true",
	})
	if g != (gates{minHealthy: 10 * time.Second, autoRollback: true}) {
		t.Errorf("gates %+v", g)
	}
}

// fixture is a service of n replicas updated from app:1 to app:2 at t0,
// its rollout in progress, with its old tasks running.
func fixture(n int) (*swarm.Service, []*swarm.Task) {
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	replicas := uint64(n)
	old := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1"}}
	svc := &swarm.Service{ID: "s", Spec: swarm.ServiceSpec{
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:2"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 2},
	}}
	svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &t0}
	var tasks []*swarm.Task
	for i := 1; i <= n; i++ {
		tk := &swarm.Task{ID: fmt.Sprintf("t%d", i), ServiceID: "s", Slot: i, NodeID: "n1", Spec: old,
			DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: t0.Add(-time.Hour)}}
		tk.CreatedAt = t0.Add(-time.Hour)
		tasks = append(tasks, tk)
	}
	return svc, tasks
}

func TestStepIsPureAndIgnoresTaskOrder(t *testing.T) {
	svc, tasks := fixture(5)
	now := svc.UpdateStatus.StartedAt.Add(time.Second)
	// Slot 1 is under way: its replacement runs, beside nothing.
	tasks[0].DesiredState = swarm.TaskStateShutdown
	repl := &swarm.Task{ID: "r1", ServiceID: "s", Slot: 1, Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
		Annotations: swarm.Annotations{Labels: map[string]string{LabelUpdateOf: "t1", LabelRollout: formatTime(*svc.UpdateStatus.StartedAt)}},
		Status:      swarm.TaskStatus{State: swarm.TaskStateStarting, Timestamp: now}}
	tasks = append(tasks, repl)
	before := fmt.Sprint(svc, *svc.UpdateStatus)
	var taskCopies []swarm.Task
	for _, tk := range tasks {
		taskCopies = append(taskCopies, *tk)
	}
	want := Step(Input{Service: svc, Tasks: tasks, Now: now})
	// One worker is busy with slot 1: one more slot goes now.
	if len(want.Replace) != 1 || want.Replace[0].TaskID != "t2" {
		t.Fatalf("replace %+v, want t2 alone", want.Replace)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]*swarm.Task(nil), tasks...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Step(Input{Service: svc, Tasks: shuffled, Now: now}); !reflect.DeepEqual(got, want) {
			t.Fatalf("task order changed the decision:\n got %+v\nwant %+v", got, want)
		}
	}
	if fmt.Sprint(svc, *svc.UpdateStatus) != before {
		t.Error("Step changed its service")
	}
	for i, tk := range tasks {
		if !reflect.DeepEqual(*tk, taskCopies[i]) {
			t.Errorf("Step changed task %s", tk.ID)
		}
	}
}

func TestStepLeavesJobsAlone(t *testing.T) {
	svc, tasks := fixture(2)
	svc.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
	if d := Step(Input{Service: svc, Tasks: tasks, Now: time.Now()}); !d.Empty() || !d.Wake.IsZero() {
		t.Errorf("a job's decision: %+v", d)
	}
	svc.UpdateStatus = nil
	if d := Step(Input{Service: svc, Tasks: tasks, Now: time.Now()}); d.Status != nil {
		t.Errorf("a job update started a rollout: %+v", d.Status)
	}
}

func TestKeep(t *testing.T) {
	svc, _ := fixture(1)
	id := formatTime(*svc.UpdateStatus.StartedAt)
	mine := &swarm.Task{Spec: svc.Spec.TaskTemplate, Annotations: swarm.Annotations{Labels: map[string]string{LabelUpdateOf: "x", LabelRollout: id}}}
	older := &swarm.Task{Spec: svc.Spec.TaskTemplate, Annotations: swarm.Annotations{Labels: map[string]string{LabelUpdateOf: "x", LabelRollout: "2020-01-01T00:00:00Z"}}}
	if !Keep(svc, mine) || Keep(svc, older) {
		t.Errorf("Keep(this rollout's replacement) = %v, Keep(an earlier one's) = %v", Keep(svc, mine), Keep(svc, older))
	}
	svc.UpdateStatus.State = swarm.UpdateStateCompleted
	if Keep(svc, mine) {
		t.Error("a completed rollout keeps its replacements from the reaper")
	}
}

// TestStopFirstEndsAnOverlapItDidNotMake: a slot holds an earlier
// rollout's start-first replacement, out of date now and running, beside
// a restart of the current spec that waits for what it holds. A
// stop-first rollout stops the old task rather than wait for the new one
// to count as updated, which may never happen; a start-first one waits.
func TestStopFirstEndsAnOverlapItDidNotMake(t *testing.T) {
	svc, tasks := fixture(1)
	svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
	now := svc.UpdateStatus.StartedAt.Add(time.Minute)
	old := tasks[0]
	old.Spec = swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1.5"}}
	restart := &swarm.Task{ID: "r1", ServiceID: "s", Slot: 1, Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Timestamp: now.Add(-time.Second)}}
	restart.CreatedAt = now.Add(-time.Second)
	in := Input{Service: svc, Tasks: []*swarm.Task{old, restart}, Now: now}
	d := Step(in)
	if !reflect.DeepEqual(d.Shutdown, []string{"t1"}) || len(d.Replace) != 0 || d.Status != nil {
		t.Errorf("stop-first: %+v, want t1 shut down and nothing else", d)
	}
	svc.Spec.UpdateConfig.Order = swarm.UpdateOrderStartFirst
	if d := Step(in); len(d.Shutdown) != 0 || len(d.Replace) != 0 || d.Status != nil {
		t.Errorf("start-first: %+v, want the overlap left to end once r1 counts as updated", d)
	}
}

// TestStopFirstEndsAnAbandonedOverlap: a start-first overlap an earlier
// rollout began (its replacement out of date too now) in a slot this
// stop-first rollout does not get to yet — its one worker is busy — ends:
// the replaced task stops. A slot the rollout replaces now stops both
// tasks with its replacement instead; under start-first the overlap stays.
func TestStopFirstEndsAnAbandonedOverlap(t *testing.T) {
	svc, tasks := fixture(2)
	svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
	start := *svc.UpdateStatus.StartedAt
	now := start.Add(time.Minute)
	busy := busyWorker(svc, tasks, now)
	// Slot 2: t2 and an earlier start-first replacement of it, both of an
	// older spec.
	abandoned := &swarm.Task{ID: "a2", ServiceID: "s", Slot: 2, Spec: tasks[1].Spec, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Timestamp: now}}
	abandoned.Labels = map[string]string{LabelUpdateOf: "t2"}
	abandoned.CreatedAt = now.Add(-time.Hour)
	in := Input{Service: svc, Tasks: append(tasks, busy, abandoned), Now: now}
	d := Step(in)
	if !reflect.DeepEqual(d.Shutdown, []string{"t2"}) || len(d.Replace) != 0 {
		t.Errorf("stop-first, worker busy: shutdown %v replace %v, want t2 stopped and nothing replaced", d.Shutdown, d.Replace)
	}
	svc.Spec.UpdateConfig.Order = swarm.UpdateOrderStartFirst
	if d := Step(in); slices.Contains(d.Shutdown, "t2") {
		t.Errorf("start-first: %v, the overlap may stand", d.Shutdown)
	}
}

// busyWorker puts slot 1 of a one-worker rollout under way: t1 stopped,
// its replacement on its way.
func busyWorker(svc *swarm.Service, tasks []*swarm.Task, now time.Time) *swarm.Task {
	busy := &swarm.Task{ID: "n1", ServiceID: "s", Slot: 1, Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Timestamp: now}}
	busy.Labels = map[string]string{LabelUpdateOf: "t1", LabelRollout: svc.UpdateStatus.StartedAt.UTC().Format(time.RFC3339Nano)}
	busy.CreatedAt = now
	tasks[0].DesiredState = swarm.TaskStateShutdown
	return busy
}

// TestContinueTriesASlotOnce: under failure_action continue a slot whose
// replacement failed keeps its old task for this rollout, as SwarmKit's
// updater dispatches each slot once, and a completed rollout does not
// start again for it until the spec changes.
func TestContinueTriesASlotOnce(t *testing.T) {
	svc, tasks := fixture(1)
	svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionContinue}
	start := *svc.UpdateStatus.StartedAt
	now := start.Add(time.Minute)
	failed := &swarm.Task{ID: "r1", ServiceID: "s", Slot: 1, Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateShutdown,
		Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Timestamp: start.Add(time.Second), Err: "task: non-zero exit (1)"}}
	failed.Labels = map[string]string{LabelUpdateOf: "t1", LabelRollout: start.UTC().Format(time.RFC3339Nano)}
	failed.CreatedAt = start
	in := Input{Service: svc, Tasks: append(tasks, failed), Now: now}
	d := Step(in)
	if len(d.Replace) != 0 {
		t.Errorf("the failed slot is replaced again: %v", d.Replace)
	}
	if d.Status == nil || d.Status.State != swarm.UpdateStateCompleted {
		t.Errorf("status %+v, want the rollout completed", d.Status)
	}
	svc.UpdateStatus = d.Status
	if d := Step(in); d.Status != nil || len(d.Replace) != 0 {
		t.Errorf("after completing: %+v, want no new rollout for a slot it already failed", d)
	}
}

// TestCompletedRolloutEndsALeftOverlap: a rollout that completed with a
// start-first overlap left (the replacement failed and its restart now
// runs beside the old task) ends it: the old task stops.
func TestCompletedRolloutEndsALeftOverlap(t *testing.T) {
	svc, tasks := fixture(1)
	start := *svc.UpdateStatus.StartedAt
	now := start.Add(time.Minute)
	svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, StartedAt: &start, Message: MessageCompleted}
	restart := &swarm.Task{ID: "c1", ServiceID: "s", Slot: 1, NodeID: "n1", Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: start.Add(10 * time.Second)}}
	restart.CreatedAt = start.Add(5 * time.Second)
	d := Step(Input{Service: svc, Tasks: append(tasks, restart), Now: now})
	if !reflect.DeepEqual(d.Shutdown, []string{"t1"}) || d.Status != nil || len(d.Replace) != 0 {
		t.Errorf("decision %+v, want t1 stopped and no new rollout", d)
	}
}

// TestStopFirstEndsAnOverlapOfARestart: as an abandoned overlap, when the
// newer task is the restart of an earlier rollout's failed replacement
// (no update-of label ties it to the task it overlaps): the older stops,
// so the restart gets what the old task held.
func TestStopFirstEndsAnOverlapOfARestart(t *testing.T) {
	svc, tasks := fixture(2)
	svc.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
	start := *svc.UpdateStatus.StartedAt
	now := start.Add(time.Minute)
	busy := busyWorker(svc, tasks, now)
	between := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1.5"}}
	restart := &swarm.Task{ID: "c2", ServiceID: "s", Slot: 2, Spec: between, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Timestamp: now, Err: "host-mode port already in use on 1 node"}}
	restart.CreatedAt = now.Add(-time.Minute)
	d := Step(Input{Service: svc, Tasks: append(tasks, busy, restart), Now: now})
	if !reflect.DeepEqual(d.Shutdown, []string{"t2"}) || len(d.Replace) != 0 {
		t.Errorf("shutdown %v replace %v, want t2 stopped and nothing replaced", d.Shutdown, d.Replace)
	}
}

// TestPausedRolloutEndsAnOverlapOfARestart: under a paused rollout, a slot
// whose newest task (the restart of an earlier rollout's replacement, of
// a spec since replaced) runs ends its overlap: the older task stops.
func TestPausedRolloutEndsAnOverlapOfARestart(t *testing.T) {
	svc, tasks := fixture(1)
	start := *svc.UpdateStatus.StartedAt
	svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, StartedAt: &start, Message: "update paused due to failure or early termination of task x"}
	between := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1.5"}}
	restart := &swarm.Task{ID: "c1", ServiceID: "s", Slot: 1, NodeID: "n2", Spec: between, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: start.Add(-time.Minute)}}
	restart.CreatedAt = start.Add(-2 * time.Minute)
	d := Step(Input{Service: svc, Tasks: append(tasks, restart), Now: start.Add(time.Minute)})
	if !reflect.DeepEqual(d.Shutdown, []string{"t1"}) || d.Status != nil || len(d.Replace) != 0 {
		t.Errorf("decision %+v, want t1 stopped, the rollout left paused", d)
	}
}
