package orchestrator

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestUpdateReplacesOutOfDateTasks(t *testing.T) {
	old := replicatedSvc(2)
	now := t0.Add(time.Minute)
	nodes := []*swarm.Node{ready("n1"), ready("n2")}
	updated := replicatedSvc(2)
	updated.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img", Env: []string{"A=1"}}

	a, b := running(old, "a", 1, "n1"), running(old, "b", 2, "n2")
	p := Reconcile(input(updated, now, nodes, a, b))
	assertPlan(t, p, expect{
		// Stop first: each replacement waits, desired ready, for the task
		// it replaces to stop.
		create:  []created{{1, "", swarm.TaskStateReady, ""}, {2, "", swarm.TaskStateReady, ""}},
		desired: map[string]swarm.TaskState{"a": swarm.TaskStateShutdown, "b": swarm.TaskStateShutdown},
		wake:    now.Add(oldTaskTimeout),
	})
	for _, c := range p.Create {
		if Dirty(updated, c) {
			t.Errorf("replacement %s is made from the old spec", c.ID)
		}
		if of := Replaces(c); of != "a" && of != "b" {
			t.Errorf("replacement %s replaces %q", c.ID, of)
		}
	}

	// Once the old task stopped, its replacement starts; an update is no
	// restart, so max_attempts counts nothing for it.
	a.DesiredState, a.Status.State = swarm.TaskStateShutdown, swarm.TaskStateShutdown
	b.DesiredState = swarm.TaskStateShutdown // still running
	ra, rb := p.Create[0], p.Create[1]
	ra.CreatedAt, rb.CreatedAt = now, now
	p = Reconcile(input(updated, now.Add(time.Second), nodes, a, b, ra, rb))
	assertPlan(t, p, expect{
		desired: map[string]swarm.TaskState{ra.ID: swarm.TaskStateRunning},
		wake:    now.Add(oldTaskTimeout),
	})
	if Dirty(updated, ra) || !Dirty(updated, a) {
		t.Error("Dirty: the replacement must be current and the old task out of date")
	}
}

func TestUpdateGlobalReplacesOnTheSameNode(t *testing.T) {
	old := globalSvc()
	updated := globalSvc()
	updated.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "img2"}
	now := t0.Add(time.Minute)
	g := running(old, "g", 0, "n1")
	assertPlan(t, Reconcile(input(updated, now, []*swarm.Node{ready("n1")}, g)), expect{
		create:  []created{{0, "n1", swarm.TaskStateReady, ""}},
		desired: map[string]swarm.TaskState{"g": swarm.TaskStateShutdown},
		wake:    now.Add(oldTaskTimeout),
	})
}
