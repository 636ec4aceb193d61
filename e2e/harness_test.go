package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/manager"
)

// The harness runs swarmops clusters as real processes on loopback: the
// binary built from this tree, one process per node, each with its own data
// directory and port. Every wait polls with a deadline; nothing sleeps a
// guessed time.

const (
	// startTimeout bounds a node's start: process up, API answering, in the
	// Raft group.
	startTimeout = 30 * time.Second
	// electionTimeout bounds waiting for a leader after a change.
	electionTimeout = 30 * time.Second
	// stopTimeout bounds a clean shutdown after SIGTERM.
	stopTimeout = 30 * time.Second
	// dockerTimeout bounds one docker CLI call.
	dockerTimeout = 60 * time.Second
	pollEvery     = 25 * time.Millisecond
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// TestMain removes the binary swarmopsBinary built, which outlives any one
// test.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// swarmopsBinary builds cmd/swarmops once per test binary and returns its
// path.
func swarmopsBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "swarmops-e2e-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "swarmops")
		cmd := exec.Command("go", "build", "-o", buildBin, "github.com/swarmops/swarmops/cmd/swarmops")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/swarmops: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// requireDockerCLI fails under CI=true and skips elsewhere when the docker
// binary is missing. The cluster tests need no Docker engine: the CLI talks
// only to swarmops.
func requireDockerCLI(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the docker CLI is required (CI=true): %v", err)
		}
		t.Skipf("no docker CLI on PATH (%v): the cluster tests drive swarmops through it", err)
	}
}

// syncBuffer collects a process's output; the process writes while the
// test reads.
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

// node is one swarmops process and its data directory. A node keeps the
// output of every run (init or join, then each daemon), shown when a test
// fails.
type node struct {
	Name, DataDir, Addr string
	Manager             bool

	c   *testCluster
	out syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	// exit is the last run's exit error, valid once done is closed.
	exit error
	runs int
}

// testCluster is a set of nodes started by startCluster.
type testCluster struct {
	Managers, Workers []*node

	bin  string
	opts clusterOptions
	// certPath is DOCKER_CERT_PATH from `swarmops env` on the first
	// manager: the CLI client certificate every test client uses.
	certPath  string
	dockerCfg string
	client    *http.Client
}

// clusterOptions tune startClusterWith.
type clusterOptions struct {
	Managers, Workers int
	// NodeArgs are passed to every init, join and daemon of a manager,
	// e.g. the hidden Raft snapshot flags.
	NodeArgs []string
}

// startCluster inits the first manager, joins the others through it and
// waits until every manager sees a leader. t.Cleanup kills every process
// and removes every directory, also when the test fails.
func startCluster(t *testing.T, managers, workers int) *testCluster {
	t.Helper()
	return startClusterWith(t, clusterOptions{Managers: managers, Workers: workers})
}

func startClusterWith(t testing.TB, opts clusterOptions) *testCluster {
	t.Helper()
	if opts.Managers < 1 {
		t.Fatal("startCluster: a cluster needs at least one manager")
	}
	c := &testCluster{bin: swarmopsBinary(t), opts: opts, dockerCfg: t.TempDir()}
	// The nodes' directories live under root, whose removal is registered
	// before the kill: cleanups run last in, first out, so the processes
	// die before their directories go.
	root := t.TempDir()
	t.Cleanup(func() { c.cleanup(t) })

	first := c.newNode(t, root, "m1", true)
	first.start(t, "init", "--data-dir", first.DataDir, "--advertise-addr", first.Addr, "--hostname", first.Name)
	c.loadClientEnv(t, first)
	c.waitServing(t, first)
	// Init has finished once the cluster record (with the join tokens)
	// answers.
	poll(t, startTimeout, "the swarm on "+first.Name, func() error {
		return c.call(context.Background(), first, http.MethodGet, "/v1.41/swarm", nil, nil)
	})

	if opts.Managers > 1 {
		token := c.joinToken(t, "manager")
		for i := 2; i <= opts.Managers; i++ {
			m := c.newNode(t, root, fmt.Sprintf("m%d", i), true)
			m.start(t, "join", "--data-dir", m.DataDir, "--advertise-addr", m.Addr, "--hostname", m.Name, "--token", token, first.Addr)
			c.waitServing(t, m)
			c.waitVoters(t, first, i)
			c.waitLeaderSeen(t, m)
		}
	}
	if opts.Workers > 0 {
		token := c.joinToken(t, "worker")
		for i := 1; i <= opts.Workers; i++ {
			w := c.newNode(t, root, fmt.Sprintf("w%d", i), false)
			w.start(t, "join", "--data-dir", w.DataDir, "--advertise-addr", w.Addr, "--hostname", w.Name, "--token", token, first.Addr)
			c.waitNodeListed(t, first, w.Name)
			// The manager lists the node once it admitted it; the worker
			// writes its identity a moment later.
			poll(t, startTimeout, w.Name+"'s identity on disk", func() error {
				_, err := (manager.DataDir{Dir: w.DataDir}).LoadIdentity()
				return err
			})
		}
	}
	for _, m := range c.Managers {
		c.waitLeaderSeen(t, m)
	}
	c.WaitCaughtUp(t)
	return c
}

// WaitCaughtUp waits until every running manager has applied everything
// the leader had committed when the wait began, so every replica holds
// every write acknowledged before it.
func (c *testCluster) WaitCaughtUp(t testing.TB) {
	t.Helper()
	leader := c.leader(t)
	want := c.Status(t, leader).Raft.CommitIndex
	for _, m := range c.Managers {
		if !m.Running() {
			continue
		}
		poll(t, startTimeout, fmt.Sprintf("%s to apply index %d", m.Name, want), func() error {
			st, err := c.status(m)
			if err != nil {
				return err
			}
			// Raft's applied index, not the store's: entries such as a
			// new term's no-op reach the one and not the other.
			if st.Raft.AppliedIndex < want {
				return fmt.Errorf("applied up to %d", st.Raft.AppliedIndex)
			}
			return nil
		})
	}
}

func (c *testCluster) newNode(t testing.TB, root, name string, mgr bool) *node {
	t.Helper()
	n := &node{Name: name, DataDir: filepath.Join(root, name), Addr: freeAddr(t), Manager: mgr, c: c}
	if mgr {
		c.Managers = append(c.Managers, n)
	} else {
		c.Workers = append(c.Workers, n)
	}
	return n
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (c *testCluster) cleanup(t testing.TB) {
	for _, n := range c.nodes() {
		n.kill()
	}
	if t.Failed() {
		for _, n := range c.nodes() {
			t.Logf("--- output of %s (%s, %d runs) ---\n%s", n.Name, n.Addr, n.runs, tail(n.out.String(), 150))
		}
	}
}

func (c *testCluster) nodes() []*node {
	return append(append([]*node{}, c.Managers...), c.Workers...)
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("[%d lines before]\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}

// start runs the binary with args and returns once the process exists.
func (n *node) start(t testing.TB, args ...string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !isDone(n.done) {
		t.Fatalf("%s: already running", n.Name)
	}
	if n.Manager && len(n.c.opts.NodeArgs) > 0 {
		args = append(args, n.c.opts.NodeArgs...)
	}
	n.runs++
	fmt.Fprintf(&n.out, "=== run %d: swarmops %s\n", n.runs, strings.Join(args, " "))
	cmd := exec.Command(n.c.bin, args...)
	cmd.Stdout, cmd.Stderr = &n.out, &n.out
	cmd.Env = append(os.Environ(), "SWARMOPS_DATA_DIR=")
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start swarmops %s: %v", n.Name, args[0], err)
	}
	done := make(chan struct{})
	n.cmd, n.done = cmd, done
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exit = err
		n.mu.Unlock()
		close(done)
	}()
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Running reports whether the node's process is alive.
func (n *node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !isDone(n.done)
}

// Output is everything the node's processes printed so far.
func (n *node) Output() string { return n.out.String() }

func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || isDone(done) {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Kill9 kills the node with SIGKILL and waits until it is gone.
func (n *node) Kill9(t *testing.T) {
	t.Helper()
	if !n.Running() {
		t.Fatalf("kill -9 %s: not running", n.Name)
	}
	n.kill()
}

// Stop sends SIGTERM and waits for a clean exit.
func (n *node) Stop(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || isDone(done) {
		t.Fatalf("stop %s: not running", n.Name)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop %s: %v", n.Name, err)
	}
	select {
	case <-done:
	case <-time.After(stopTimeout):
		n.kill()
		t.Fatalf("stop %s: still running %s after SIGTERM", n.Name, stopTimeout)
	}
	n.mu.Lock()
	err := n.exit
	n.mu.Unlock()
	if err != nil {
		t.Errorf("stop %s: swarmops exited with %v after SIGTERM, want a clean exit", n.Name, err)
	}
}

// Restart runs `swarmops daemon` on the node's data directory; for a
// manager it returns once the API answers (a leader may still be missing,
// e.g. while a quorum is down).
func (n *node) Restart(t *testing.T) {
	t.Helper()
	n.restart(t)
}

func (n *node) restart(t testing.TB) {
	t.Helper()
	n.start(t, "daemon", "--data-dir", n.DataDir)
	if n.Manager {
		n.c.waitServing(t, n)
	}
}

// loadClientEnv reads what `swarmops env` prints for the first manager.
func (c *testCluster) loadClientEnv(t testing.TB, first *node) {
	t.Helper()
	var env map[string]string
	poll(t, startTimeout, "swarmops env on "+first.Name, func() error {
		out, err := exec.Command(c.bin, "env", "--data-dir", first.DataDir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		env = parseExports(string(out))
		return nil
	})
	c.certPath = env["DOCKER_CERT_PATH"]
	if c.certPath == "" || env["DOCKER_HOST"] != "tcp://"+first.Addr || env["DOCKER_TLS_VERIFY"] != "1" {
		t.Fatalf("swarmops env printed %v, want DOCKER_HOST=tcp://%s, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH", env, first.Addr)
	}
	poll(t, startTimeout, "client certificate in "+c.certPath, func() error {
		tc, err := clientTLS(c.certPath)
		if err != nil {
			return err
		}
		c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
		return nil
	})
}

// parseExports reads `export K=V` lines, undoing single-quote quoting.
func parseExports(s string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		env[k] = v
	}
	return env
}

// clientTLS loads a docker-style cert directory: ca.pem, cert.pem, key.pem.
func clientTLS(dir string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s/ca.pem holds no certificate", dir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Docker runs the docker CLI against the cluster through via, with the
// environment `swarmops env` printed (DOCKER_HOST pointed at via), and
// returns its combined output.
func (c *testCluster) Docker(t *testing.T, via *node, args ...string) (string, error) {
	t.Helper()
	requireDockerCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = c.dockerEnv(via)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("docker %s via %s: no answer in %s\n%s", strings.Join(args, " "), via.Name, dockerTimeout, out)
	}
	return string(out), err
}

func (c *testCluster) dockerEnv(via *node) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"DOCKER_HOST=tcp://"+via.Addr,
		"DOCKER_TLS_VERIFY=1",
		"DOCKER_CERT_PATH="+c.certPath,
		// A config dir of our own: no context or credential helper of
		// the machine's user leaks in.
		"DOCKER_CONFIG="+c.dockerCfg,
	)
}

// Leader polls until one running manager leads and every running manager
// that answers names it, and returns it.
func (c *testCluster) Leader(t *testing.T) *node {
	t.Helper()
	return c.leader(t)
}

func (c *testCluster) leader(t testing.TB) *node {
	t.Helper()
	var leader *node
	poll(t, electionTimeout, "a leader every running manager agrees on", func() error {
		leader = nil
		var ids []string
		for _, m := range c.Managers {
			if !m.Running() {
				continue
			}
			st, err := c.status(m)
			if err != nil {
				continue
			}
			if st.LeaderID == "" {
				return fmt.Errorf("%s knows no leader", m.Name)
			}
			ids = append(ids, st.LeaderID)
			if st.IsLeader {
				leader = m
			}
		}
		if leader == nil {
			return fmt.Errorf("no running manager leads (they name %v)", ids)
		}
		for _, id := range ids {
			if id != ids[0] {
				return fmt.Errorf("managers name different leaders: %v", ids)
			}
		}
		return nil
	})
	return leader
}

// NodeID reads the node's ID from its data directory.
func (n *node) NodeID(t testing.TB) string {
	t.Helper()
	id, err := (manager.DataDir{Dir: n.DataDir}).LoadIdentity()
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	return id.NodeID
}

// status is GET /swarmops/v1/status on m.
func (c *testCluster) status(m *node) (apiserver.Status, error) {
	var st apiserver.Status
	err := c.call(context.Background(), m, http.MethodGet, "/swarmops/v1/status", nil, &st)
	return st, err
}

// Status is status, failing the test on error.
func (c *testCluster) Status(t testing.TB, m *node) apiserver.Status {
	t.Helper()
	st, err := c.status(m)
	if err != nil {
		t.Fatalf("status of %s: %v", m.Name, err)
	}
	return st
}

// call sends a request to m with the CLI's client certificate; body and
// out are JSON (nil for none). A non-2xx answer is an *apiError.
func (c *testCluster) call(ctx context.Context, m *node, method, path string, body, out any) error {
	return callJSON(ctx, c.client, method, "https://"+m.Addr+path, body, out)
}

// waitServing waits until m's API answers (any status), failing early if
// the process exits.
func (c *testCluster) waitServing(t testing.TB, m *node) {
	t.Helper()
	poll(t, startTimeout, m.Name+" serving the API", func() error {
		if !m.Running() {
			return permanent(fmt.Errorf("%s exited: %v", m.Name, m.exitErr()))
		}
		_, err := c.status(m)
		return err
	})
}

func (n *node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exit
}

// waitLeaderSeen waits until m names a leader.
func (c *testCluster) waitLeaderSeen(t testing.TB, m *node) {
	t.Helper()
	poll(t, electionTimeout, m.Name+" seeing a leader", func() error {
		if !m.Running() {
			return permanent(fmt.Errorf("%s exited: %v", m.Name, m.exitErr()))
		}
		st, err := c.status(m)
		if err != nil {
			return err
		}
		if st.LeaderAddr == "" {
			return errors.New("no leader known")
		}
		return nil
	})
}

// waitVoters waits until m's Raft configuration has n voters.
func (c *testCluster) waitVoters(t testing.TB, m *node, n int) {
	t.Helper()
	poll(t, startTimeout, fmt.Sprintf("%d voters seen by %s", n, m.Name), func() error {
		st, err := c.status(m)
		if err != nil {
			return err
		}
		voters := 0
		for _, s := range st.Servers {
			if strings.EqualFold(s.Suffrage, "voter") {
				voters++
			}
		}
		if voters != n {
			return fmt.Errorf("%d voters: %+v", voters, st.Servers)
		}
		return nil
	})
}

// waitNodeListed waits until GET /nodes on m lists hostname.
func (c *testCluster) waitNodeListed(t testing.TB, m *node, hostname string) {
	t.Helper()
	poll(t, startTimeout, hostname+" in the node list", func() error {
		var nodes []struct {
			Description struct{ Hostname string }
		}
		if err := c.call(context.Background(), m, http.MethodGet, "/v1.41/nodes", nil, &nodes); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Description.Hostname == hostname {
				return nil
			}
		}
		return fmt.Errorf("not among %d nodes", len(nodes))
	})
}

// joinToken runs `swarmops join-token ROLE -q` on the first manager.
func (c *testCluster) joinToken(t testing.TB, role string, extra ...string) string {
	t.Helper()
	args := append([]string{"join-token", role, "-q", "--data-dir", c.Managers[0].DataDir}, extra...)
	out, err := exec.Command(c.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("swarmops %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "SWMOPS-1-") {
		t.Fatalf("swarmops %s printed %q, want a token", strings.Join(args, " "), out)
	}
	return lines[len(lines)-1]
}

// permanentError stops poll at once.
type permanentError struct{ error }

func permanent(err error) error { return permanentError{err} }

// poll calls f until it returns nil, failing the test with f's last error
// once timeout has passed or f returns a permanent error.
func poll(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := pollErr(timeout, f); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// pollErr is poll returning the error instead of failing.
func pollErr(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return p.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		<-tick.C
	}
}
