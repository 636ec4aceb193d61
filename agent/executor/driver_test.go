package executor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/runtime"
)

// fakeRuntime records calls; Wait reports the health statuses in health,
// then returns what the test sends on exit, or ctx's error.
type fakeRuntime struct {
	mu         sync.Mutex
	calls      []string
	waits      int // Wait calls
	waiting    int // Wait calls not yet returned
	prepareErr error
	health     []string
	exit       chan error
}

func newFake() *fakeRuntime { return &fakeRuntime{exit: make(chan error, 1)} }

func (f *fakeRuntime) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeRuntime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeRuntime) Prepare(_ context.Context, s runtime.Spec) error {
	f.record("prepare " + s.Service + " " + s.Task.ID)
	return f.prepareErr
}
func (f *fakeRuntime) Start(_ context.Context, id string) error { f.record("start " + id); return nil }
func (f *fakeRuntime) Stop(_ context.Context, id string, _ *time.Duration) error {
	f.record("stop " + id)
	return nil
}
func (f *fakeRuntime) Remove(_ context.Context, id string) error {
	f.record("remove " + id)
	return nil
}

func (f *fakeRuntime) Wait(ctx context.Context, id string, onHealth func(string)) error {
	f.mu.Lock()
	f.waits++ // counted apart: the waiter runs beside Run's calls
	f.waiting++
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.waiting--; f.mu.Unlock() }()
	health := f.health
	if len(health) == 0 {
		health = []string{"none"} // no healthcheck, as a runtime says first
	}
	for _, h := range health {
		onHealth(h)
	}
	select {
	case err := <-f.exit:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run starts Run in a goroutine; reports arrive on the returned channel as
// "state message err" lines, and Run's result on the other.
func run(t *testing.T, ctx context.Context, rt Runtime, tk swarm.Task, desired <-chan swarm.TaskState) (<-chan string, <-chan error) {
	t.Helper()
	reports := make(chan string, 32)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, rt, Spec{Task: tk, Service: "web"}, desired, func(s swarm.TaskStatus) {
			reports <- fmt.Sprintf("%s %s %s", s.State, s.Message, s.Err)
		})
	}()
	return reports, done
}

// expect reads the next reports and fails unless they are want, in order.
func expect(t *testing.T, ctx context.Context, reports <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-reports:
			if got != w {
				t.Fatalf("report %q, want %q", got, w)
			}
		case <-ctx.Done():
			t.Fatalf("no report %q: %v", w, ctx.Err())
		}
	}
}

func finish(t *testing.T, ctx context.Context, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) && err != want {
			t.Fatalf("Run = %v, want %v", err, want)
		}
	case <-ctx.Done():
		t.Fatalf("Run did not return: %v", ctx.Err())
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var up = []string{"accepted accepted ", "preparing preparing ", "ready prepared ", "starting starting ", "running started "}

func checkCalls(t *testing.T, f *fakeRuntime, waits int, want ...string) {
	t.Helper()
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waits != waits {
		t.Errorf("%d Wait calls, want %d", f.waits, waits)
	}
	if f.waiting != 0 {
		t.Errorf("%d Wait calls still running after Run returned", f.waiting)
	}
}

func TestRunToCompletion(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	f.exit <- nil
	reports, done := run(t, ctx, f, task(sAssigned, sRunning), nil)
	expect(t, ctx, reports, append(up, "complete finished ")...)
	finish(t, ctx, done, nil)
	checkCalls(t, f, 1, "prepare web t1", "start t1")
	if len(reports) != 0 {
		t.Errorf("extra report %q", <-reports)
	}
}

func TestRunReadyThenRunningThenExit1(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	desired := make(chan swarm.TaskState)
	reports, done := run(t, ctx, f, task(sAssigned, sReady), desired)
	expect(t, ctx, reports, up[:3]...)
	desired <- sRunning // received only once Run idles at ready
	expect(t, ctx, reports, up[3:]...)
	f.exit <- &runtime.ExitError{Code: 1}
	expect(t, ctx, reports, "failed failed task: non-zero exit (1)")
	close(desired)
	finish(t, ctx, done, nil)
	checkCalls(t, f, 1, "prepare web t1", "start t1")
}

func TestRunPrepareErrorRejects(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	f.prepareErr = errBoom
	reports, done := run(t, ctx, f, task(sAssigned, sRunning), nil)
	expect(t, ctx, reports, "accepted accepted ", "preparing preparing ", "rejected preparing "+errBoom.Error())
	finish(t, ctx, done, nil)
	checkCalls(t, f, 0, "prepare web t1")
}

func TestRunShutdownThenRemove(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	desired := make(chan swarm.TaskState)
	reports, done := run(t, ctx, f, task(sAssigned, sRunning), desired)
	expect(t, ctx, reports, up...)
	desired <- sShutdown
	expect(t, ctx, reports, "shutdown shutdown ")
	desired <- sRemove
	finish(t, ctx, done, nil)
	// The waiter ended with the task, though the fake never exited.
	checkCalls(t, f, 1, "prepare web t1", "start t1", "stop t1", "remove t1")
}

func TestRunUnhealthyFailsAndStops(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	f.health = []string{"starting", "healthy", "unhealthy"}
	reports, done := run(t, ctx, f, task(sRunning, sRunning), nil) // adopted: no prepare, no start
	expect(t, ctx, reports, "failed prev unhealthy container")
	finish(t, ctx, done, nil)
	checkCalls(t, f, 1, "stop t1")
}

func TestRunTerminalDoesNothing(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	reports, done := run(t, ctx, f, task(sComplete, sShutdown), nil)
	finish(t, ctx, done, nil)
	checkCalls(t, f, 0)
	if len(reports) != 0 {
		t.Errorf("terminal task reported %q", <-reports)
	}
}

func TestRunContextEndsWait(t *testing.T) {
	ctx := testCtx(t)
	f := newFake()
	rctx, cancel := context.WithCancel(ctx)
	reports, done := run(t, rctx, f, task(sAssigned, sRunning), make(chan swarm.TaskState))
	expect(t, ctx, reports, up...)
	cancel()
	finish(t, ctx, done, context.Canceled)
	checkCalls(t, f, 1, "prepare web t1", "start t1")
}
