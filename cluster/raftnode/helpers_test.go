package raftnode

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	roleManager = "swarm-manager"
	roleWorker  = "swarm-worker"
)

// testCA is a throwaway root, written here rather than taken from
// cluster/ca so this package's tests stand alone.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func (ca *testCA) issue(t *testing.T, id, role string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	sn := big.NewInt(serial.n)
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: id, OrganizationalUnit: []string{role}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (ca *testCA) serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca.pool,
		// As the manager will be: the join route serves nodes with no
		// certificate yet, so the handshake only verifies one if given.
		ClientAuth: tls.VerifyClientCertIfGiven,
	}
}

func (ca *testCA) peerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: ca.pool}
}

func (ca *testCA) muxConfig(cert tls.Certificate) MuxConfig {
	return MuxConfig{ServerTLS: ca.serverTLS(cert), PeerTLS: ca.peerTLS(cert), AuthorizeRaft: managersOnly}
}

func managersOnly(state tls.ConnectionState) error {
	if len(state.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	if !slices.Contains(state.PeerCertificates[0].Subject.OrganizationalUnit, roleManager) {
		return fmt.Errorf("%s is not a manager", state.PeerCertificates[0].Subject.CommonName)
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

var errRejected = errors.New("rejected by the test applier")

type duplicateError struct{ index uint64 }

func (e *duplicateError) Error() string { return fmt.Sprintf("already applied at index %d", e.index) }

// entry is what memApplier records for each applied log entry.
type entry struct {
	Index uint64
	At    time.Time
	Data  string
}

func (e entry) key() string {
	return fmt.Sprintf("%d|%s|%s", e.Index, e.At.Format(time.RFC3339Nano), e.Data)
}

// memApplier is a fake state machine: it records every accepted entry in
// order and rejects data starting with "fail", as the store rejects a
// batch that conflicts.
type memApplier struct {
	mu       sync.Mutex
	entries  []entry
	restores int
	applied  []uint64 // every index Apply saw, accepted or not
}

func (m *memApplier) Apply(index uint64, at time.Time, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied = append(m.applied, index)
	if strings.HasPrefix(string(data), "fail") {
		return errRejected
	}
	// Like the store refusing a create whose ID exists, so a proposer may
	// retry a write whose outcome it does not know.
	if i := slices.IndexFunc(m.entries, func(e entry) bool { return e.Data == string(data) }); i >= 0 {
		return &duplicateError{index: m.entries[i].Index}
	}
	m.entries = append(m.entries, entry{Index: index, At: at, Data: string(data)})
	return nil
}

func (m *memApplier) Save(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.NewEncoder(w).Encode(m.entries)
}

func (m *memApplier) Restore(r io.Reader) error {
	var entries []entry
	if err := json.NewDecoder(r).Decode(&entries); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = entries
	m.restores++
	return nil
}

func (m *memApplier) snapshot() (entries []entry, restores int, applied []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entries), m.restores, slices.Clone(m.applied)
}

func (m *memApplier) has(data string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.entries, func(e entry) bool { return e.Data == data })
}

func (m *memApplier) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// syncBuffer collects a node's logs, shown only when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testCluster runs managers in this process, each with its own data dir,
// port, TLS listener and Raft, so that only the network joins them.
type testCluster struct {
	t        *testing.T
	ca       *testCA
	base     string
	timeouts Timeouts
	logs     *syncBuffer
	mu       sync.Mutex // guards nodes and each node's Node field
	nodes    map[string]*testNode
}

type testNode struct {
	id   string
	dir  string
	addr string // fixed after the first start, so peers find a restarted node
	mux  *Mux
	*Node
	fsm *memApplier
}

// fastTimeouts keep elections short but not so short that a busy shared
// machine triggers needless ones.
var fastTimeouts = Timeouts{
	HeartbeatTimeout:   400 * time.Millisecond,
	ElectionTimeout:    400 * time.Millisecond,
	LeaderLeaseTimeout: 300 * time.Millisecond,
	CommitTimeout:      5 * time.Millisecond,
}

func newTestCluster(t *testing.T, timeouts Timeouts) *testCluster {
	// The base dir comes first so that its removal, cleanups running last
	// first, waits for the nodes to stop writing into it.
	c := &testCluster{t: t, ca: newTestCA(t), base: t.TempDir(), timeouts: timeouts, logs: &syncBuffer{}, nodes: map[string]*testNode{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n.id)
		}
		if t.Failed() {
			t.Logf("raft logs:\n%s", c.logs.String())
		}
	})
	return c
}

// start starts a node, or restarts a stopped one from its data dir with a
// fresh (empty) state machine, as a restarted process would have.
func (c *testCluster) start(id string) *testNode {
	c.t.Helper()
	n := c.nodes[id]
	if n == nil {
		n = &testNode{id: id, dir: filepath.Join(c.base, id), addr: "127.0.0.1:0"}
		c.mu.Lock()
		c.nodes[id] = n
		c.mu.Unlock()
	}
	if n.Node != nil {
		c.t.Fatalf("%s is already running", id)
	}
	mux, err := Listen(n.addr, c.ca.muxConfig(c.ca.issue(c.t, id, roleManager)))
	if err != nil {
		c.t.Fatalf("listen %s: %v", id, err)
	}
	n.addr = mux.Addr().String()
	n.fsm = &memApplier{}
	logger := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node, err := New(Config{
		NodeID:      id,
		DataDir:     n.dir,
		Advertise:   n.addr,
		StreamLayer: mux.Raft(),
		FSM:         n.fsm,
		Timeouts:    c.timeouts,
		Logger:      logger,
	})
	if err != nil {
		mux.Close()
		c.t.Fatalf("start %s: %v", id, err)
	}
	c.mu.Lock()
	n.mux, n.Node = mux, node
	c.mu.Unlock()
	return n
}

func (c *testCluster) stop(id string) {
	c.t.Helper()
	n := c.nodes[id]
	if n == nil || n.Node == nil {
		return
	}
	if err := n.Shutdown(); err != nil {
		c.t.Errorf("shutdown %s: %v", id, err)
	}
	if err := n.mux.Close(); err != nil {
		c.t.Errorf("close mux %s: %v", id, err)
	}
	c.mu.Lock()
	n.Node = nil
	c.mu.Unlock()
}

func (c *testCluster) running() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningLocked()
}

func (c *testCluster) runningLocked() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if n.Node != nil {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *testNode) int { return strings.Compare(a.id, b.id) })
	return out
}

// leader waits until exactly one running node leads and every running
// node agrees on it.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	n, err := c.findLeader()
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *testCluster) findLeader() (*testNode, error) {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := c.agreedLeader(); n != nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("no leader that all running nodes agree on within 10s")
		}
		<-tick.C
	}
}

func (c *testCluster) agreedLeader() *testNode {
	c.mu.Lock()
	nodes := c.runningLocked()
	c.mu.Unlock()
	var leader *testNode
	for _, n := range nodes {
		if n.IsLeader() {
			if leader != nil {
				return nil
			}
			leader = n
		}
	}
	if leader == nil {
		return nil
	}
	servers, err := leader.Servers()
	if err != nil {
		return nil
	}
	for _, n := range nodes {
		member := slices.ContainsFunc(servers, func(s Server) bool { return s.ID == n.id })
		if !member {
			continue // removed: it no longer hears from the leader
		}
		if id, addr := n.Leader(); id != leader.id || addr != leader.addr {
			return nil
		}
	}
	return leader
}

// threeManagers bootstraps m1 and adds m2 and m3 as voters.
func (c *testCluster) threeManagers() {
	c.t.Helper()
	m1 := c.start("m1")
	if err := m1.BootstrapSelf(); err != nil {
		c.t.Fatal(err)
	}
	for _, id := range []string{"m2", "m3"} {
		c.addVoter(c.start(id))
	}
	c.leader()
}

// addVoter adds n through whichever node leads; adding is idempotent, so
// a change whose outcome is unknown is simply tried again.
func (c *testCluster) addVoter(n *testNode) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := c.leader().AddVoter(c.ctx(), n.id, n.addr)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost) || time.Now().After(deadline) {
			c.t.Fatal(err)
		}
	}
}

func (c *testCluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}

// propose writes through whichever node leads. When the outcome is
// unknown (leadership lost mid-commit) it proposes the same data again; the
// applier refuses a duplicate, which tells that the first attempt landed.
// So an acknowledged write was applied exactly once, at the returned index.
func (c *testCluster) propose(data string) uint64 {
	c.t.Helper()
	index, err := c.tryPropose(data)
	if err != nil {
		c.t.Fatal(err)
	}
	return index
}

// tryPropose is propose for goroutines other than the test's.
func (c *testCluster) tryPropose(data string) (uint64, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		leader, err := c.findLeader()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var index uint64
			index, err = leader.Propose(ctx, []byte(data))
			cancel()
			var dup *duplicateError
			switch {
			case err == nil:
				return index, nil
			case errors.As(err, &dup):
				return dup.index, nil
			case !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost):
				return 0, fmt.Errorf("propose %q: %w", data, err)
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("propose %q: %w", data, err)
		}
	}
}

// converged waits until every running node holds want entries, then
// returns the entries, which must be identical on every node.
func (c *testCluster) converged(want int) []entry {
	c.t.Helper()
	nodes := c.running()
	waitFor(c.t, 15*time.Second, fmt.Sprintf("%d entries on every node", want), func() bool {
		for _, n := range nodes {
			if n.fsm.count() < want {
				return false
			}
		}
		return true
	})
	first, _, _ := nodes[0].fsm.snapshot()
	for _, n := range nodes[1:] {
		got, _, _ := n.fsm.snapshot()
		if !slices.EqualFunc(first, got, func(a, b entry) bool { return a.key() == b.key() }) {
			c.t.Fatalf("%s and %s applied different entries:\n%v\n%v", nodes[0].id, n.id, first, got)
		}
	}
	return first
}
