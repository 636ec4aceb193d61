package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	timetypes "github.com/docker/docker/api/types/time"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// agentLine is one line a fake node holds for a task.
type agentLine struct {
	at     time.Time
	stream stdcopy.StdType
	text   string
}

// liveLog is a followed task's stream the test writes to.
type liveLog struct {
	w   *io.PipeWriter
	ctx context.Context
}

// fakeLogs stands in for the leader's TaskLogs, answering as an agent
// does: the lines a task's node holds, cut by tail and since and stamped
// (RFC 3339 with trimmed nanoseconds, as the exec runtime stamps them)
// when asked; an error; or a live stream. It records who asked for what.
type fakeLogs struct {
	mu    sync.Mutex
	lines map[string][]agentLine
	errs  map[string]error
	// live tasks answer a pipe; opened receives each one as it is asked.
	live   map[string]bool
	opened chan liveLog
	calls  []fakeCall
}

type fakeCall struct {
	manager string
	q       api.LogsQuery
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{lines: map[string][]agentLine{}, errs: map[string]error{}, live: map[string]bool{}, opened: make(chan liveLog, 16)}
}

// forManager is the TaskLogs of manager id: calls are recorded with it.
func (f *fakeLogs) forManager(id string) TaskLogs { return managerLogs{f, id} }

type managerLogs struct {
	f  *fakeLogs
	id string
}

func (m managerLogs) TaskLogs(ctx context.Context, t *swarm.Task, q api.LogsQuery) (io.ReadCloser, error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{m.id, q})
	if q.Task != t.ID {
		return nil, fmt.Errorf("query names task %q, asked for %s", q.Task, t.ID)
	}
	if err := f.errs[t.ID]; err != nil {
		return nil, err
	}
	if f.live[t.ID] {
		pr, pw := io.Pipe()
		f.opened <- liveLog{w: pw, ctx: ctx}
		return pr, nil
	}
	lines := f.lines[t.ID]
	if q.Since != "" {
		sec, nsec, err := timetypes.ParseTimestamps(q.Since, 0)
		if err != nil {
			return nil, err
		}
		since := time.Unix(sec, nsec)
		lines = slices.DeleteFunc(slices.Clone(lines), func(l agentLine) bool { return l.at.Before(since) })
	}
	if q.Tail != "" && q.Tail != "all" {
		n, err := strconv.Atoi(q.Tail)
		if err != nil {
			return nil, err
		}
		lines = lines[max(0, len(lines)-n):]
	}
	var buf bytes.Buffer
	for _, l := range lines {
		writeAgentLine(&buf, l, q.Timestamps)
	}
	return io.NopCloser(&buf), nil
}

func writeAgentLine(w io.Writer, l agentLine, timestamps bool) {
	text := l.text
	if timestamps {
		text = l.at.UTC().Format(time.RFC3339Nano) + " " + text
	}
	_, _ = stdcopy.NewStdWriter(w, l.stream).Write([]byte(text))
}

func (f *fakeLogs) callsFor(task string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.q.Task == task {
			out = append(out, c)
		}
	}
	return out
}

// IDs of the logs fixture.
const (
	workerID  = "worker1aaaaaaaaaaaaaaaaaa"
	taskWeb1  = "taskweb1aaaaaaaaaaaaaaaaa"
	taskWeb2  = "taskweb2bbbbbbbbbbbbbbbbb"
	taskOld1  = "taskweb1oldddddddddddddd0"
	taskRej2  = "taskweb2rejjjjjjjjjjjjjj0"
	taskStart = "taskweb2startttttttttttt0"
	taskPend3 = "taskweb3pendddddddddddddd"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// logsFixture is a cluster with service web (2 replicas) whose tasks'
// nodes hold some lines:
//
//	web.1 taskWeb1  on w1, running:  hello from 1 / oops from 1 (stderr) / bye from 1
//	web.2 taskWeb2  on mgr1, running: hello from 2
//	web.1 taskOld1  on w1, shutdown (it ran): old 1
//	web.2 taskRej2  on w1, rejected: the node has no logs for it
//	web.2 taskStart on mgr1, starting: never asked without follow
//	web.3 taskPend3 pending, no node
type logsFixture struct {
	h     *harness
	fake  *fakeLogs
	svcID string
}

func newLogsFixture(t *testing.T, managers int, tty bool) *logsFixture {
	t.Helper()
	fake := newFakeLogs()
	h := newHarnessWith(t, managers, func(c *Config) { c.Logs = fake.forManager(c.NodeID) })
	h.addWorker(workerID, "w1", swarm.NodeStateReady, nil)
	spec := minimalSpec("web", "nginx")
	spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(2))}
	spec.TaskTemplate.ContainerSpec.TTY = tty
	svc, err := h.docker(h.leader(), h.clientCert()).ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &logsFixture{h: h, fake: fake, svcID: svc.ID}
	mgr := h.managers[0].id
	h.propose(
		store.Create(f.task(taskWeb1, 1, workerID, swarm.TaskStateRunning, tty)),
		store.Create(f.task(taskWeb2, 2, mgr, swarm.TaskStateRunning, tty)),
		store.Create(f.task(taskOld1, 1, workerID, swarm.TaskStateShutdown, tty)),
		store.Create(f.task(taskRej2, 2, workerID, swarm.TaskStateRejected, tty)),
		store.Create(f.task(taskStart, 2, mgr, swarm.TaskStateStarting, tty)),
		store.Create(f.task(taskPend3, 3, "", swarm.TaskStatePending, tty)),
	)
	fake.lines[taskWeb1] = []agentLine{
		{t0.Add(1 * time.Second), stdcopy.Stdout, "hello from 1\n"},
		{t0.Add(2 * time.Second), stdcopy.Stderr, "oops from 1\n"},
		{t0.Add(3 * time.Second), stdcopy.Stdout, "bye from 1\n"},
	}
	fake.lines[taskWeb2] = []agentLine{{t0.Add(1500 * time.Millisecond), stdcopy.Stdout, "hello from 2\n"}}
	fake.lines[taskOld1] = []agentLine{{t0.Add(-time.Hour), stdcopy.Stdout, "old 1\n"}}
	fake.lines[taskStart] = []agentLine{{t0, stdcopy.Stdout, "not yet\n"}}
	fake.lines[taskPend3] = []agentLine{{t0, stdcopy.Stdout, "nowhere\n"}}
	fake.errs[taskRej2] = fmt.Errorf("no such container: %w", ErrNoTaskLogs)
	return f
}

func (f *logsFixture) task(id string, slot int, node string, state swarm.TaskState, tty bool) *swarm.Task {
	return &swarm.Task{ID: id, ServiceID: f.svcID, Slot: slot, NodeID: node, DesiredState: swarm.TaskStateRunning,
		Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "nginx", TTY: tty}},
		Status: swarm.TaskStatus{State: state}}
}

// frame is one stdcopy frame of an answer.
type frame struct {
	stream stdcopy.StdType
	data   string
}

// readFrames splits a multiplexed body into its frames.
func readFrames(t *testing.T, body []byte) []frame {
	t.Helper()
	var out []frame
	for len(body) > 0 {
		if len(body) < 8 {
			t.Fatalf("truncated frame header: %q", body)
		}
		n := binary.BigEndian.Uint32(body[4:8])
		if uint32(len(body)-8) < n {
			t.Fatalf("truncated frame: %q", body)
		}
		out = append(out, frame{stdcopy.StdType(body[0]), string(body[8 : 8+n])})
		body = body[8+n:]
	}
	return out
}

func details(node, svc, task string) string {
	return "com.docker.swarm.node.id=" + node + ",com.docker.swarm.service.id=" + svc + ",com.docker.swarm.task.id=" + task
}

func TestServiceLogsFramesOneLinePerFrameWithDetails(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	m, cert := f.h.managers[0], f.h.clientCert()
	status, body, hdr := f.h.raw(m, cert, "GET", "/v1.41/services/web/logs?stdout=1&stderr=1&details=1&timestamps=1", nil)
	if status != http.StatusOK {
		t.Fatalf("logs: %d %s", status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
		t.Errorf("Content-Type %q, want the daemon's for API 1.41", ct)
	}
	byTask := map[string][]frame{}
	for _, fr := range readFrames(t, body) {
		if strings.Count(fr.data, "\n") != 1 || !strings.HasSuffix(fr.data, "\n") {
			t.Errorf("frame %q is not one line", fr.data)
		}
		_, rest, _ := strings.Cut(fr.data, " ")
		d, _, _ := strings.Cut(rest, " ")
		task := d[strings.LastIndex(d, "=")+1:]
		byTask[task] = append(byTask[task], fr)
	}
	web1 := details(workerID, f.svcID, taskWeb1)
	want := map[string][]frame{
		taskWeb1: {
			{stdcopy.Stdout, "2026-11-27T10:00:01.000000000Z " + web1 + " hello from 1\n"},
			{stdcopy.Stderr, "2026-11-27T10:00:02.000000000Z " + web1 + " oops from 1\n"},
			{stdcopy.Stdout, "2026-11-27T10:00:03.000000000Z " + web1 + " bye from 1\n"},
		},
		taskWeb2: {{stdcopy.Stdout, "2026-11-27T10:00:01.500000000Z " + details(m.id, f.svcID, taskWeb2) + " hello from 2\n"}},
		taskOld1: {{stdcopy.Stdout, "2026-11-27T09:00:00.000000000Z " + details(workerID, f.svcID, taskOld1) + " old 1\n"}},
	}
	for task, frames := range want {
		if !slices.Equal(byTask[task], frames) {
			t.Errorf("task %s:\n got %q\nwant %q", task, byTask[task], frames)
		}
	}
	if len(byTask) != len(want) {
		t.Errorf("frames of tasks %v, want only %d tasks'", keys(byTask), len(want))
	}
	// The rejected task was asked (its node had nothing: skipped
	// silently); tasks that never ran were not.
	if len(f.fake.callsFor(taskRej2)) != 1 || len(f.fake.callsFor(taskStart)) != 0 || len(f.fake.callsFor(taskPend3)) != 0 {
		t.Errorf("calls: rejected %d, starting %d, pending %d; want 1, 0, 0",
			len(f.fake.callsFor(taskRej2)), len(f.fake.callsFor(taskStart)), len(f.fake.callsFor(taskPend3)))
	}
	if c := f.fake.callsFor(taskWeb1); len(c) != 1 || c[0].q != (api.LogsQuery{Task: taskWeb1, Timestamps: true}) {
		t.Errorf("web.1 asked with %+v", c)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestTaskLogsStreamsAndOptionsPassThrough(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	m, cert := f.h.managers[0], f.h.clientCert()
	since := t0.Add(2 * time.Second)
	// stderr only, tail and since reach the node; only web.1's lines.
	path := fmt.Sprintf("/v1.41/tasks/taskweb1a/logs?stderr=1&tail=2&since=%d.000000000", since.Unix())
	status, body, _ := f.h.raw(m, cert, "GET", path, nil)
	if status != http.StatusOK {
		t.Fatalf("logs: %d %s", status, body)
	}
	got := readFrames(t, body)
	if want := []frame{{stdcopy.Stderr, "oops from 1\n"}}; !slices.Equal(got, want) {
		t.Errorf("frames %q, want %q", got, want)
	}
	c := f.fake.callsFor(taskWeb1)
	if want := (api.LogsQuery{Task: taskWeb1, Tail: "2", Since: fmt.Sprintf("%d.000000000", since.Unix())}); len(c) != 1 || c[0].q != want {
		t.Errorf("node asked %+v, want %+v", c, want)
	}
	// A task that has no node yet: the stream says so at its end, in
	// Swarm's words, on the system-error stream the CLI reports.
	status, body, _ = f.h.raw(m, cert, "GET", "/v1.41/tasks/"+taskPend3+"/logs?stdout=1", nil)
	if status != http.StatusOK {
		t.Fatalf("logs: %d %s", status, body)
	}
	want := []frame{{stdcopy.Systemerr, "Error grabbing logs: warning: incomplete log stream. some logs could not be retrieved for the following reasons: task " + taskPend3 + " has not been scheduled\n"}}
	if got := readFrames(t, body); !slices.Equal(got, want) {
		t.Errorf("frames %q, want %q", got, want)
	}
}

func TestServiceLogsWithTTYAreNotMultiplexed(t *testing.T) {
	f := newLogsFixture(t, 1, true)
	m, cert := f.h.managers[0], f.h.clientCert()
	status, body, hdr := f.h.raw(m, cert, "GET", "/v1.41/tasks/"+taskWeb1+"/logs?stdout=1&stderr=1", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Fatalf("logs: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	if want := "hello from 1\noops from 1\nbye from 1\n"; string(body) != want {
		t.Errorf("body %q, want the raw lines %q", body, want)
	}
}

func TestLogsUnavailableNodeIsReportedAtTheEnd(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	m, cert := f.h.managers[0], f.h.clientCert()
	f.fake.errs[taskWeb2] = fmt.Errorf("node %s has no session: %w", m.id, ErrNodeUnavailable)
	f.fake.errs[taskOld1] = errors.New("agent said: 500 Internal Server Error: disk on fire")
	status, body, _ := f.h.raw(m, cert, "GET", "/v1.41/services/web/logs?stdout=1&stderr=1", nil)
	if status != http.StatusOK {
		t.Fatalf("logs: %d %s", status, body)
	}
	frames := readFrames(t, body)
	if len(frames) != 4 {
		t.Fatalf("frames %q: want web.1's three lines and the verdict", frames)
	}
	last := frames[len(frames)-1]
	reasons := []string{"node " + m.id + " is not available", "task " + taskOld1 + ": agent said: 500 Internal Server Error: disk on fire"}
	prefix := "Error grabbing logs: warning: incomplete log stream. some logs could not be retrieved for the following reasons: "
	if last.stream != stdcopy.Systemerr || !strings.HasPrefix(last.data, prefix) {
		t.Fatalf("last frame %q, want the incomplete-stream warning", last)
	}
	for _, r := range reasons {
		if !strings.Contains(last.data, r) {
			t.Errorf("verdict %q does not give %q", last.data, r)
		}
	}
}

func TestLogsParameterErrors(t *testing.T) {
	f := newLogsFixture(t, 1, false)
	m, cert := f.h.managers[0], f.h.clientCert()
	for _, c := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/v1.41/services/web/logs", 400, "Bad parameters: you must choose at least one stream"},
		{"/v1.41/services/web/logs?stdout=0&stderr=false", 400, "Bad parameters: you must choose at least one stream"},
		{"/v1.41/services/web/logs?stdout=1&tail=-1", 400, "negative tail values not supported"},
		{"/v1.41/services/web/logs?stdout=1&tail=ten", 400, `tail value must be a positive integer or "all"`},
		{"/v1.41/services/web/logs?stdout=1&since=yesterday", 400, "could not parse since timestamp"},
		{"/v1.41/services/nosuch/logs?stdout=1", 404, "service nosuch not found"},
		{"/v1.41/tasks/nosuch/logs?stdout=1", 404, "task nosuch not found"},
		{"/v1.41/tasks/taskweb/logs?stdout=1", 400, "task taskweb is ambiguous"},
	} {
		status, body, _ := f.h.raw(m, cert, "GET", c.path, nil)
		t.Run(c.path, func(t *testing.T) { wantError(t, status, body, c.status, c.msg) })
	}
	f.fake.mu.Lock()
	defer f.fake.mu.Unlock()
	if len(f.fake.calls) != 0 {
		t.Errorf("a refused request reached the nodes: %+v", f.fake.calls)
	}
}

// frameReader hands over the frames of a streamed answer as they come.
func frameReader(t *testing.T, body io.Reader) <-chan frame {
	t.Helper()
	ch := make(chan frame, 64)
	go func() {
		defer close(ch)
		var hdr [8]byte
		for {
			if _, err := io.ReadFull(body, hdr[:]); err != nil {
				return
			}
			data := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
			if _, err := io.ReadFull(body, data); err != nil {
				return
			}
			ch <- frame{stdcopy.StdType(hdr[0]), string(data)}
		}
	}()
	return ch
}

// waitFrames reads frames until every one of want has come, and returns
// all read; it fails after within.
func waitFrames(t *testing.T, frames <-chan frame, within time.Duration, want ...string) []string {
	t.Helper()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	var got []string
	missing := slices.Clone(want)
	for len(missing) > 0 {
		select {
		case fr, ok := <-frames:
			if !ok {
				t.Fatalf("the stream ended; got %q, still missing %q", got, missing)
			}
			got = append(got, fr.data)
			missing = slices.DeleteFunc(missing, func(w string) bool { return w == fr.data })
		case <-timeout.C:
			t.Fatalf("no %q within %s; got %q", missing, within, got)
		}
	}
	return got
}

func TestFollowedLogsStreamThroughAFollowerAndPickUpNewTasks(t *testing.T) {
	f := newLogsFixture(t, 2, false)
	leader, follower := f.h.managers[0], f.h.managers[1]
	f.fake.live[taskWeb1] = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+follower.addr+"/v1.41/services/web/logs?stdout=1&stderr=1&follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: f.h.pki.transport(f.h.clientCert())}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("follow: %d %s", resp.StatusCode, b)
	}
	frames := frameReader(t, resp.Body)
	// The tasks that ran come at once; the followed one as it writes.
	waitFrames(t, frames, 10*time.Second, "hello from 2\n", "old 1\n")
	var live liveLog
	select {
	case live = <-f.fake.opened:
	case <-time.After(10 * time.Second):
		t.Fatal("web.1's node was never asked")
	}
	writeAgentLine(live.w, agentLine{t0, stdcopy.Stdout, "live 1\n"}, false)
	waitFrames(t, frames, 10*time.Second, "live 1\n")
	writeAgentLine(live.w, agentLine{t0, stdcopy.Stderr, "live err 1\n"}, false)
	waitFrames(t, frames, 10*time.Second, "live err 1\n")

	// A task reaching running, and a new task, join the stream.
	f.fake.mu.Lock()
	f.fake.lines["taskweb3newwwwwwwwwwwwww0"] = []agentLine{{t0, stdcopy.Stdout, "new 3\n"}}
	f.fake.mu.Unlock()
	f.h.propose(
		store.SetTaskStatus(taskStart, leader.id, swarm.TaskStatus{State: swarm.TaskStateRunning}),
		store.Create(f.task("taskweb3newwwwwwwwwwwwww0", 3, workerID, swarm.TaskStateRunning, false)),
	)
	waitFrames(t, frames, 10*time.Second, "not yet\n", "new 3\n")

	// The client leaving ends the fetches on the leader.
	cancel()
	select {
	case <-live.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the followed task's fetch went on after the client left")
	}
	f.fake.mu.Lock()
	defer f.fake.mu.Unlock()
	for _, c := range f.fake.calls {
		if c.manager != leader.id {
			t.Errorf("manager %s asked a node for %s; only the leader may", c.manager, c.q.Task)
		}
		if !c.q.Follow {
			t.Errorf("task %s asked without follow", c.q.Task)
		}
	}
}

func TestFollowingAnUnscheduledTaskAnswersAtOnceThroughAFollower(t *testing.T) {
	f := newLogsFixture(t, 2, false)
	follower := f.h.managers[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+follower.addr+"/v1.41/tasks/"+taskPend3+"/logs?stdout=1&follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: f.h.pki.transport(f.h.clientCert())}
	defer hc.CloseIdleConnections()
	// No line will come: only flushed headers let the client see the
	// stream begin.
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("no answer before any line: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Once it is placed and runs, its lines follow.
	f.h.propose(store.Update(f.task(taskPend3, 3, workerID, swarm.TaskStateRunning, false), f.version(taskPend3)))
	waitFrames(t, frameReader(t, resp.Body), 10*time.Second, "nowhere\n")
}

func (f *logsFixture) version(taskID string) uint64 {
	var v uint64
	_ = f.h.leader().store.View(func(tx store.ReadTx) error {
		m, err := tx.Meta(store.TableTasks, taskID)
		v = m.Version.Index
		return err
	})
	return v
}

func TestPlanLogFetches(t *testing.T) {
	task := func(id string, slot int, node string, st swarm.TaskState) *swarm.Task {
		return &swarm.Task{ID: id, Slot: slot, NodeID: node, Status: swarm.TaskStatus{State: st},
			Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{}}}
	}
	tasks := []*swarm.Task{
		task("run2", 2, "n1", swarm.TaskStateRunning),
		task("run1", 1, "n1", swarm.TaskStateRunning),
		task("dead1", 1, "n2", swarm.TaskStateFailed),
		task("prep1", 1, "n2", swarm.TaskStatePreparing),
		task("pend3", 3, "", swarm.TaskStatePending),
		task("orph", 4, "", swarm.TaskStateOrphaned),
		{ID: "plugin", Slot: 5, NodeID: "n1", Status: swarm.TaskStatus{State: swarm.TaskStateRunning}},
	}
	ids := func(ts []*swarm.Task) string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name           string
		tasks          []*swarm.Task
		byTask, follow bool
		started        map[string]bool
		fetch, unsched string
	}{
		{"service: tasks that ran, dead ones too, by slot", tasks, false, false, nil, "dead1 run1 run2", "orph"},
		{"service, follow: only placed tasks that ran; unplaced ones wait", tasks, false, true, nil, "dead1 run1 run2", ""},
		{"follow: already started are skipped", tasks, false, true, map[string]bool{"run1": true}, "dead1 run2", ""},
		{"task: any state", tasks[3:4], true, false, nil, "prep1", ""},
		{"task: no node", tasks[4:5], true, false, nil, "", "pend3"},
		{"task, follow: waits to run", tasks[3:5], true, true, nil, "", ""},
	} {
		p := planLogFetches(c.tasks, c.byTask, c.follow, c.started)
		if got := ids(p.fetch); got != c.fetch {
			t.Errorf("%s: fetch %q, want %q", c.name, got, c.fetch)
		}
		if got := strings.Join(p.unscheduled, " "); got != c.unsched {
			t.Errorf("%s: unscheduled %q, want %q", c.name, got, c.unsched)
		}
	}
}

func TestReadLogFrames(t *testing.T) {
	now := func() time.Time { return t0 }
	var in bytes.Buffer
	w := func(st stdcopy.StdType, s string) { _, _ = stdcopy.NewStdWriter(&in, st).Write([]byte(s)) }
	w(stdcopy.Stdout, "a\nb\n")                                           // two lines in one frame
	w(stdcopy.Stderr, "2026-11-27T10:00:05.5Z c\nd\n")                    // the second line has no stamp of its own
	w(stdcopy.Stdout, "partial")                                          // a frame is a message even without newline
	w(stdcopy.Stdout, "2026-11-27T10:00:06Z e\n2026-11-27T10:00:07Z f\n") // stamps per line
	var got []string
	emit := func(l logLine) error {
		got = append(got, fmt.Sprintf("%d %s %q", l.stream, l.at.Format(rfc3339NanoFixed), l.data))
		return nil
	}
	if err := readLogFrames(bytes.NewReader(in.Bytes()), true, now, emit); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`1 2026-11-27T10:00:00.000000000Z "a\n"`, // no stamp yet: now
		`1 2026-11-27T10:00:00.000000000Z "b\n"`,
		`2 2026-11-27T10:00:05.500000000Z "c\n"`,
		`2 2026-11-27T10:00:05.500000000Z "d\n"`,
		`1 2026-11-27T10:00:05.500000000Z "partial"`,
		`1 2026-11-27T10:00:06.000000000Z "e\n"`,
		`1 2026-11-27T10:00:07.000000000Z "f\n"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines\n got %q\nwant %q", got, want)
	}

	// The agent's system-error frame ends the stream with its message.
	in.Reset()
	w(stdcopy.Stdout, "x\n")
	w(stdcopy.Systemerr, "container gone\n")
	w(stdcopy.Stdout, "never\n")
	got = nil
	err := readLogFrames(bytes.NewReader(in.Bytes()), false, now, emit)
	if err == nil || err.Error() != "agent: container gone" || len(got) != 1 {
		t.Errorf("err %v after %q, want the agent's message after one line", err, got)
	}
	// A truncated frame is an error, a clean end is not.
	in.Reset()
	w(stdcopy.Stdout, "x\n")
	if err := readLogFrames(bytes.NewReader(in.Bytes()[:in.Len()-1]), false, now, emit); err == nil {
		t.Error("a truncated frame read as a clean end")
	}
	if err := readLogFrames(bytes.NewReader([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}), false, now, emit); err == nil {
		t.Error("a 4 GiB frame was accepted")
	}
}

func TestFollowAsksAgainANodeThatWasNotAvailable(t *testing.T) {
	defer func(d time.Duration) { logRetryEvery = d }(logRetryEvery)
	logRetryEvery = 20 * time.Millisecond
	f := newLogsFixture(t, 1, false)
	m := f.h.managers[0]
	f.fake.errs[taskWeb1] = fmt.Errorf("no session yet: %w", ErrNodeUnavailable)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+m.addr+"/v1.41/services/web/logs?stdout=1&follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: f.h.pki.transport(f.h.clientCert())}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	frames := frameReader(t, resp.Body)
	waitFrames(t, frames, 10*time.Second, "hello from 2\n")
	// The node's session comes back: the next try gets its lines.
	f.fake.mu.Lock()
	delete(f.fake.errs, taskWeb1)
	f.fake.mu.Unlock()
	got := waitFrames(t, frames, 10*time.Second, "hello from 1\n", "bye from 1\n")
	if slices.Contains(got, "oops from 1\n") {
		t.Errorf("a stderr line came though only stdout was asked for: %q", got)
	}
	if n := len(f.fake.callsFor(taskWeb1)); n < 2 {
		t.Errorf("web.1's node asked %d times, want again after failing", n)
	}
}
