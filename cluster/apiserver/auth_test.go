package apiserver

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// concretePaths turns a route pattern into the paths a client would use:
// wildcards filled, and for Engine API routes the versioned form too.
func concretePaths(rt RouteInfo) []string {
	p := strings.ReplaceAll(rt.Path, "{name...}", "library/nginx/json")
	p = strings.ReplaceAll(p, "{id}", "x")
	p = strings.ReplaceAll(p, "{name}", "x")
	if strings.HasPrefix(p, "/swarmops/") {
		return []string{p}
	}
	return []string{p, "/v1.41" + p}
}

// do sends a request with the given TLS client config and returns the
// status, or the error when the handshake (or first read) fails.
func do(t *testing.T, cfg *tls.Config, method, url string) (int, string, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestEveryRouteRefusesStrangers enumerates the route table and checks
// that no route answers a client without a cluster certificate, with a
// certificate from another CA, or with a worker's certificate, and that a
// join connection reaches the join route and nothing else.
func TestEveryRouteRefusesStrangers(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	other := newPKI(t)
	otherClient := other.cert(t, "stranger00000000000000000", ca.RoleClient)
	worker := h.pki.cert(t, "worker0000000000000000000", ca.RoleWorker)

	noCert := h.pki.root.ClientConfig(ca.NewCredentials(tls.Certificate{}))
	noCert.GetClientCertificate = nil
	foreign := h.pki.root.ClientConfig(ca.NewCredentials(otherClient))
	workerCfg := h.pki.root.ClientConfig(ca.NewCredentials(worker))
	joinCfg, err := ca.PinnedByDigest(h.pki.root.Digest())
	if err != nil {
		t.Fatalf("PinnedByDigest: %v", err)
	}
	clientCfg := h.pki.root.ClientConfig(ca.NewCredentials(h.clientCert()))

	routes := m.srv.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes: the table is not what this test expects", len(routes))
	}
	joinRoutes := 0
	for _, rt := range routes {
		for _, path := range concretePaths(rt) {
			url := "https://" + m.addr + path
			name := rt.Method + " " + path
			if status, body, err := do(t, noCert, rt.Method, url); err == nil {
				t.Errorf("%s without a certificate: answered %d %s", name, status, body)
			}
			if status, body, err := do(t, foreign, rt.Method, url); err == nil {
				t.Errorf("%s with another CA's certificate: answered %d %s", name, status, body)
			}
			status, body, err := do(t, workerCfg, rt.Method, url)
			if err != nil || status != http.StatusForbidden || !strings.Contains(body, "This node is not a swarm manager") {
				t.Errorf("%s as a worker: %d %s %v, want 403 not a swarm manager", name, status, body, err)
			}
			status, body, err = do(t, joinCfg, rt.Method, url)
			switch {
			case err != nil:
				t.Errorf("%s over a join connection: %v", name, err)
			case rt.Join && status == http.StatusForbidden:
				t.Errorf("%s over a join connection was refused: %s", name, body)
			case !rt.Join && status != http.StatusForbidden:
				t.Errorf("%s over a join connection: %d %s, want 403", name, status, body)
			}
			if rt.Join {
				joinRoutes++
				status, body, err = do(t, clientCfg, rt.Method, url)
				if err != nil || status != http.StatusForbidden {
					t.Errorf("%s with a client certificate: %d %s %v, want 403", name, status, body, err)
				}
			}
		}
	}
	if joinRoutes != 1 {
		t.Errorf("%d join routes, want 1", joinRoutes)
	}
}

// TestForwardedIdentityIsTrustedFromManagersOnly: a client cannot pass
// itself off as someone else by sending the header followers set.
func TestForwardedIdentityIsTrustedFromManagersOnly(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	cert := h.clientCert()
	req, _ := http.NewRequest(http.MethodPost, "https://"+m.addr+"/v1.41/configs/create", strings.NewReader(`{"Name":"c1","Data":"eA=="}`))
	req.Header.Set(headerCaller, "swarm-manager manager9000000000000000000")
	tr := h.pki.transport(cert)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	logs := m.logs.String()
	if !strings.Contains(logs, "caller=cli0000000000000000000000 role=swarmops-client") || strings.Contains(logs, "manager9") {
		t.Errorf("audit log does not name the real caller:\n%s", logs)
	}
}

// A manager certificate outlives the node's demotion or removal: the
// store, not the certificate, decides.
func TestManagerCertOfAFormerManagerIsRefused(t *testing.T) {
	h := newHarness(t, 1)
	m := h.leader()
	stray := h.pki.cert(t, "formermanager000000000000", ca.RoleManager)
	status, body, _ := h.raw(m, stray, "GET", "/v1.41/nodes", nil)
	wantError(t, status, body, http.StatusForbidden, "This node is not a swarm manager")

	// Listed as a worker: refused too.
	h.propose(store.Create(&swarm.Node{ID: "formermanager000000000000", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker}}))
	status, body, _ = h.raw(m, stray, "GET", "/v1.41/nodes", nil)
	wantError(t, status, body, http.StatusForbidden, "This node is not a swarm manager")

	// The cluster's own managers still pass.
	if status, body, _ := h.raw(m, h.pki.manager[m.id], "GET", "/v1.41/nodes", nil); status != http.StatusOK {
		t.Fatalf("a current manager's certificate: %d %s", status, body)
	}
}
