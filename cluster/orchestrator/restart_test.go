package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// replacement is a task made by an earlier restart of the task named by of.
func replacement(s *swarm.Service, id, of string, slot int, state, desired swarm.TaskState, at int) *swarm.Task {
	t := task(s, id, slot, "n1", state, desired, at)
	t.Labels = map[string]string{LabelRestartOf: of}
	t.Status.Timestamp = t.CreatedAt.Add(5 * time.Second) // it ran a little
	return t
}

func delayed(t *swarm.Task, startAfter time.Time) *swarm.Task {
	t.DesiredState = stReady
	t.Labels[LabelStartAfter] = startAfter.Format(time.RFC3339Nano)
	return t
}

func TestRestartRules(t *testing.T) {
	nodes := []*swarm.Node{ready("n1")}
	now := t0.Add(time.Hour)
	def := replicatedSvc(1)
	noDelay := withRestart(replicatedSvc(1), swarm.RestartPolicy{Delay: ptr(time.Duration(0))})
	none := withRestart(replicatedSvc(1), swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone})
	onFailure := withRestart(replicatedSvc(1), swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: ptr(time.Duration(0))})
	max2 := withRestart(replicatedSvc(1), swarm.RestartPolicy{MaxAttempts: ptr(uint64(2)), Delay: ptr(time.Duration(0))})
	window := withRestart(replicatedSvc(1), swarm.RestartPolicy{MaxAttempts: ptr(uint64(2)), Window: ptr(time.Minute), Delay: ptr(time.Duration(0))})
	failedAt := func(s *swarm.Service, id string, at int) *swarm.Task {
		return task(s, id, 1, "n1", stFailed, stRunning, at)
	}
	runRules(t, []ruleCase{
		{name: "default policy: replacement ready now, running after 5s", in: input(def, now, nodes, failedAt(def, "a", 0)),
			want: expect{create: []created{{1, "", stReady, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown},
				wake: now.Add(5 * time.Second)}},
		{name: "zero delay: replacement runs at once", in: input(noDelay, now, nodes, failedAt(noDelay, "a", 0)),
			want: expect{create: []created{{1, "", stRunning, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown}}},
		{name: "delay not over: wait", in: input(def, now, nodes,
			task(def, "a", 1, "n1", stFailed, stShutdown, 0),
			delayed(replacement(def, "b", "a", 1, swarm.TaskStateNew, stReady, 3600), now.Add(2*time.Second))),
			want: expect{wake: now.Add(2 * time.Second)}},
		{name: "delay over and old task stopped: running", in: input(def, now, nodes,
			task(def, "a", 1, "n1", stFailed, stShutdown, 0),
			delayed(replacement(def, "b", "a", 1, swarm.TaskStateNew, stReady, 3590), now)),
			want: expect{desired: map[string]swarm.TaskState{"b": stRunning}}},
		{name: "delay over, old task still running: wait up to a minute", in: input(def, now, nodes,
			task(def, "a", 1, "n1", stRunning, stShutdown, 0),
			delayed(replacement(def, "b", "a", 1, swarm.TaskStateNew, stReady, 3590), now)),
			want: expect{wake: now.Add(50 * time.Second)}},
		{name: "old task still running after a minute: start anyway", in: input(def, now, nodes,
			task(def, "a", 1, "n1", stRunning, stShutdown, 0),
			delayed(replacement(def, "b", "a", 1, swarm.TaskStateNew, stReady, 3500), now)),
			want: expect{desired: map[string]swarm.TaskState{"b": stRunning}}},
		{name: "ready tasks of others are not promoted", in: input(def, now, nodes,
			task(def, "b", 1, "n1", swarm.TaskStateNew, stReady, 0))},
		{name: "condition none: no replacement, slot stays dead", in: input(none, now, nodes, failedAt(none, "a", 0)),
			want: expect{desired: map[string]swarm.TaskState{"a": stShutdown}}},
		{name: "condition none: dead slot is not refilled later", in: input(none, now, nodes,
			task(none, "a", 1, "n1", stFailed, stShutdown, 0))},
		{name: "on-failure: a completed task is not restarted", in: input(onFailure, now, nodes,
			task(onFailure, "a", 1, "n1", stComplete, stRunning, 0)),
			want: expect{desired: map[string]swarm.TaskState{"a": stShutdown}}},
		{name: "on-failure: a failed task is", in: input(onFailure, now, nodes, failedAt(onFailure, "a", 0)),
			want: expect{create: []created{{1, "", stRunning, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown}}},
		{name: "any: a completed service task is restarted", in: input(noDelay, now, nodes,
			task(noDelay, "a", 1, "n1", stComplete, stRunning, 0)),
			want: expect{create: []created{{1, "", stRunning, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown}}},
		{name: "max_attempts 2, one restart so far: restart", in: input(max2, now, nodes,
			task(max2, "a", 1, "n1", stFailed, stShutdown, 0),
			replacement(max2, "b", "a", 1, stFailed, stRunning, 10)),
			want: expect{create: []created{{1, "", stRunning, "b"}}, desired: map[string]swarm.TaskState{"b": stShutdown}}},
		{name: "max_attempts 2, two restarts: give up, slot not refilled", in: input(max2, now, nodes,
			task(max2, "a", 1, "n1", stFailed, stShutdown, 0),
			replacement(max2, "b", "a", 1, stFailed, stShutdown, 10),
			replacement(max2, "c", "b", 1, stFailed, stRunning, 20)),
			want: expect{desired: map[string]swarm.TaskState{"c": stShutdown}}},
		{name: "max_attempts counts only the current spec's restarts", in: input(max2, now, nodes,
			task(max2, "a", 1, "n1", stFailed, stShutdown, 0),
			replacement(replicatedSvc(1), "b", "a", 1, stFailed, stShutdown, 10),
			replacement(max2, "c", "b", 1, stFailed, stRunning, 20)),
			want: expect{create: []created{{1, "", stRunning, "c"}}, desired: map[string]swarm.TaskState{"c": stShutdown},
				deleted: []string{"a"}}}, // history limit max_attempts+1
		{name: "window: restarts before the window do not count", in: input(window, now, nodes,
			task(window, "a", 1, "n1", stFailed, stShutdown, 0),
			replacement(window, "b", "a", 1, stFailed, stShutdown, 10),
			replacement(window, "c", "b", 1, stFailed, stRunning, 100)),
			want: expect{create: []created{{1, "", stRunning, "c"}}, desired: map[string]swarm.TaskState{"c": stShutdown},
				deleted: []string{"a"}}},
		{name: "window: two restarts inside it: give up", in: input(window, now, nodes,
			task(window, "a", 1, "n1", stFailed, stShutdown, 0),
			replacement(window, "b", "a", 1, stFailed, stShutdown, 80),
			replacement(window, "c", "b", 1, stFailed, stRunning, 100)),
			want: expect{desired: map[string]swarm.TaskState{"c": stShutdown}}},
		{name: "a task still shutting down does not take the room of the restarts counted", in: input(window, now, nodes,
			task(window, "a", 1, "n1", stRunning, stShutdown, 0),
			replacement(window, "b", "a", 1, stFailed, stShutdown, 10),
			replacement(window, "c", "b", 1, stFailed, stRunning, 100)),
			// The old code let a count against the limit of 3 and deleted b.
			want: expect{create: []created{{1, "", stRunning, "c"}}, desired: map[string]swarm.TaskState{"c": stShutdown}}},
		{name: "both tasks of a start-first overlap ended at once: one restart for the slot", in: func() Input {
			older := withRestart(replicatedSvc(1), swarm.RestartPolicy{Delay: ptr(time.Duration(0))})
			older.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img:old"}
			a := task(older, "a", 1, "n1", stFailed, stRunning, 0)
			b := task(noDelay, "b", 1, "n1", stFailed, stRunning, 10)
			b.Labels = map[string]string{deploy.LabelUpdateOf: "a"}
			return input(noDelay, now, nodes, a, b)
		}(),
			want: expect{create: []created{{1, "", stRunning, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown, "b": stShutdown}}},
		{name: "the reaper keeps the task a restart of this plan replaces", in: func() Input {
			in := input(def, now, nodes, failedAt(def, "a", 0))
			in.HistoryLimit = 1
			return in
		}(),
			// The slot holds two tasks, one over the limit, but a is what
			// the new task's restart label names.
			want: expect{create: []created{{1, "", stReady, "a"}}, desired: map[string]swarm.TaskState{"a": stShutdown},
				wake: now.Add(5 * time.Second)}},
		{name: "desired states never move back", in: input(def, now, nodes,
			task(def, "a", 1, "n1", stRunning, stShutdown, 0), running(def, "b", 1, "n1")),
			want: expect{}},
	})
}
