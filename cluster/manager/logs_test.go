package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
)

const (
	logsWorkerID  = "worker1aaaaaaaaaaaaaaaaaa"
	logsManagerID = "manager1aaaaaaaaaaaaaaaaa"
)

// fakeAgent serves api.NodeLogsPath over mutual TLS as a node's agent
// does, with the certificate of node id, to managers only.
type fakeAgent struct {
	addr    string
	mu      sync.Mutex
	queries []url.Values
	callers []string
	// serve answers an authorized request.
	serve func(w http.ResponseWriter, r *http.Request)
}

func issue(t *testing.T, root *ca.RootCA, id string, role ca.Role) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := root.IssueKeyPair(id, role, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := root.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func startFakeAgent(t *testing.T, root *ca.RootCA, id string, serve func(w http.ResponseWriter, r *http.Request)) *fakeAgent {
	t.Helper()
	a := &fakeAgent{serve: serve}
	cfg := root.ServerConfig(ca.NewCredentials(issue(t, root, id, ca.RoleWorker)))
	cfg.NextProtos = []string{"http/1.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := ca.Authorize(*r.TLS, ca.RoleManager)
		if err != nil || r.Method != http.MethodGet || r.URL.Path != api.NodeLogsPath {
			http.Error(w, "refused", http.StatusForbidden)
			return
		}
		a.mu.Lock()
		a.queries = append(a.queries, r.URL.Query())
		a.callers = append(a.callers, caller)
		a.mu.Unlock()
		a.serve(w, r)
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	a.addr = ln.Addr().String()
	return a
}

func (a *fakeAgent) calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queries)
}

func logsPKI(t *testing.T) (*ca.RootCA, *tls.Config) {
	t.Helper()
	root, err := ca.NewRootCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return root, root.ClientConfig(ca.NewCredentials(issue(t, root, logsManagerID, ca.RoleManager)))
}

func TestFetchTaskLogsStreamsTheAgentsFrames(t *testing.T) {
	root, client := logsPKI(t)
	gone := make(chan struct{})
	agent := startFakeAgent(t, root, logsWorkerID, func(w http.ResponseWriter, r *http.Request) {
		_, _ = stdcopy.NewStdWriter(w, stdcopy.Stdout).Write([]byte("2026-11-27T10:00:00.5Z hello\n"))
		_, _ = stdcopy.NewStdWriter(w, stdcopy.Stderr).Write([]byte("2026-11-27T10:00:01Z oops\n"))
		http.NewResponseController(w).Flush()
		// Following: the stream goes on until the manager leaves.
		<-r.Context().Done()
		close(gone)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := api.LogsQuery{Task: "task1aaaaaaaaaaaaaaaaaaaa", Follow: true, Tail: "5", Timestamps: true, Since: "1795600800.000000000"}
	rc, err := fetchTaskLogs(ctx, client, logsWorkerID, agent.addr, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := "\x01\x00\x00\x00\x00\x00\x00\x1d2026-11-27T10:00:00.5Z hello\n\x02\x00\x00\x00\x00\x00\x00\x1a2026-11-27T10:00:01Z oops\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rc, got); err != nil || string(got) != want {
		t.Fatalf("read %q (%v), want the agent's frames %q", got, err, want)
	}
	agent.mu.Lock()
	gotQ, caller := agent.queries[0].Encode(), agent.callers[0]
	agent.mu.Unlock()
	if wantQ := "follow=1&since=1795600800.000000000&tail=5&task=task1aaaaaaaaaaaaaaaaaaaa&timestamps=1"; gotQ != wantQ {
		t.Errorf("agent asked %q, want %q", gotQ, wantQ)
	}
	if caller != logsManagerID {
		t.Errorf("agent saw caller %q, want the manager", caller)
	}
	cancel()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's stream went on after the manager's context ended")
	}
	// Once the context ended the stream carries nothing more; whether the
	// read then fails or meets the end is the transport's race.
	if rest, _ := io.ReadAll(rc); len(rest) > 0 {
		t.Errorf("the body went on after the context ended: %q", rest)
	}
}

func TestFetchTaskLogsErrorsNameTheNodeAndAnswer(t *testing.T) {
	root, client := logsPKI(t)
	status, body, contentType := 0, "", ""
	agent := startFakeAgent(t, root, logsWorkerID, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	q := api.LogsQuery{Task: "task1aaaaaaaaaaaaaaaaaaaa"}
	for _, c := range []struct {
		status            int
		body, contentType string
		want              string
		kind              error
	}{
		{404, `{"message":"no such task: task1aaaaaaaaaaaaaaaaaaaa"}`, "application/json", "404 Not Found: no such task: task1aaaaaaaaaaaaaaaaaaaa", apiserver.ErrNoTaskLogs},
		{500, "exec: logs since a time are not supported\n", "text/plain", "500 Internal Server Error: exec: logs since a time are not supported", nil},
		{503, "", "text/plain", "503 Service Unavailable: no message", apiserver.ErrNodeUnavailable},
	} {
		status, body, contentType = c.status, c.body, c.contentType
		rc, err := fetchTaskLogs(context.Background(), client, logsWorkerID, agent.addr, q)
		if err == nil {
			rc.Close()
			t.Errorf("%d: no error", c.status)
			continue
		}
		prefix := "logs of task task1aaaaaaaaaaaaaaaaaaaa from node " + logsWorkerID + " at " + agent.addr + ": "
		if err.Error() != prefix+c.want {
			t.Errorf("%d: error %q, want %q", c.status, err, prefix+c.want)
		}
		for _, kind := range []error{apiserver.ErrNoTaskLogs, apiserver.ErrNodeUnavailable} {
			if errors.Is(err, kind) != (kind == c.kind) {
				t.Errorf("%d: errors.Is(err, %q) = %v", c.status, kind, !(kind == c.kind))
			}
		}
	}
}

func TestFetchTaskLogsRefusesAnotherNodeAndFailsFastOnNoAgent(t *testing.T) {
	root, client := logsPKI(t)
	agent := startFakeAgent(t, root, "worker2bbbbbbbbbbbbbbbbbb", func(w http.ResponseWriter, r *http.Request) {})
	q := api.LogsQuery{Task: "task1aaaaaaaaaaaaaaaaaaaa"}
	// The address answers with another node's certificate: the task's
	// node is not there.
	_, err := fetchTaskLogs(context.Background(), client, logsWorkerID, agent.addr, q)
	if err == nil || !errors.Is(err, apiserver.ErrNodeUnavailable) || !strings.Contains(err.Error(), logsWorkerID) {
		t.Errorf("another node's agent: %v", err)
	}
	if agent.calls() != 0 {
		t.Error("the request reached another node's agent")
	}
	// Nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = fetchTaskLogs(context.Background(), client, logsWorkerID, addr, q)
	if !errors.Is(err, apiserver.ErrNodeUnavailable) || !strings.Contains(err.Error(), "at "+addr+": ") {
		t.Errorf("no agent: %v", err)
	}
}

func TestAgentLogsAsksTheNodesSessionAddress(t *testing.T) {
	root, client := logsPKI(t)
	agent := startFakeAgent(t, root, logsWorkerID, func(w http.ResponseWriter, r *http.Request) {
		_, _ = stdcopy.NewStdWriter(w, stdcopy.Stdout).Write([]byte("hi\n"))
	})
	sessions := map[string]string{logsWorkerID: agent.addr}
	logs := agentLogs{tlsConf: client, agentAddr: func(id string) (string, bool) { a, ok := sessions[id]; return a, ok }}
	task := &swarm.Task{ID: "task1aaaaaaaaaaaaaaaaaaaa", NodeID: logsWorkerID}
	rc, err := logs.TaskLogs(context.Background(), task, api.LogsQuery{Tail: "all"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, io.Discard, rc); err != nil || out.String() != "hi\n" {
		t.Errorf("read %q, %v", out.String(), err)
	}
	rc.Close()
	agent.mu.Lock()
	if got := agent.queries[0].Get("task"); got != task.ID {
		t.Errorf("agent asked for task %q, want %s", got, task.ID)
	}
	agent.mu.Unlock()

	task.NodeID = "worker9zzzzzzzzzzzzzzzzzz"
	_, err = logs.TaskLogs(context.Background(), task, api.LogsQuery{})
	if !errors.Is(err, apiserver.ErrNodeUnavailable) || !strings.Contains(err.Error(), "node worker9zzzzzzzzzzzzzzzzzz has no session") {
		t.Errorf("node without a session: %v", err)
	}
}
