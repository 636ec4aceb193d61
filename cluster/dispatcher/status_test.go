package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

func update(taskID string, st swarm.TaskStatus) api.TaskStatusUpdate {
	return api.TaskStatusUpdate{TaskID: taskID, Status: st}
}

func outcome(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome for a status call")
		return nil
	}
}

func TestStatusUpdatesAreValidatedAndBatched(t *testing.T) {
	h := newHarness(t, nil,
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("w2", swarm.NodeRoleWorker, swarm.NodeStateReady),
		service("svc", "web", 0),
		task("a1", "svc", "w1", swarm.TaskStateRunning, nil, nil),
		task("a2", "svc", "w1", swarm.TaskStateRunning, nil, nil),
		task("b1", "svc", "w2", swarm.TaskStateRunning, nil, nil))
	s1, s2 := h.register("w1").SessionID, h.register("w2").SessionID
	before := h.raft.count()
	a2Before := h.task("a2")

	running := status(swarm.TaskStateRunning, time.Second)
	running.ContainerStatus = &swarm.ContainerStatus{ContainerID: "c0ffee", PID: 7}
	w1, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: s1, Updates: []api.TaskStatusUpdate{
		update("a1", status(swarm.TaskStateAccepted, 0)),
		update("a1", running),
		update("a2", status(swarm.TaskStatePending, time.Second)), // behind "assigned": stale
		update("b1", status(swarm.TaskStateFailed, time.Second)),  // w2's task
		update("gone", status(swarm.TaskStateFailed, time.Second)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := h.d.QueueStatus("w2", api.StatusRequest{SessionID: s2, Updates: []api.TaskStatusUpdate{
		update("b1", status(swarm.TaskStateStarting, time.Second)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if h.raft.count() != before {
		t.Fatal("queued updates reached Raft before a flush")
	}
	if err := h.d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := outcome(t, w1); err != nil {
		t.Errorf("w1's call: %v", err)
	}
	if err := outcome(t, w2); err != nil {
		t.Errorf("w2's call: %v", err)
	}
	if got := h.raft.count() - before; got != 1 {
		t.Errorf("two nodes' updates took %d Raft entries, want 1", got)
	}
	a1 := h.task("a1")
	if a1.Status.State != swarm.TaskStateRunning || a1.Status.ContainerStatus == nil || a1.Status.ContainerStatus.ContainerID != "c0ffee" {
		t.Errorf("a1 status = %+v", a1.Status)
	}
	if a1.DesiredState != swarm.TaskStateRunning || a1.ServiceID != "svc" || a1.Spec.ContainerSpec == nil {
		t.Errorf("a status update changed more than the status: %+v", a1)
	}
	if a2 := h.task("a2"); a2.Version != a2Before.Version {
		t.Errorf("a stale update was written: a2 = %+v", a2.Status)
	}
	if b1 := h.task("b1"); b1.Status.State != swarm.TaskStateStarting {
		t.Errorf("b1 = %s: w1's report on it must be dropped, w2's kept", b1.Status.State)
	}

	// A call with nothing new is answered at once and writes nothing.
	done, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: s1, Updates: []api.TaskStatusUpdate{update("a1", running)}})
	if err != nil || outcome(t, done) != nil || h.raft.count()-before != 1 {
		t.Errorf("a repeated update: %v; %d entries", err, h.raft.count()-before)
	}
}

func TestStatusCallsAreRefused(t *testing.T) {
	h := newHarness(t, nil,
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		task("a1", "svc", "w1", swarm.TaskStateRunning, nil, nil))
	sess := h.register("w1").SessionID
	cases := map[string]struct {
		node string
		req  api.StatusRequest
		want error
	}{
		"unknown session":   {"w1", api.StatusRequest{SessionID: "nope"}, ErrUnknownSession},
		"another's session": {"w2", api.StatusRequest{SessionID: sess}, ErrUnknownSession},
		"unknown state":     {"w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("a1", status("dozing", 0))}}, ErrInvalid},
		"no task":           {"w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("", status(swarm.TaskStateRunning, 0))}}, ErrInvalid},
	}
	for name, c := range cases {
		if _, err := h.d.QueueStatus(c.node, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}

	// An update that does not commit fails its call, for the agent to
	// retry.
	done, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("a1", status(swarm.TaskStateRunning, 0))}})
	if err != nil {
		t.Fatal(err)
	}
	h.raft.setFail(errLostLeadership)
	if err := h.d.Flush(context.Background()); !errors.Is(err, errLostLeadership) {
		t.Errorf("Flush = %v", err)
	}
	if err := outcome(t, done); !errors.Is(err, errLostLeadership) {
		t.Errorf("the call's outcome = %v, want the proposal's error", err)
	}
}

func TestFlushSplitsLargeBatches(t *testing.T) {
	objs := []any{node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady)}
	for i := range 1200 {
		objs = append(objs, task(fmt.Sprint("t", i), "svc", "w1", swarm.TaskStateRunning, nil, nil))
	}
	h := newHarness(t, nil, objs...)
	sess := h.register("w1").SessionID
	before := h.raft.count()
	var calls []<-chan error
	for c := range 3 {
		var ups []api.TaskStatusUpdate
		for i := c * 400; i < (c+1)*400; i++ {
			ups = append(ups, update(fmt.Sprint("t", i), status(swarm.TaskStateRunning, 0)))
		}
		done, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: sess, Updates: ups})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, done)
	}
	if err := h.d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if err := outcome(t, c); err != nil {
			t.Fatal(err)
		}
	}
	// 400+400 fit an entry; the third call's 400 would pass the bound.
	if got := h.raft.count() - before; got != 2 {
		t.Errorf("1200 updates in 3 calls took %d entries, want 2", got)
	}
	if got := h.task("t1199"); got.Status.State != swarm.TaskStateRunning {
		t.Errorf("t1199 = %s", got.Status.State)
	}
}

func TestRunCommitsStatus(t *testing.T) {
	// A delay no test waits out: only a full batch is flushed.
	h := newHarness(t, func(c *Config) { c.StatusBatchDelay, c.StatusBatchSize = time.Hour, 2 },
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady),
		task("a1", "svc", "w1", swarm.TaskStateRunning, nil, nil),
		task("a2", "svc", "w1", swarm.TaskStateRunning, nil, nil))
	sess := h.register("w1").SessionID
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { h.d.Run(ctx); close(ran) }()
	defer func() { stop(); <-ran }()

	first, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("a1", status(swarm.TaskStateRunning, 0))}})
	if err != nil {
		t.Fatal(err)
	}
	// The second update fills the batch: UpdateStatus returns once both
	// are committed.
	uctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.d.UpdateStatus(uctx, "w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("a2", status(swarm.TaskStateRunning, 0))}}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if err := outcome(t, first); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2"} {
		if got := h.task(id).Status.State; got != swarm.TaskStateRunning {
			t.Errorf("%s = %s after UpdateStatus returned", id, got)
		}
	}

	// A call waiting when the term ends is told so.
	waiting, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: sess, Updates: []api.TaskStatusUpdate{update("a1", status(swarm.TaskStateShutdown, time.Second))}})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran
	if err := outcome(t, waiting); !errors.Is(err, ErrStopped) {
		t.Errorf("pending call at the end of the term: %v, want ErrStopped", err)
	}
	if _, err := h.d.QueueStatus("w1", api.StatusRequest{SessionID: sess}); !errors.Is(err, ErrStopped) {
		t.Errorf("call after the term: %v, want ErrStopped", err)
	}
	if h.task("a1").Status.State != swarm.TaskStateRunning {
		t.Error("an update was committed after the term ended")
	}
}
