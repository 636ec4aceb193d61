package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func status(state swarm.TaskState, sec int, msg string) swarm.TaskStatus {
	return swarm.TaskStatus{State: state, Timestamp: t0.Add(time.Duration(sec) * time.Second), Message: msg}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readTask(t *testing.T, s *Store, id string) *swarm.Task {
	t.Helper()
	var task *swarm.Task
	if err := s.View(func(tx ReadTx) error {
		var err error
		task, err = tx.Task(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return task
}

func TestSetTaskStatusMovesForwardOnly(t *testing.T) {
	h := fixture(t)
	before := readTask(t, h.s, "t1")

	running := status(swarm.TaskStateRunning, 100, "started")
	running.ContainerStatus = &swarm.ContainerStatus{ContainerID: "c1", PID: 42}
	idx := h.mustApply(SetTaskStatus("t1", "n1", running))
	got := readTask(t, h.s, "t1")
	if got.Status.State != swarm.TaskStateRunning || got.Status.ContainerStatus == nil || got.Status.ContainerStatus.ContainerID != "c1" {
		t.Fatalf("status after report = %+v", got.Status)
	}
	if got.Version.Index != idx || !got.UpdatedAt.Equal(at(idx)) || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("meta after report = %+v, want version %d updated %v created %v", got.Meta, idx, at(idx), before.CreatedAt)
	}
	// Only Status changed.
	g, b := *got, *before
	g.Status, b.Status, g.Meta, b.Meta = swarm.TaskStatus{}, swarm.TaskStatus{}, swarm.Meta{}, swarm.Meta{}
	if mustJSON(t, g) != mustJSON(t, b) {
		t.Errorf("the report changed more than the status:\n%s\n%s", mustJSON(t, g), mustJSON(t, b))
	}
	if before.Status.State != "" {
		t.Errorf("the object read before the report changed in place: %+v", before.Status)
	}

	since := h.index
	ignored := map[string]Mutation{
		"an earlier state":                 SetTaskStatus("t1", "n1", status(swarm.TaskStateStarting, 200, "")),
		"the same status again":            SetTaskStatus("t1", "n1", running),
		"the same state reported earlier":  SetTaskStatus("t1", "n1", status(swarm.TaskStateRunning, 50, "older news")),
		"a report from another node":       SetTaskStatus("t1", "n2", status(swarm.TaskStateFailed, 300, "")),
		"a report on a task that is gone":  SetTaskStatus("t99", "n1", status(swarm.TaskStateFailed, 300, "")),
		"a report on a task with no node":  SetTaskStatus("t4", "n1", status(swarm.TaskStateFailed, 300, "")),
		"a report of a state before entry": SetTaskStatus("t1", "n1", status(swarm.TaskStateNew, 300, "")),
	}
	for name, m := range ignored {
		if err := h.apply(m); err != nil {
			t.Errorf("%s: Apply = %v, want a no-op", name, err)
		}
		if m.ID != "t1" {
			continue
		}
		if cur := readTask(t, h.s, m.ID); cur.Version.Index != idx || cur.Status.Message != "started" {
			t.Errorf("%s changed the task: %+v", name, cur.Status)
		}
	}
	if evs, _, err := h.s.Events(since); err != nil || len(evs) != 0 {
		t.Errorf("ignored reports made events %v (%v)", describeEvents(evs), err)
	}

	// The same state with news, no earlier than the last report, counts.
	news := status(swarm.TaskStateRunning, 100, "healthy")
	idx2 := h.mustApply(SetTaskStatus("t1", "n1", news))
	if cur := readTask(t, h.s, "t1"); cur.Status.Message != "healthy" || cur.Version.Index != idx2 {
		t.Errorf("same-state news not recorded: %+v", cur.Status)
	}
	evs, _, err := h.s.Events(idx2 - 1)
	if err != nil || len(evs) != 1 || evs[0].Action != OpUpdate || evs[0].ID != "t1" ||
		evs[0].Old.(*swarm.Task).Status.Message != "started" || evs[0].Object.(*swarm.Task).Status.Message != "healthy" {
		t.Errorf("events of a report = %v (%v), want one update of t1 with old and new", describeEvents(evs), err)
	}
}

func TestSetTaskStatusNeverFailsItsBatch(t *testing.T) {
	h := fixture(t)
	idx := h.mustApply(
		SetTaskStatus("t1", "n1", status(swarm.TaskStateRunning, 1, "")),
		SetTaskStatus("gone", "n1", status(swarm.TaskStateRunning, 1, "")),
		SetTaskStatus("t2", "n1", status(swarm.TaskStateRunning, 1, "")), // t2 is on n2
		SetTaskStatus("t1", "n1", status(swarm.TaskStatePreparing, 2, "")),
		SetTaskStatus("t5", "n1", status(swarm.TaskStateFailed, 3, "exit 1")),
		Create(task("t7", "svc4", 1, "n3", swarm.TaskStateRunning)),
		SetTaskStatus("t7", "n3", status(swarm.TaskStateRejected, 4, "no image")), // sees the create
	)
	want := map[string]swarm.TaskState{"t1": swarm.TaskStateRunning, "t2": "", "t5": swarm.TaskStateFailed, "t7": swarm.TaskStateRejected}
	for id, state := range want {
		if got := readTask(t, h.s, id); got.Status.State != state {
			t.Errorf("task %s state = %q, want %q", id, got.Status.State, state)
		}
	}
	evs, _, _ := h.s.Events(idx - 1)
	if got, want := describeEvents(evs), fmt.Sprintf("%[1]d update tasks t1; %[1]d update tasks t5; %[1]d create tasks t7; %[1]d update tasks t7", idx); got != want {
		t.Errorf("events = %s", got)
	}

	// It survives a snapshot.
	snap := save(t, h.s)
	r := New()
	if err := r.Restore(strings.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if got := readTask(t, r, "t5"); got.Status.State != swarm.TaskStateFailed || got.Status.Message != "exit 1" || got.Version.Index != idx {
		t.Errorf("restored t5 = %+v", got)
	}
	if save(t, r) != snap {
		t.Error("Save after Restore differs")
	}
}

func TestSetTaskStatusRefusesNonsense(t *testing.T) {
	cases := map[string]Mutation{
		"another table":   {Op: OpSetTaskStatus, Table: TableNodes, ID: "n1", Object: &TaskStatusReport{NodeID: "n1", Status: status(swarm.TaskStateRunning, 0, "")}},
		"no node":         SetTaskStatus("t1", "", status(swarm.TaskStateRunning, 0, "")),
		"unknown state":   SetTaskStatus("t1", "n1", status("sleeping", 0, "")),
		"no report":       {Op: OpSetTaskStatus, Table: TableTasks, ID: "t1"},
		"a task as value": {Op: OpSetTaskStatus, Table: TableTasks, ID: "t1", Object: task("t1", "s", 1, "n1", "")},
	}
	for name, m := range cases {
		if _, err := EncodeBatch(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeBatch = %v, want ErrInvalid", name, err)
		}
	}
	// What the proposer would refuse, Apply refuses too.
	for name, raw := range map[string]string{
		"unknown state": `[{"op":"set_task_status","table":"tasks","id":"t1","object":{"node_id":"n1","status":{"State":"sleeping"}}}]`,
		"no node":       `[{"op":"set_task_status","table":"tasks","id":"t1","object":{"status":{"State":"running"}}}]`,
		"another table": `[{"op":"set_task_status","table":"nodes","id":"n1","object":{"node_id":"n1","status":{"State":"running"}}}]`,
		"no object":     `[{"op":"set_task_status","table":"tasks","id":"t1"}]`,
	} {
		h := fixture(t)
		if err := h.s.Apply(h.index+1, at(h.index+1), batchJSON(raw)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Apply = %v, want ErrInvalid", name, err)
		}
	}
	h := fixture(t)
	if err := h.s.Apply(h.index+1, at(h.index+1), batchJSON(`[{"op":"set_task_status","table":"tasks","id":"t1","object":{"node_id":[]}}]`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed report: Apply = %v, want ErrMalformed", err)
	}
}

func TestStatusAdvances(t *testing.T) {
	exited := status(swarm.TaskStateFailed, 10, "exit 1")
	exited.ContainerStatus = &swarm.ContainerStatus{ExitCode: 1}
	cases := []struct {
		name      string
		cur, next swarm.TaskStatus
		want      bool
	}{
		{"from nothing", swarm.TaskStatus{}, status(swarm.TaskStateAccepted, 1, ""), true},
		{"forward", status(swarm.TaskStateStarting, 5, ""), status(swarm.TaskStateRunning, 1, ""), true},
		{"backward", status(swarm.TaskStateRunning, 5, ""), status(swarm.TaskStateStarting, 9, ""), false},
		{"same", exited, exited, false},
		{"same state, news", status(swarm.TaskStateFailed, 10, ""), exited, true},
		{"same state, older", exited, status(swarm.TaskStateFailed, 9, "other"), false},
		{"unknown next", status(swarm.TaskStateRunning, 5, ""), status("zombie", 9, ""), false},
		{"unknown current", status("zombie", 5, ""), status(swarm.TaskStateRunning, 9, ""), false},
		{"dead to orphaned", exited, status(swarm.TaskStateOrphaned, 1, ""), true},
	}
	for _, c := range cases {
		if got := StatusAdvances(c.cur, c.next); got != c.want {
			t.Errorf("%s: StatusAdvances = %v, want %v", c.name, got, c.want)
		}
	}
}
