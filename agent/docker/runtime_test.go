package docker

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/swarmops/swarmops/agent/runtime"
)

func TestExitCodes(t *testing.T) {
	rt := newRuntime(t)
	if err := run(t, rt, task(1, "EXIT=0")); err != nil {
		t.Errorf("exit 0: Wait = %v, want nil", err)
	}
	err := run(t, rt, task(2, "EXIT=3"))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || err.Error() != "task: non-zero exit (3)" {
		t.Errorf("exit 3: Wait = %v, want task: non-zero exit (3)", err)
	}
	// A finished container is reported at once, as an adopting agent needs.
	tk := task(3, "EXIT=1")
	_ = run(t, rt, tk)
	if err := rt.Wait(testCtx(t), tk.ID, nil); err == nil || err.Error() != "task: non-zero exit (1)" {
		t.Errorf("Wait on an exited container = %v, want task: non-zero exit (1)", err)
	}
}

func TestStopHonoursGrace(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	grace := time.Second
	stubborn := task(1, "IGNORE_TERM=1", "SLEEP=1h", "LINES=ready")
	stubborn.Spec.ContainerSpec.StopGracePeriod = &grace
	polite := task(2, "SLEEP=1h", "LINES=ready")
	for _, tk := range []swarm.Task{stubborn, polite} {
		if err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"}); err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Stopped before it handles signals, the program (PID 1 of its
	// container) would not be the one the test means: wait until it is.
	for _, tk := range []swarm.Task{stubborn, polite} {
		waitForLine(t, rt, tk.ID, "ready")
	}

	if err := rt.Stop(ctx, polite.ID, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := rt.Wait(ctx, polite.ID, nil); err != nil {
		t.Errorf("a process exiting 0 on SIGTERM: Wait = %v, want nil", err)
	}

	begin := time.Now()
	if err := rt.Stop(ctx, stubborn.ID, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	took := time.Since(begin)
	var ee *ExitError
	if err := rt.Wait(ctx, stubborn.ID, nil); !errors.As(err, &ee) || ee.Code != 137 {
		t.Errorf("a process ignoring SIGTERM: Wait = %v, want killed (137)", err)
	}
	if took < grace || took > grace+5*time.Second {
		t.Errorf("stop took %v, want the %v grace then a kill", took, grace)
	}
	if err := rt.Stop(ctx, "no-such-task", nil); err != nil {
		t.Errorf("stopping a missing task: %v", err)
	}
}

func TestListAdoptsByLabel(t *testing.T) {
	a, b := newRuntime(t), newRuntime(t)
	ctx := testCtx(t)
	want := map[string]bool{}
	for _, tk := range []swarm.Task{task(1, "SLEEP=1h"), task(2)} {
		if err := a.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"}); err != nil {
			t.Fatal(err)
		}
		want[tk.ID] = true
	}
	if err := a.Start(ctx, task(0).ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("starting an unknown task = %v, want ErrNotFound", err)
	}
	other := task(1)
	if err := b.Prepare(ctx, runtime.Spec{Task: other, Service: "svc"}); err != nil {
		t.Fatal(err)
	}
	// A restarted agent is a new Runtime with the same node ID.
	owned, err := New(engine, a.nodeID).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range owned {
		got[o.TaskID] = true
		if o.ServiceID != "svc-id" || o.State != "created" || !strings.HasSuffix(o.Name, "."+o.TaskID) {
			t.Errorf("owned = %+v", o)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want exactly %v (not the other node's %s)", got, want, other.ID)
	}
	if err := a.Remove(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if owned, _ := b.List(ctx); len(owned) != 1 {
		t.Errorf("a runtime removed another node's container: %v", owned)
	}
}

func TestLogs(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1, "LINES=one,two,three", "STDERR=oops")
	if err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	read := func(o LogOptions) (stdout, stderr string) {
		t.Helper()
		rc, err := rt.Logs(ctx, tk.ID, o)
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		defer rc.Close()
		var out, errb bytes.Buffer
		if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
			t.Fatalf("read logs: %v", err)
		}
		return out.String(), errb.String()
	}
	// Following ends when the container stops, with everything it wrote.
	out, errOut := read(LogOptions{Follow: true})
	if out != "one\ntwo\nthree\n" || errOut != "oops\n" {
		t.Errorf("follow: stdout %q stderr %q", out, errOut)
	}
	// The tail counts lines of both streams together: the last two the
	// engine logged. The engine copies stdout and stderr separately, so
	// which of "oops" and "two" it logged last varies; either way stdout's
	// part is its own last lines.
	if out, errOut := read(LogOptions{Tail: "2"}); strings.Count(out, "\n")+strings.Count(errOut, "\n") != 2 ||
		!strings.HasSuffix("one\ntwo\nthree\n", out) || !strings.HasSuffix("oops\n", errOut) {
		t.Errorf("tail 2: stdout %q stderr %q; want the last two lines logged", out, errOut)
	}
	out, _ = read(LogOptions{Timestamps: true})
	for _, l := range lines(out) {
		ts, _, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("timestamps: line %q: %v", l, err)
		}
	}
}

func TestUnhealthy(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1, "SLEEP=1h")
	tk.Spec.ContainerSpec.Healthcheck = &container.HealthConfig{
		Test: []string{"CMD", "/prog", "fail"}, Interval: 200 * time.Millisecond, Retries: 1,
	}
	if err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err := rt.Wait(ctx, tk.ID, func(s string) { seen = append(seen, s) })
	if !errors.Is(err, ErrUnhealthy) || err.Error() != "unhealthy container" {
		t.Errorf("Wait = %v, want unhealthy container", err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != "unhealthy" {
		t.Errorf("health seen = %v, want it to end with unhealthy", seen)
	}
}

func TestMissingImage(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1)
	tk.Spec.ContainerSpec.Image = "swarmops-no-such-image-" + runID + ":v1"
	err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"})
	if want := "No such image: " + tk.Spec.ContainerSpec.Image; err == nil || err.Error() != want {
		t.Errorf("Prepare = %v, want %q", err, want)
	}
	if owned, _ := rt.List(ctx); len(owned) != 0 {
		t.Errorf("a container was left: %v", owned)
	}
}
