package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// dockerCLI runs the real docker CLI against one manager of a harness,
// with a client certificate as `swarmops env` sets it up.
type dockerCLI struct {
	bin string
	env []string
}

// newDockerCLI fails under CI=true and skips elsewhere when the docker
// binary is missing; no engine is needed, the CLI talks to the harness.
func newDockerCLI(t *testing.T, h *harness, m *manager) *dockerCLI {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the docker CLI is required (CI=true): %v", err)
		}
		t.Skipf("no docker CLI on PATH (%v): these tests run it against the API", err)
	}
	certPEM, keyPEM, err := h.pki.root.IssueKeyPair("cli0000000000000000000000", ca.RoleClient, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l := ca.NewLayout(t.TempDir())
	if err := l.SaveClient(h.pki.root, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	env = append(env, "DOCKER_HOST=tcp://"+m.addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+l.ClientDir(),
		"DOCKER_CONFIG="+t.TempDir())
	return &dockerCLI{bin: bin, env: env}
}

// run runs the CLI to its end and returns its stdout and stderr.
func (d *dockerCLI) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("docker %s: no end within a minute\n%s%s", strings.Join(args, " "), o.String(), e.String())
	}
	return o.String(), e.String(), err
}

// sortedLines splits output into its lines, sorted: tasks' lines arrive
// in whatever order their nodes send them.
func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if s == "" {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

func TestDockerCLIServiceLogs(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	d := newDockerCLI(t, f.h, f.h.managers[0])
	web1, old1, web2 := "web.1.taskweb1aaaa@w1    | ", "web.1.taskweb1oldd@w1    | ", "web.2.taskweb2bbbb@mgr1    | "

	stdout, stderr, err := d.run(t, "service", "logs", "web")
	if err != nil {
		t.Fatalf("docker service logs web: %v\n%s%s", err, stdout, stderr)
	}
	want := []string{web1 + "bye from 1", web1 + "hello from 1", old1 + "old 1", web2 + "hello from 2"}
	if got := sortedLines(stdout); !slices.Equal(got, want) {
		t.Errorf("stdout:\n%s\nwant (in any order):\n%s", stdout, strings.Join(want, "\n"))
	}
	if i, j := strings.Index(stdout, "hello from 1"), strings.Index(stdout, "bye from 1"); i > j {
		t.Errorf("a task's lines out of order:\n%s", stdout)
	}
	if stderr != web1+"oops from 1\n" {
		t.Errorf("stderr %q, want web.1's stderr line", stderr)
	}

	t.Run("tail", func(t *testing.T) {
		stdout, _, err := d.run(t, "service", "logs", "--tail", "1", "web")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{web1 + "bye from 1", old1 + "old 1", web2 + "hello from 2"}
		if got := sortedLines(stdout); !slices.Equal(got, want) {
			t.Errorf("--tail 1:\n%s\nwant one line per task:\n%s", stdout, strings.Join(want, "\n"))
		}
	})

	t.Run("timestamps", func(t *testing.T) {
		stdout, stderr, err := d.run(t, "service", "logs", "--timestamps", "web")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"2026-11-27T09:00:00.000000000Z " + old1 + "old 1",
			"2026-11-27T10:00:01.000000000Z " + web1 + "hello from 1",
			"2026-11-27T10:00:01.500000000Z " + web2 + "hello from 2",
			"2026-11-27T10:00:03.000000000Z " + web1 + "bye from 1",
		}
		if got := sortedLines(stdout); !slices.Equal(got, want) {
			t.Errorf("--timestamps:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
		}
		if stderr != "2026-11-27T10:00:02.000000000Z "+web1+"oops from 1\n" {
			t.Errorf("--timestamps stderr %q", stderr)
		}
	})

	t.Run("since", func(t *testing.T) {
		stdout, _, err := d.run(t, "service", "logs", "--since", "2026-11-27T10:00:01.2Z", "web")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{web1 + "bye from 1", web2 + "hello from 2"}
		if got := sortedLines(stdout); !slices.Equal(got, want) {
			t.Errorf("--since:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
		}
	})

	t.Run("task", func(t *testing.T) {
		stdout, _, err := d.run(t, "service", "logs", "--no-trunc", taskWeb2)
		if err != nil {
			t.Fatal(err)
		}
		if want := "web.2." + taskWeb2 + "@mgr1    | hello from 2\n"; stdout != want {
			t.Errorf("logs of a task:\n%q\nwant\n%q", stdout, want)
		}
	})

	t.Run("raw details", func(t *testing.T) {
		stdout, _, err := d.run(t, "service", "logs", "--raw", "--details", taskWeb2)
		if err != nil {
			t.Fatal(err)
		}
		if want := details(f.h.managers[0].id, f.svcID, taskWeb2) + " hello from 2\n"; stdout != want {
			t.Errorf("--raw --details:\n%q\nwant\n%q", stdout, want)
		}
	})

	t.Run("node not available", func(t *testing.T) {
		f.fake.mu.Lock()
		f.fake.errs[taskWeb2] = fmt.Errorf("no session: %w", ErrNodeUnavailable)
		f.fake.mu.Unlock()
		defer func() {
			f.fake.mu.Lock()
			delete(f.fake.errs, taskWeb2)
			f.fake.mu.Unlock()
		}()
		stdout, stderr, err := d.run(t, "service", "logs", "web")
		if err == nil {
			t.Errorf("exit 0 though a node was not asked")
		}
		if !strings.Contains(stdout, web1+"bye from 1") || strings.Contains(stdout, "hello from 2") {
			t.Errorf("stdout:\n%s\nwant the other tasks' lines", stdout)
		}
		want := "error from daemon in stream: Error grabbing logs: warning: incomplete log stream. some logs could not be retrieved for the following reasons: node " +
			f.h.managers[0].id + " is not available"
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q\nwant it to contain %q", stderr, want)
		}
	})
}

// notifyBuffer collects a running process's output and lets a test wait
// for a piece of it.
type notifyBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{})} }

func (b *notifyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *notifyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output holds every one of want.
func (b *notifyBuffer) waitFor(t *testing.T, within time.Duration, want ...string) {
	t.Helper()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		out, changed := b.buf.String(), b.changed
		b.mu.Unlock()
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(out, w) }) {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("no %q within %s; output so far:\n%s", want, within, out)
		}
	}
}

func TestDockerCLIFollowsServiceLogs(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	f.fake.live[taskWeb1] = true
	d := newDockerCLI(t, f.h, f.h.managers[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, "service", "logs", "-f", "web")
	cmd.Env = d.env
	out, errOut := newNotifyBuffer(), newNotifyBuffer()
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	out.waitFor(t, 30*time.Second, "web.2.taskweb2bbbb@mgr1    | hello from 2\n", "web.1.taskweb1oldd@w1    | old 1\n")
	var live liveLog
	select {
	case live = <-f.fake.opened:
	case <-time.After(30 * time.Second):
		t.Fatal("web.1's node was never asked")
	}
	writeAgentLine(live.w, agentLine{t0, stdcopy.Stdout, "live 1\n"}, false)
	out.waitFor(t, 30*time.Second, "web.1.taskweb1aaaa@w1    | live 1\n")
	writeAgentLine(live.w, agentLine{t0, stdcopy.Stderr, "live oops\n"}, false)
	errOut.waitFor(t, 30*time.Second, "web.1.taskweb1aaaa@w1    | live oops\n")

	// A new task of the service joins the stream.
	f.fake.mu.Lock()
	f.fake.lines["taskweb3newwwwwwwwwwwwww0"] = []agentLine{{t0, stdcopy.Stdout, "new 3\n"}}
	f.fake.mu.Unlock()
	f.h.propose(store.Create(f.task("taskweb3newwwwwwwwwwwwww0", 3, workerID, swarm.TaskStateRunning, false)))
	out.waitFor(t, 30*time.Second, "web.3.taskweb3neww@w1    | new 3\n")

	select {
	case err := <-exited:
		t.Fatalf("docker service logs -f ended by itself (%v):\n%s%s", err, out, errOut)
	default:
	}
	// The user's ^C: the CLI goes, and the leader stops fetching.
	cancel()
	<-exited
	select {
	case <-live.ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the followed task's fetch went on after the CLI left")
	}
}
