package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/manager"
)

// TestSecurity runs against one cluster of the real binary: three managers
// (small snapshot thresholds, so a snapshot can be forced) and a worker.
func TestSecurity(t *testing.T) {
	c := startClusterWith(t, clusterOptions{Managers: 3, Workers: 1, NodeArgs: snapshotArgs})
	t.Run("every route refuses clients without a cluster certificate", func(t *testing.T) { testRoutesRefuse(t, c) })
	t.Run("join refuses a token pinning another CA", func(t *testing.T) { testJoinWrongCA(t, c) })
	t.Run("a rotated token stops working", func(t *testing.T) { testRotatedToken(t, c) })
	t.Run("secret plaintext is nowhere on disk", func(t *testing.T) { testSecretAtRest(t, c) })
}

// nodeRoutes are the routes a manager serves outside the API server's
// table, for nodes' own certificates: a worker's session and promotion, a
// new manager's request to become a voter.
func nodeRoutes() map[string]bool {
	out := map[string]bool{}
	for _, p := range manager.NodeRoutes() {
		out[p] = true
	}
	return out
}

// everyRoute lists each route of a manager as concrete requests: the API
// server's own table, so that no new route escapes this test, each Engine
// API route both unversioned and under /v1.41.
func everyRoute(t *testing.T) []apiserver.RouteInfo {
	t.Helper()
	table := apiserver.New(apiserver.Config{}).Routes()
	for _, p := range manager.NodeRoutes() {
		table = append(table, apiserver.RouteInfo{Method: http.MethodPost, Path: p})
	}
	wildcard := regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`)
	var out []apiserver.RouteInfo
	for _, rt := range table {
		rt.Path = wildcard.ReplaceAllStringFunc(rt.Path, func(w string) string {
			if strings.HasSuffix(w, "...}") {
				return "library/busybox"
			}
			return "e2e-no-such-object"
		})
		out = append(out, rt)
		if !strings.HasPrefix(rt.Path, "/swarmops/") {
			v := rt
			v.Path = "/v1.41" + rt.Path
			out = append(out, v)
		}
	}
	if len(out) < 40 {
		t.Fatalf("apiserver lists %d routes; the Engine API alone has more than 40", len(out))
	}
	return out
}

// tlsClient is an HTTPS client trusting the cluster CA and presenting
// cert, if any; protos sets the ALPN protocols offered.
func (c *testCluster) tlsClient(t *testing.T, cert *tls.Certificate, protos ...string) *http.Client {
	t.Helper()
	base, err := clientTLS(c.certPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: base.RootCAs, MinVersion: tls.VersionTLS12, NextProtos: protos}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// answer sends one request; status is 0 when no HTTP answer came (the TLS
// handshake was refused).
func answer(client *http.Client, addr string, rt apiserver.RouteInfo, body string) (status int, detail string) {
	req, err := http.NewRequest(rt.Method, "https://"+addr+rt.Path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, strings.TrimSpace(buf.String())
}

func refused(status int) bool {
	return status == 0 || status == http.StatusUnauthorized || status == http.StatusForbidden
}

// foreignCert issues a certificate for role from a CA of its own: right in
// form, wrong in trust.
func foreignCert(t *testing.T, role ca.Role) *tls.Certificate {
	t.Helper()
	root, err := ca.NewRootCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := root.IssueKeyPair("e2eforeign0000000000000", role, []string{"localhost"}, nil, time.Now())
	if err != nil {
		t.Fatalf("issue a foreign %s certificate: %v", role, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

func nodeCert(t *testing.T, n *node) *tls.Certificate {
	t.Helper()
	l := manager.DataDir{Dir: n.DataDir}.Certs()
	cert, err := tls.LoadX509KeyPair(l.NodeCertFile(), l.NodeKeyFile())
	if err != nil {
		t.Fatalf("%s's certificate: %v", n.Name, err)
	}
	return &cert
}

func testRoutesRefuse(t *testing.T, c *testCluster) {
	routes := everyRoute(t)
	nodeRoute := nodeRoutes()
	// Through a follower and through the leader: a follower forwards
	// writes, and must not forward what it should refuse.
	leader := c.Leader(t)
	targets := []*node{leader, others(c.Managers, leader)[0]}
	strangers := []struct {
		name   string
		client *http.Client
	}{
		{"no certificate", c.tlsClient(t, nil)},
		{"another CA's client certificate", c.tlsClient(t, foreignCert(t, ca.RoleClient))},
		{"another CA's manager certificate", c.tlsClient(t, foreignCert(t, ca.RoleManager))},
		{"the cluster's worker certificate", c.tlsClient(t, nodeCert(t, c.Workers[0]))},
	}
	joinConn := c.tlsClient(t, nil, ca.JoinALPN)
	const badJoin = `{"Token":"SWMOPS-1-0-0","CSR":"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n"}`

	// How each stranger was refused, for the log: handshake (0), 401, 403.
	seen := map[string]map[int]int{}
	for _, target := range targets {
		for _, rt := range routes {
			what := fmt.Sprintf("%s %s on %s", rt.Method, rt.Path, target.Name)
			for _, s := range strangers {
				if nodeRoute[rt.Path] && s.name == "the cluster's worker certificate" {
					continue // a node's own routes: a worker may call them
				}
				status, detail := answer(s.client, target.Addr, rt, "{}")
				if !refused(status) {
					t.Errorf("%s with %s: HTTP %d %s; want the TLS handshake refused, 401 or 403", what, s.name, status, detail)
				}
				if seen[s.name] == nil {
					seen[s.name] = map[int]int{}
				}
				seen[s.name][status]++
			}
			// A join connection carries no certificate: it reaches the
			// join route, which wants a valid token, and nothing else.
			status, detail := answer(joinConn, target.Addr, rt, badJoin)
			switch {
			case rt.Join && (status < 400 || status >= 500):
				t.Errorf("%s over a join connection with a bogus token: HTTP %d %s; want a 4xx refusal", what, status, detail)
			case !rt.Join && !refused(status):
				t.Errorf("%s over a join connection: HTTP %d %s; want 401 or 403", what, status, detail)
			}
			// The cluster's own client gets past authentication, so the
			// refusals above came from it and not from a missing route.
			if rt.Join {
				continue
			}
			if nodeRoute[rt.Path] {
				// Nodes only: the CLI's certificate is refused.
				if status, detail := answer(c.client, target.Addr, rt, "{}"); status != http.StatusForbidden {
					t.Errorf("%s with the cluster's client certificate: HTTP %d %s; want 403, the route is for nodes", what, status, detail)
				}
				continue
			}
			if status, detail := answer(c.client, target.Addr, rt, "{}"); refused(status) {
				t.Errorf("%s with the cluster's client certificate: HTTP %d %s; the route should pass authentication", what, status, detail)
			}
		}
	}
	t.Logf("%d requests per client; answers by HTTP status (0: TLS handshake refused): %v", 2*len(routes), seen)
	// The probing above sent writes with empty bodies; the cluster still
	// serves and has a leader.
	c.Leader(t)
}

// runJoin runs `swarmops join` to completion, for joins that must fail.
func (c *testCluster) runJoin(t *testing.T, token string) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "joiner")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "join", "--data-dir", dir, "--advertise-addr", freeAddr(t), "--hostname", "intruder", "--token", token, c.Managers[0].Addr)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("swarmops join with token %s still running after %s (it was admitted?):\n%s", token, startTimeout, out)
	}
	if _, idErr := (manager.DataDir{Dir: dir}).LoadIdentity(); !errors.Is(idErr, manager.ErrNotInitialised) {
		t.Errorf("a refused join left a node identity in %s (%v)", dir, idErr)
	}
	return string(out), err
}

// hostnames lists the nodes the cluster knows.
func (c *testCluster) hostnames(t *testing.T) []string {
	t.Helper()
	var nodes []swarm.Node
	if err := c.call(context.Background(), c.Managers[0], http.MethodGet, "/v1.41/nodes", nil, &nodes); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.Description.Hostname)
	}
	return out
}

func requireNoIntruder(t *testing.T, c *testCluster) {
	t.Helper()
	for _, h := range c.hostnames(t) {
		if h == "intruder" {
			t.Errorf("a refused join registered node %q", h)
		}
	}
}

func testJoinWrongCA(t *testing.T, c *testCluster) {
	other, err := ca.NewRootCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"worker", "manager"} {
		real, err := ca.ParseToken(c.joinToken(t, role))
		if err != nil {
			t.Fatal(err)
		}
		// The right secret, pinning a CA the manager does not have.
		forged := ca.Token{CADigest: other.Digest(), Secret: real.Secret}.String()
		out, err := c.runJoin(t, forged)
		if err == nil {
			t.Errorf("join with a %s token pinning another CA succeeded:\n%s", role, out)
			continue
		}
		t.Logf("join with a %s token pinning another CA: %v: %s", role, err, strings.TrimSpace(out))
		if !strings.Contains(out, "CA does not match") {
			t.Errorf("join with a %s token pinning another CA: %v\n%s\nwant an error naming the CA mismatch", role, err, out)
		}
	}
	requireNoIntruder(t, c)
}

func testRotatedToken(t *testing.T, c *testCluster) {
	for _, role := range []string{"worker", "manager"} {
		old := c.joinToken(t, role)
		rotated := c.joinToken(t, role, "--rotate")
		if rotated == old || c.joinToken(t, role) != rotated {
			t.Fatalf("join-token %s --rotate: %s before, %s after; want a new token that stays current", role, old, rotated)
		}
		out, err := c.runJoin(t, old)
		if err == nil {
			t.Errorf("join with the rotated-out %s token succeeded:\n%s", role, out)
			continue
		}
		t.Logf("join with the rotated-out %s token: %v: %s", role, err, strings.TrimSpace(out))
		if !strings.Contains(out, "token rejected") {
			t.Errorf("join with the rotated-out %s token: %v\n%s\nwant an error about the token", role, err, out)
		}
	}
	requireNoIntruder(t, c)
	// The new token admits a node.
	root := filepath.Dir(c.Managers[0].DataDir)
	w := c.newNode(t, root, "w-rotated", false)
	w.start(t, "join", "--data-dir", w.DataDir, "--advertise-addr", w.Addr, "--hostname", w.Name, "--token", c.joinToken(t, "worker"), c.Managers[0].Addr)
	c.waitNodeListed(t, c.Managers[0], w.Name)
}

func testSecretAtRest(t *testing.T, c *testCluster) {
	requireDockerCLI(t)
	secret := make([]byte, 24)
	rand.Read(secret)
	plaintext := "e2e-plaintext-" + hex.EncodeToString(secret)
	file := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(file, []byte(plaintext), 0o600); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader(t)
	via := others(c.Managers, leader)[0]
	out, err := c.Docker(t, via, "secret", "create", "e2e-at-rest", file)
	if err != nil {
		t.Fatalf("docker secret create: %v\n%s", err, out)
	}
	id := strings.TrimSpace(out)
	var inspected swarm.Secret
	if err := c.call(context.Background(), leader, http.MethodGet, "/v1.41/secrets/"+id, nil, &inspected); err != nil {
		t.Fatalf("inspect secret %s: %v", id, err)
	}
	if len(inspected.Spec.Data) != 0 {
		t.Errorf("secret inspect returned %d bytes of data; the API never returns it", len(inspected.Spec.Data))
	}
	created := c.Status(t, leader).Raft.CommitIndex

	// Every manager snapshots on its own once enough entries are new:
	// write until each holds a snapshot that includes the secret.
	acks := newAcked()
	for i := 0; ; i++ {
		behind := ""
		for _, m := range c.Managers {
			if st := c.Status(t, m); st.Raft.LastSnapshotIndex < created {
				behind += fmt.Sprintf(" %s (snapshot at %d)", m.Name, st.Raft.LastSnapshotIndex)
			}
		}
		if behind == "" {
			break
		}
		if i > 100 {
			t.Fatalf("no snapshot past index %d after %d writes on:%s", created, 16*i, behind)
		}
		acks.writeN(t, c, leader, fmt.Sprintf("at-rest-%d", i), 16)
	}

	control0 := "at-rest-0-0"
	needles := map[string][]byte{
		"plaintext":      []byte(plaintext),
		"base64":         []byte(base64.StdEncoding.EncodeToString([]byte(plaintext))),
		"base64 (URL)":   []byte(base64.URLEncoding.EncodeToString([]byte(plaintext))),
		"base64 (raw)":   []byte(base64.RawStdEncoding.EncodeToString([]byte(plaintext))),
		"hex":            []byte(hex.EncodeToString([]byte(plaintext))),
		"secret's bytes": secret,
	}
	for _, n := range c.nodes() {
		var files, snapshots, control int
		err := filepath.WalkDir(n.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if strings.Contains(path, string(filepath.Separator)+"snapshots"+string(filepath.Separator)) {
				snapshots++
			}
			if bytes.Contains(data, []byte(control0)) {
				control++
			}
			for what, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("the secret's %s is in %s", what, path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read %s's data directory: %v", n.Name, err)
		}
		if n.Manager && snapshots == 0 {
			t.Errorf("%s: no snapshot file among %d files; the search must cover one", n.Name, files)
		}
		// A positive control: what is not secret, a service name, is
		// found, so the search reads what the stores hold.
		if n.Manager && control == 0 {
			t.Errorf("%s: service name %s found in none of %d files; the search cannot see the stored state", n.Name, control0, files)
		}
		if strings.Contains(n.Output(), plaintext) {
			t.Errorf("%s logged the secret's plaintext", n.Name)
		}
	}
}
