package exec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/swarmops/swarmops/agent/runtime"
)

func shTask(id, script string, env ...string) swarm.Task {
	return swarm.Task{
		ID: id, ServiceID: "svc1", Slot: 1,
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:   "ignored:latest",
			Command: []string{"/bin/sh", "-c"},
			Args:    []string{script},
			Env:     env,
		}},
	}
}

// run prepares and starts a task and removes it at the end of the test.
func run(t *testing.T, r *Runtime, task swarm.Task) {
	t.Helper()
	ctx := context.Background()
	if err := r.Prepare(ctx, runtime.Spec{Task: task, Service: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, task.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Remove(context.Background(), task.ID) })
}

func wait(t *testing.T, r *Runtime, id string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.Wait(ctx, id, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("task %s did not exit", id)
	}
	return err
}

// waitFor polls the task's stdout until it holds want.
func waitFor(t *testing.T, r *Runtime, id, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(r.taskDir(id), outFile))
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never printed %q (stdout %q)", id, want, b)
		}
		time.Sleep(10 * time.Millisecond) // polling the file, not waiting blind
	}
}

func logs(t *testing.T, r *Runtime, id string, o LogOptions) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := r.Logs(ctx, id, o)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String()
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want an *ExitError, got %v", err)
	}
	return ee.Code
}

func TestExitCodes(t *testing.T) {
	r := New(t.TempDir(), "node1")
	run(t, r, shTask("ok", "exit 0"))
	run(t, r, shTask("bad", "exit 3"))
	if err := wait(t, r, "ok"); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	err := wait(t, r, "bad")
	if code := exitCode(t, err); code != 3 || err.Error() != "task: non-zero exit (3)" {
		t.Errorf("exit 3: got %v", err)
	}
	// A fresh runtime (a restarted agent) reads the recorded code.
	if got := exitCode(t, wait(t, New(r.dir, "node1"), "bad")); got != 3 {
		t.Errorf("adopted exit code = %d, want 3", got)
	}
}

func TestPrepareNeedsCommand(t *testing.T) {
	r := New(t.TempDir(), "node1")
	task := swarm.Task{ID: "t", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "nginx"}}}
	if err := r.Prepare(context.Background(), runtime.Spec{Task: task, Service: "web"}); err == nil {
		t.Fatal("a task without a command was prepared")
	}
}

func TestEnvAndDir(t *testing.T) {
	r := New(t.TempDir(), "node1")
	dir := t.TempDir()
	task := shTask("env", `echo "$FOO"; pwd`, "FOO=bar baz")
	task.Spec.ContainerSpec.Dir = dir
	run(t, r, task)
	if err := wait(t, r, "env"); err != nil {
		t.Fatal(err)
	}
	out, _ := logs(t, r, "env", LogOptions{})
	if want := "bar baz\n" + dir + "\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestStopWithGrace(t *testing.T) {
	r := New(t.TempDir(), "node1")
	run(t, r, shTask("polite", "echo ready; exec sleep 30"))
	run(t, r, shTask("stubborn", `trap 'echo ignored' TERM; echo ready; while :; do sleep 0.05; done`))
	waitFor(t, r, "polite", "ready")
	waitFor(t, r, "stubborn", "ready")
	ctx := context.Background()
	grace := 2 * time.Second
	if err := r.Stop(ctx, "polite", &grace); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, wait(t, r, "polite")); code != 143 {
		t.Errorf("SIGTERM exit code = %d, want 143", code)
	}
	grace = 300 * time.Millisecond
	begin := time.Now()
	if err := r.Stop(ctx, "stubborn", &grace); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < grace {
		t.Errorf("killed after %v, before the grace of %v", took, grace)
	}
	if code := exitCode(t, wait(t, r, "stubborn")); code != 137 {
		t.Errorf("SIGKILL exit code = %d, want 137", code)
	}
	if out, _ := logs(t, r, "stubborn", LogOptions{}); !strings.Contains(out, "ignored") {
		t.Errorf("the process never saw SIGTERM: stdout %q", out)
	}
}

func TestAdoptAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r := New(dir, "node1")
	run(t, r, shTask("long", "echo ready; exec sleep 30"))
	waitFor(t, r, "long", "ready")
	before, err := r.List(context.Background())
	if err != nil || len(before) != 1 || before[0].State != "running" || before[0].Pid == 0 {
		t.Fatalf("List = %+v, %v", before, err)
	}

	fresh := New(dir, "node1")
	after, err := fresh.List(context.Background())
	if err != nil || len(after) != 1 {
		t.Fatalf("fresh List = %+v, %v", after, err)
	}
	if a := after[0]; a.TaskID != "long" || a.Name != "web.1.long" || a.State != "running" || a.Pid != before[0].Pid {
		t.Errorf("adopted %+v, want the same running process as %+v", a, before[0])
	}
	if other, _ := New(dir, "node2").List(context.Background()); len(other) != 0 {
		t.Errorf("another node's runtime lists %+v", other)
	}

	// Starting it again through the fresh runtime must not run a second copy.
	if err := fresh.Start(context.Background(), "long"); err != nil {
		t.Fatal(err)
	}
	if again, _ := fresh.List(context.Background()); again[0].Pid != before[0].Pid {
		t.Errorf("Start on a running task restarted it: pid %d, was %d", again[0].Pid, before[0].Pid)
	}

	grace := 2 * time.Second
	if err := fresh.Stop(context.Background(), "long", &grace); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, wait(t, fresh, "long")); code != 143 {
		t.Errorf("adopted exit code = %d, want 143", code)
	}
	if l, _ := fresh.List(context.Background()); len(l) != 1 || l[0].State != "exited" {
		t.Errorf("after stop List = %+v", l)
	}
	if err := fresh.Remove(context.Background(), "long"); err != nil {
		t.Fatal(err)
	}
	if l, _ := fresh.List(context.Background()); len(l) != 0 {
		t.Errorf("after remove List = %+v", l)
	}
}

func TestLogs(t *testing.T) {
	r := New(t.TempDir(), "node1")
	run(t, r, shTask("chatty", `for i in 1 2 3 4 5; do echo $i; done; echo e1 >&2; echo e2 >&2; printf end`))
	if err := wait(t, r, "chatty"); err != nil {
		t.Fatal(err)
	}
	out, errs := logs(t, r, "chatty", LogOptions{Tail: "2"})
	if out != "5\nend" || errs != "e1\ne2\n" {
		t.Errorf("tail 2: stdout %q stderr %q", out, errs)
	}
	out, _ = logs(t, r, "chatty", LogOptions{Tail: "all", Timestamps: true})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("stdout with timestamps = %q", out)
	}
	stamp, rest, _ := strings.Cut(lines[0], " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || rest != "1" {
		t.Errorf("line %q: want a timestamp then 1 (%v)", lines[0], err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsFollow(t *testing.T) {
	r := New(t.TempDir(), "node1")
	run(t, r, shTask("follow", `echo one; while [ ! -e go ]; do sleep 0.02; done; echo two`))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := r.Logs(ctx, "follow", LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out syncBuf
	done := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&out, io.Discard, rc); done <- err }()
	for out.String() != "one\n" {
		select {
		case <-ctx.Done():
			t.Fatalf("follow never showed the first line: %q", out.String())
		case <-time.After(10 * time.Millisecond): // polling the stream
		}
	}
	if err := os.WriteFile(filepath.Join(r.taskDir("follow"), workDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || out.String() != "one\ntwo\n" {
			t.Errorf("follow = %q, %v", out.String(), err)
		}
	case <-ctx.Done():
		t.Fatal("follow did not end when the process exited")
	}
}
