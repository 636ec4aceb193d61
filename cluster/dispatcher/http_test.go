package dispatcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
)

// tlsServer serves the dispatcher's Handler over mutual TLS with a
// manager certificate of a fresh cluster root, and makes clients
// presenting certificates of that root.
type tlsServer struct {
	t    *testing.T
	root *ca.RootCA
	url  string
}

func serveTLS(t *testing.T, h http.Handler) *tlsServer {
	t.Helper()
	root, err := ca.NewRootCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts := &tlsServer{t: t, root: root}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = root.ServerConfig(ca.NewCredentials(ts.cert("manager00000000000000000000"[:25], ca.RoleManager)))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

func (ts *tlsServer) cert(id string, role ca.Role) tls.Certificate {
	ts.t.Helper()
	certPEM, keyPEM, err := ts.root.IssueKeyPair(id, role, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		ts.t.Fatal(err)
	}
	kp, err := ts.root.KeyPair(certPEM, keyPEM)
	if err != nil {
		ts.t.Fatal(err)
	}
	return kp
}

// post calls path as the holder of cert and decodes a 200 into out.
func (ts *tlsServer) post(cert tls.Certificate, path string, body, out any) (int, string) {
	ts.t.Helper()
	tr := &http.Transport{TLSClientConfig: ts.root.ClientConfig(ca.NewCredentials(cert))}
	defer tr.CloseIdleConnections()
	data, _ := json.Marshal(body)
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Post(ts.url+path, "application/json", bytes.NewReader(data))
	if err != nil {
		ts.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			ts.t.Fatalf("POST %s: decode %q: %v", path, buf.String(), err)
		}
	}
	var msg struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(buf.Bytes(), &msg)
	return res.StatusCode, msg.Message
}

func TestHandlerServesANodeSession(t *testing.T) {
	h := newHarness(t, nil,
		node("worker000000000000000001", swarm.NodeRoleWorker, swarm.NodeStateUnknown),
		node("worker000000000000000002", swarm.NodeRoleWorker, swarm.NodeStateReady),
		service("svc", "web", 0), secret("s1"),
		task("a1", "svc", "worker000000000000000001", swarm.TaskStateRunning, []string{"s1"}, nil))
	ts := serveTLS(t, h.d.Handler())
	const w1 = "worker000000000000000001"
	me := ts.cert(w1, ca.RoleWorker)

	var reply api.SessionReply
	code, msg := ts.post(me, api.SessionPath, api.SessionRequest{Description: describe(w1), Addr: ":4244"}, &reply)
	if code != http.StatusOK || reply.NodeID != w1 || reply.SessionID == "" {
		t.Fatalf("session: %d %s %+v", code, msg, reply)
	}
	if n := h.node(w1); n.Status.State != swarm.NodeStateReady || n.Status.Addr != "127.0.0.1" {
		t.Errorf("registered node status = %+v, want ready at the caller's address", n.Status)
	}
	if addr, _ := h.d.AgentAddr(w1); addr != "127.0.0.1:4244" {
		t.Errorf("AgentAddr = %q", addr)
	}

	var asg api.Assignments
	if code, msg := ts.post(me, api.AssignmentsPath, api.AssignmentsRequest{SessionID: reply.SessionID}, &asg); code != http.StatusOK || len(asg.Tasks) != 1 || len(asg.Secrets) != 1 || string(asg.Secrets[0].Data) != "secret of s1" {
		t.Fatalf("assignments: %d %s %+v", code, msg, asg)
	}

	// Status, with Run committing it.
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { h.d.Run(ctx); close(ran) }()
	defer func() { stop(); <-ran }()
	st := api.StatusRequest{SessionID: reply.SessionID, Updates: []api.TaskStatusUpdate{update("a1", status(swarm.TaskStateRunning, time.Second))}}
	if code, msg := ts.post(me, api.StatusPath, st, nil); code != http.StatusOK {
		t.Fatalf("status: %d %s", code, msg)
	}
	if got := h.task("a1").Status.State; got != swarm.TaskStateRunning {
		t.Errorf("a1 = %s once the status call returned", got)
	}

	// Errors the agent acts on.
	if code, msg := ts.post(me, api.AssignmentsPath, api.AssignmentsRequest{SessionID: "stale"}, nil); code != http.StatusNotFound || !strings.Contains(msg, "register again") {
		t.Errorf("unknown session: %d %q, want 404 telling it to register again", code, msg)
	}
	bad := api.StatusRequest{SessionID: reply.SessionID, Updates: []api.TaskStatusUpdate{update("a1", status("napping", 0))}}
	if code, msg := ts.post(me, api.StatusPath, bad, nil); code != http.StatusBadRequest || !strings.Contains(msg, "napping") {
		t.Errorf("unknown state: %d %q, want 400 naming it", code, msg)
	}
	// Another node's session is not this node's.
	other := ts.cert("worker000000000000000002", ca.RoleWorker)
	if code, _ := ts.post(other, api.AssignmentsPath, api.AssignmentsRequest{SessionID: reply.SessionID}, nil); code != http.StatusNotFound {
		t.Errorf("a session used with another node's certificate: %d, want 404", code)
	}
}

func TestHandlerRefusesWhoIsNotANode(t *testing.T) {
	h := newHarness(t, nil, node("worker000000000000000001", swarm.NodeRoleWorker, swarm.NodeStateReady))
	ts := serveTLS(t, h.d.Handler())
	before := h.raft.count()
	for name, c := range map[string]struct {
		cert tls.Certificate
		want int
	}{
		"the CLI's certificate":       {ts.cert("client00000000000000000001", ca.RoleClient), http.StatusForbidden},
		"a node the cluster removed":  {ts.cert("worker000000000000000009", ca.RoleWorker), http.StatusForbidden},
		"a manager node not in store": {ts.cert("manager00000000000000000009", ca.RoleManager), http.StatusForbidden},
	} {
		for _, path := range []string{api.SessionPath, api.AssignmentsPath, api.StatusPath} {
			if code, msg := ts.post(c.cert, path, struct{}{}, nil); code != c.want || msg == "" {
				t.Errorf("%s on %s: %d %q, want %d with a message", name, path, code, msg, c.want)
			}
		}
	}
	if h.raft.count() != before {
		t.Error("a refused call wrote to Raft")
	}

	// Without TLS (a handler mounted behind something else), and with the
	// wrong method.
	rec := httptest.NewRecorder()
	h.d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, api.SessionPath, strings.NewReader("{}")))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("no TLS: %d, want 401", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, api.AssignmentsPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}
	me := ts.cert("worker000000000000000001", ca.RoleWorker)
	if code, _ := ts.post(me, api.SessionPath, "not an object", nil); code != http.StatusBadRequest {
		t.Errorf("a body that is not a session request: %d, want 400", code)
	}
}
