package control

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
)

// describe renders groups as "[update t1 desired=shutdown state=rejected, create task1 slot=1 desired=ready]".
func describe(groups [][]store.Mutation) string {
	var out []string
	for _, g := range groups {
		var ms []string
		for _, m := range g {
			switch m.Op {
			case store.OpDelete:
				ms = append(ms, "delete "+m.ID)
			default:
				t := m.Object.(*swarm.Task)
				s := fmt.Sprintf("%s %s slot=%d desired=%s", m.Op, m.ID, t.Slot, t.DesiredState)
				if m.Op == store.OpUpdate {
					s += fmt.Sprintf(" state=%s v=%d", t.Status.State, m.Version)
				}
				if of := t.Labels[orchestrator.LabelRestartOf]; of != "" {
					s += " of=" + of
				}
				ms = append(ms, s)
			}
		}
		out = append(out, "["+strings.Join(ms, ", ")+"]")
	}
	return strings.Join(out, " ")
}

func TestOrchestrate(t *testing.T) {
	now := t0.Add(time.Hour)
	zoneA := service("a", constraints("node.labels.zone==a"), restartDelay(5*time.Second))
	noRestart := service("nr", constraints("node.labels.zone==a"))
	noRestart.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	three := service("s3", replicas(1))
	gone := service("gone")
	nodes := []*swarm.Node{node("n1"), node("n2", label("zone", "a"))}
	cases := []struct {
		name string
		snap *Snapshot
		want string
		wake time.Time
	}{
		{name: "a rejected task is shut down and replaced in one group, after the delay",
			snap: &Snapshot{Nodes: nodes, Services: []*swarm.Service{zoneA}, Tasks: []*swarm.Task{running(zoneA, "t1", 1, "n1", 0)}},
			want: "[update t1 slot=1 desired=shutdown state=rejected v=100, create task1 slot=1 desired=ready of=t1]",
			wake: now.Add(5 * time.Second)},
		{name: "a rejected task its policy does not restart is only shut down",
			snap: &Snapshot{Nodes: nodes, Services: []*swarm.Service{noRestart}, Tasks: []*swarm.Task{running(noRestart, "t1", 1, "n1", 0)}},
			want: "[update t1 slot=1 desired=shutdown state=rejected v=100]"},
		{name: "scaling down and a removed service's tasks are one group per task",
			snap: &Snapshot{Nodes: nodes, Services: []*swarm.Service{three}, Tasks: []*swarm.Task{
				running(three, "s1", 1, "n1", 0), running(three, "s2", 2, "n1", 1), running(three, "s3", 3, "n2", 2),
				running(gone, "g1", 1, "n1", 3),
				task(gone, "g2", 2, "n1", swarm.TaskStateShutdown, swarm.TaskStateRemove, 4)}},
			want: "[update s2 slot=2 desired=remove state=running v=101] [update s3 slot=3 desired=remove state=running v=102] " +
				"[update g1 slot=1 desired=remove state=running v=103] [delete g2]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			groups, wake := Orchestrate(c.snap, now, counter("task"))
			if got := describe(groups); got != c.want {
				t.Errorf("groups:\n got %s\nwant %s", got, c.want)
			}
			if !wake.Equal(c.wake) {
				t.Errorf("wake %v, want %v", wake, c.wake)
			}
			again, _ := Orchestrate(c.snap, now, counter("task"))
			if describe(again) != describe(groups) {
				t.Error("the same snapshot planned twice gave different groups")
			}
		})
	}
}

// TestOrchestrateHistoryLimit reads the cluster's retention limit: unset
// is Swarm's default of 5, 0 keeps the one task that records a slot's
// state, a negative limit keeps everything.
func TestOrchestrateHistoryLimit(t *testing.T) {
	now := t0.Add(time.Hour)
	sv := service("s")
	tasks := []*swarm.Task{running(sv, "live", 1, "n1", 10)}
	for i := range 6 {
		tasks = append(tasks, task(sv, fmt.Sprintf("dead%d", i), 1, "n1", swarm.TaskStateFailed, swarm.TaskStateShutdown, i))
	}
	for _, c := range []struct {
		limit *int64
		want  int // deletes
	}{{nil, 2}, {ptr(int64(0)), 6}, {ptr(int64(3)), 4}, {ptr(int64(-1)), 0}} {
		snap := &Snapshot{Nodes: []*swarm.Node{node("n1")}, Services: []*swarm.Service{sv}, Tasks: tasks}
		snap.Cluster = &api.Cluster{ID: "c"}
		snap.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit = c.limit
		groups, _ := Orchestrate(snap, now, counter("task"))
		deletes := strings.Count(describe(groups), "delete ")
		if deletes != c.want {
			t.Errorf("limit %v: %d deletes, want %d (%s)", c.limit, deletes, c.want, describe(groups))
		}
	}
}
