package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func replicatedJob(maxConcurrent, total uint64, iteration uint64) *swarm.Service {
	s := replicatedSvc(0)
	s.Spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &maxConcurrent, TotalCompletions: &total}}
	s.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: iteration}}
	return s
}

func globalJob(iteration uint64) *swarm.Service {
	s := replicatedSvc(0)
	s.Spec.Mode = swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	s.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: iteration}}
	return s
}

func TestJobRules(t *testing.T) {
	now := t0.Add(time.Hour)
	nodes := []*swarm.Node{ready("n1"), ready("n2")}
	j := replicatedJob(2, 5, 1)
	old := replicatedJob(2, 5, 0)
	j2 := replicatedJob(2, 2, 1)
	none := replicatedJob(1, 2, 1)
	none.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	done := func(s *swarm.Service, id string, slot int) *swarm.Task {
		return task(s, id, slot, "n1", stComplete, stComplete, 0)
	}
	unstamped := replicatedJob(1, 1, 0)
	unstamped.JobStatus = nil
	gj := globalJob(3)
	gjOld := globalJob(2)
	once := withRestart(globalJob(3), swarm.RestartPolicy{MaxAttempts: ptr(uint64(1)), Delay: ptr(time.Duration(0))})
	onceOld := withRestart(globalJob(2), swarm.RestartPolicy{MaxAttempts: ptr(uint64(1)), Delay: ptr(time.Duration(0))})
	runRules(t, []ruleCase{
		{name: "a new job starts MaxConcurrent tasks from slot 0", in: input(j, now, nodes),
			want: expect{create: []created{{0, "", stComplete, ""}, {1, "", stComplete, ""}}}},
		{name: "completions free room for more, up to the total", in: input(j, now, nodes,
			done(j, "a", 0), done(j, "b", 1), done(j, "c", 2), task(j, "d", 3, "n1", stRunning, stComplete, 0)),
			want: expect{create: []created{{4, "", stComplete, ""}}}},
		{name: "a job without JobStatus runs iteration 0, once", in: input(unstamped, now, nodes,
			task(replicatedJob(1, 1, 0), "a", 0, "n1", stRunning, stComplete, 0))},
		{name: "a finished job does nothing", in: input(j2, now, nodes, done(j2, "a", 0), done(j2, "b", 1))},
		{name: "a failed job task restarts in its slot", in: input(j2, now, nodes,
			done(j2, "a", 0), task(j2, "b", 1, "n1", stFailed, stComplete, 0)),
			want: expect{create: []created{{1, "", stReady, "b"}}, desired: map[string]swarm.TaskState{"b": stShutdown},
				wake: now.Add(5 * time.Second)}},
		{name: "a delayed job task is promoted to complete", in: input(j2, now, nodes,
			done(j2, "a", 0), task(j2, "b", 1, "n1", stFailed, stShutdown, 0),
			delayed(replacement(j2, "c", "b", 1, swarm.TaskStateNew, stReady, 3590), now)),
			want: expect{desired: map[string]swarm.TaskState{"c": stComplete}}},
		{name: "condition none: the failed slot counts as done", in: input(none, now, nodes,
			task(none, "a", 0, "n1", stFailed, stComplete, 0)),
			want: expect{desired: map[string]swarm.TaskState{"a": stShutdown}, create: []created{{1, "", stComplete, ""}}}},
		{name: "a new iteration removes running tasks of the old one and starts over", in: input(j2, now, nodes,
			task(old, "a", 0, "n1", stRunning, stComplete, 0), done(old, "b", 1)),
			want: expect{desired: map[string]swarm.TaskState{"a": stRemove},
				create: []created{{0, "", stComplete, ""}, {1, "", stComplete, ""}}}},
		{name: "global job: one task per node, none where done", in: input(gj, now, nodes, done(gj, "a", 0)),
			want: expect{create: []created{{0, "n2", stComplete, ""}}}},
		{name: "global job: a new iteration runs again everywhere", in: input(gj, now, nodes, done(gjOld, "a", 0)),
			want: expect{create: []created{{0, "n1", stComplete, ""}, {0, "n2", stComplete, ""}}}},
		{name: "global job: a drained node keeps its completed task", in: input(gj, now,
			[]*swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityDrain)}, done(gj, "a", 0))},
		{name: "each run of a job gets its own max_attempts", in: input(once, now, nodes[:1],
			task(onceOld, "a", 0, "n1", stFailed, stShutdown, 0),
			withLabel(task(onceOld, "b", 0, "n1", stComplete, stComplete, 10), LabelRestartOf, "a"),
			task(once, "c", 0, "n1", stFailed, stComplete, 20)),
			want: expect{create: []created{{0, "n1", stComplete, "c"}}, desired: map[string]swarm.TaskState{"c": stShutdown},
				deleted: []string{"a", "b"}}}, // the history limit is max_attempts+1
	})
}

func withLabel(t *swarm.Task, k, v string) *swarm.Task {
	t.Labels = map[string]string{k: v}
	return t
}

func TestJobTaskFields(t *testing.T) {
	s := replicatedJob(1, 1, 0)
	s.JobStatus = nil
	p := Reconcile(Input{Service: s, Now: t0, NewID: counter("id")})
	if len(p.Create) != 1 {
		t.Fatalf("created %d tasks, want 1", len(p.Create))
	}
	c := p.Create[0]
	if c.JobIteration == nil || c.JobIteration.Index != 0 || c.DesiredState != stComplete {
		t.Fatalf("job task: iteration %v, desired %s", c.JobIteration, c.DesiredState)
	}
	// Fed back, the task is the job's: nothing more is created.
	if p2 := Reconcile(Input{Service: s, Tasks: p.Create, Now: t0, NewID: counter("id")}); !p2.Empty() {
		t.Errorf("second reconcile: %+v", p2)
	}
}
