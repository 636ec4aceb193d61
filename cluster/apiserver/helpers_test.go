package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// consensus is a fake Raft group: every proposal the leader accepts is
// applied, in order and with the same index and time, to every member's
// store. Raft itself is tested in cluster/raftnode; here only the order
// and the answers matter.
type consensus struct {
	mu       sync.Mutex
	index    uint64
	clock    time.Time
	leaderID string
	members  map[string]*fakeRaft
	servers  []RaftServer
	// proposals records every batch proposed, for tests that inspect
	// what reached Raft.
	proposals [][]byte
	// held members do not apply entries until released: a follower
	// lagging behind the leader.
	held map[string][]entry
}

type entry struct {
	index uint64
	at    time.Time
	data  []byte
}

type fakeRaft struct {
	c     *consensus
	id    string
	addr  string
	store *store.Store
}

func newConsensus() *consensus {
	return &consensus{clock: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), members: map[string]*fakeRaft{}}
}

func (c *consensus) member(id string, st *store.Store) *fakeRaft {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &fakeRaft{c: c, id: id, store: st}
	c.members[id] = m
	c.servers = append(c.servers, RaftServer{ID: id, Suffrage: "voter"})
	if c.leaderID == "" {
		c.leaderID = id
	}
	return m
}

func (c *consensus) setAddr(id, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[id].addr = addr
	for i := range c.servers {
		if c.servers[i].ID == id {
			c.servers[i].Address = addr
		}
	}
}

func (c *consensus) setLeader(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaderID = id
}

var errFakeNotLeader = errors.New("fake raft: not the leader")

func (f *fakeRaft) Propose(ctx context.Context, data []byte) (uint64, error) {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaderID != f.id {
		return 0, errFakeNotLeader
	}
	c.index++
	c.clock = c.clock.Add(time.Second)
	c.proposals = append(c.proposals, bytes.Clone(data))
	var mine error
	for id, m := range c.members {
		if q, ok := c.held[id]; ok {
			c.held[id] = append(q, entry{c.index, c.clock, bytes.Clone(data)})
			continue
		}
		err := m.store.Apply(c.index, c.clock, data)
		if id == f.id {
			mine = err
		}
	}
	return c.index, mine
}

// hold stops member id applying entries until release.
func (c *consensus) hold(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[string][]entry{}
	}
	c.held[id] = nil
}

// release applies what member id missed, in order, and lets it follow.
func (c *consensus) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.held[id] {
		_ = c.members[id].store.Apply(e.index, e.at, e.data)
	}
	delete(c.held, id)
}

func (f *fakeRaft) IsLeader() bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.leaderID == f.id
}

func (f *fakeRaft) Leader() (string, string) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if f.c.leaderID == "" {
		return "", ""
	}
	return f.c.leaderID, f.c.members[f.c.leaderID].addr
}

func (f *fakeRaft) Servers() ([]RaftServer, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return append([]RaftServer(nil), f.c.servers...), nil
}

func (f *fakeRaft) Stats() RaftStats {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	state := "Follower"
	if f.c.leaderID == f.id {
		state = "Leader"
	}
	return RaftStats{State: state, Term: 1, CommitIndex: f.c.index, AppliedIndex: f.store.LastIndex(), LastLogIndex: f.c.index}
}

// xorSealer stands in for the cluster's AES-GCM sealer: what matters here
// is that only its output reaches the proposer.
type xorSealer struct{}

func (xorSealer) Seal(plain []byte) ([]byte, error) {
	out := append([]byte("sealed:"), plain...)
	for i := len("sealed:"); i < len(out); i++ {
		out[i] ^= 0x5a
	}
	return out, nil
}

// pki is a cluster CA and the certificates tests present.
type pki struct {
	root    *ca.RootCA
	manager map[string]tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	root, err := ca.NewRootCA(time.Now())
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return &pki{root: root, manager: map[string]tls.Certificate{}}
}

func (p *pki) cert(t *testing.T, id string, role ca.Role) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := p.root.IssueKeyPair(id, role, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		t.Fatalf("IssueKeyPair(%s, %s): %v", id, role, err)
	}
	kp, err := p.root.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("KeyPair: %v", err)
	}
	return kp
}

// transport is an HTTP transport presenting cert to the managers of p.
func (p *pki) transport(cert tls.Certificate) *http.Transport {
	return &http.Transport{TLSClientConfig: p.root.ClientConfig(ca.NewCredentials(cert)), ForceAttemptHTTP2: false}
}

// manager is one API server under test, served over real TLS on
// loopback with a ServerConfig from the cluster CA.
type manager struct {
	id    string
	srv   *Server
	store *store.Store
	raft  *fakeRaft
	addr  string
	logs  *logBuf
}

// logBuf collects a server's log lines; the server writes while tests read.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type harness struct {
	t   *testing.T
	pki *pki
	c   *consensus
	// managers in creation order; the first leads.
	managers []*manager
	now      time.Time
	// configure, when set, adjusts every manager's Config before its
	// server is built.
	configure func(*Config)
}

func newHarness(t *testing.T, managers int) *harness {
	t.Helper()
	return newHarnessWith(t, managers, nil)
}

// newHarnessWith is newHarness with configure applied to every manager's
// Config.
func newHarnessWith(t *testing.T, managers int, configure func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, pki: newPKI(t), c: newConsensus(), now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), configure: configure}
	for i := 0; i < managers; i++ {
		h.addManager(fmt.Sprintf("manager%d0000000000000000000", i+1)[:25])
	}
	h.bootstrap()
	return h
}

func (h *harness) addManager(id string) *manager {
	t := h.t
	st := store.New()
	m := &manager{id: id, store: st, raft: h.c.member(id, st), logs: &logBuf{}}
	cert := h.pki.cert(t, id, ca.RoleManager)
	h.pki.manager[id] = cert
	cfg := Config{
		NodeID:    id,
		Store:     st,
		Raft:      m.raft,
		Forwarder: h.pki.transport(cert),
		Sealer:    xorSealer{},
		Now:       func() time.Time { return h.now },
		Logger:    slog.New(slog.NewTextHandler(m.logs, nil)),
		Version:   VersionInfo{Version: "0.0.0-test", GitCommit: "abc1234"},
	}
	if h.configure != nil {
		h.configure(&cfg)
	}
	m.srv = New(cfg)
	tlsCfg := h.pki.root.ServerConfig(ca.NewCredentials(cert))
	tlsCfg.NextProtos = []string{"http/1.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: m.srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){ca.JoinALPN: m.srv.ServeJoinConn}}
	go func() { _ = hs.Serve(tls.NewListener(ln, tlsCfg)) }()
	t.Cleanup(func() { _ = hs.Close() })
	m.addr = ln.Addr().String()
	h.c.setAddr(id, m.addr)
	h.managers = append(h.managers, m)
	return m
}

// bootstrap stores what init would: the cluster record and a node record
// per manager, through the fake Raft like any write.
func (h *harness) bootstrap() {
	t := h.t
	tokens, err := ca.NewJoinTokens(h.pki.root.Digest())
	if err != nil {
		t.Fatalf("NewJoinTokens: %v", err)
	}
	cl := &api.Cluster{
		ID:         store.NewID(),
		Spec:       swarm.Spec{Annotations: swarm.Annotations{Name: "default"}},
		JoinTokens: swarm.JoinTokens{Worker: tokens.Worker, Manager: tokens.Manager},
		CACert:     string(h.pki.root.CertPEM()),
		CADigest:   h.pki.root.Digest(),
	}
	muts := []store.Mutation{store.Create(cl)}
	for i, m := range h.managers {
		muts = append(muts, store.Create(&swarm.Node{
			ID:   m.id,
			Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
			Description: swarm.NodeDescription{
				Hostname:  fmt.Sprintf("mgr%d", i+1),
				Platform:  swarm.Platform{Architecture: "x86_64", OS: "linux"},
				Resources: swarm.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30},
			},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "127.0.0.1"},
		}))
	}
	h.propose(muts...)
}

// propose commits mutations through the leader, failing the test on error.
func (h *harness) propose(muts ...store.Mutation) uint64 {
	h.t.Helper()
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		h.t.Fatalf("EncodeBatch: %v", err)
	}
	leader := h.leader()
	idx, err := leader.raft.Propose(context.Background(), data)
	if err != nil {
		h.t.Fatalf("propose: %v", err)
	}
	return idx
}

func (h *harness) leader() *manager {
	id, _ := h.managers[0].raft.Leader()
	for _, m := range h.managers {
		if m.id == id {
			return m
		}
	}
	h.t.Fatalf("no leader")
	return nil
}

// docker is a Docker SDK client for manager m presenting cert.
func (h *harness) docker(m *manager, cert tls.Certificate) *client.Client {
	h.t.Helper()
	cli, err := client.NewClientWithOpts(
		client.WithHost("tcp://"+m.addr),
		client.WithHTTPClient(&http.Client{Transport: h.pki.transport(cert)}),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		h.t.Fatalf("docker client: %v", err)
	}
	h.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// clientCert is a swarmops-client certificate, what `swarmops env` hands
// the docker CLI.
func (h *harness) clientCert() tls.Certificate {
	return h.pki.cert(h.t, "cli0000000000000000000000", ca.RoleClient)
}

// raw sends one request to m with cert and returns the status and body.
func (h *harness) raw(m *manager, cert tls.Certificate, method, path string, body any) (int, []byte, http.Header) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, "https://"+m.addr+path, rd)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := &http.Client{Transport: h.pki.transport(cert), Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, out, resp.Header
}

// wantError checks an answer is Docker's error form with the status and
// a message containing want.
func wantError(t *testing.T, status int, body []byte, wantStatus int, want string) {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body %q is not Docker's error form: %v", status, body, err)
	}
	if status != wantStatus || !strings.Contains(e.Message, want) {
		t.Fatalf("got %d %q, want %d containing %q", status, e.Message, wantStatus, want)
	}
}

// wantErr checks an SDK error carries the message (the SDK puts the
// daemon's message in its error text).
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func ptr[T any](v T) *T { return &v }
