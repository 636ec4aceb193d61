package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestPingNegotiatesAndAdvertisesSwarm(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		status, body, hdr := h.raw(m, cert, method, "/_ping", nil)
		if status != http.StatusOK {
			t.Fatalf("%s /_ping: %d %s", method, status, body)
		}
		if got := hdr.Get("Api-Version"); got != "1.41" {
			t.Errorf("%s /_ping Api-Version = %q, want 1.41", method, got)
		}
		if got := hdr.Get("Swarm"); got != "active/manager" {
			t.Errorf("%s /_ping Swarm = %q, want active/manager", method, got)
		}
		if got := hdr.Get("Docker-Experimental"); got != "false" {
			t.Errorf("Docker-Experimental = %q", got)
		}
		if want := map[string]string{http.MethodGet: "OK", http.MethodHead: ""}[method]; string(body) != want {
			t.Errorf("%s /_ping body %q, want %q", method, body, want)
		}
	}

	// The SDK negotiates down from its own newer version to 1.41.
	cli := h.docker(m, cert)
	v, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatalf("ServerVersion: %v", err)
	}
	if cli.ClientVersion() != "1.41" {
		t.Errorf("negotiated API version %q, want 1.41", cli.ClientVersion())
	}
	if v.APIVersion != "1.41" || v.MinAPIVersion != "1.24" || v.Version != "0.0.0-test" || v.Platform.Name != "swarmops" {
		t.Errorf("version = %+v", v)
	}
}

func TestInfoSwarmSection(t *testing.T) {
	h := newHarness(t, 3)
	m := h.managers[1]
	cli := h.docker(m, h.clientCert())
	info, err := cli.Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	sw := info.Swarm
	if sw.NodeID != m.id || sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable {
		t.Errorf("swarm info = %+v", sw)
	}
	if sw.Nodes != 3 || sw.Managers != 3 || len(sw.RemoteManagers) != 3 {
		t.Errorf("nodes %d managers %d remote %d, want 3 3 3", sw.Nodes, sw.Managers, len(sw.RemoteManagers))
	}
	if sw.Cluster == nil || sw.Cluster.Spec.Name != "default" || sw.Cluster.TLSInfo.TrustRoot == "" || len(sw.Cluster.TLSInfo.CertIssuerSubject) == 0 {
		t.Errorf("cluster info = %+v", sw.Cluster)
	}
	if info.Name != "mgr2" || info.NCPU != 2 || info.MemTotal != 4<<30 || info.ServerVersion != "0.0.0-test" {
		t.Errorf("info: name %q ncpu %d mem %d version %q", info.Name, info.NCPU, info.MemTotal, info.ServerVersion)
	}
	if sw.NodeAddr != "127.0.0.1" {
		t.Errorf("NodeAddr = %q", sw.NodeAddr)
	}
}

func TestInfoWarnsOfTwoManagers(t *testing.T) {
	h := newHarness(t, 2)
	info, err := h.docker(h.managers[0], h.clientCert()).Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "two-manager configuration") {
		t.Errorf("warnings = %q", info.Warnings)
	}
}

func TestVersionsAndUnknownPaths(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cases := []struct {
		method, path string
		status       int
		msg          string
	}{
		{"GET", "/v1.24/nodes", 200, ""},
		{"GET", "/v1.41/nodes", 200, ""},
		{"GET", "/v1.12/nodes", 400, "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
		{"GET", "/v1.50/nodes", 400, "client version 1.50 is too new. Maximum supported API version is 1.41"},
		{"GET", "/v1.41/nosuch", 404, "page not found"},
		{"GET", "/nosuch", 404, "page not found"},
		{"PUT", "/v1.41/services/create", 404, "page not found"},
		{"GET", "/services/create", 404, "service create not found"},
		{"GET", "/v1.41/distribution/nginx:latest/json", 501, "swarmops managers do not query registries: nginx:latest"},
		{"GET", "/distribution/library/nginx/json", 501, "library/nginx is not pinned"},
		{"GET", "/v1.41/services/x/logs", 501, "service logs are not available yet"},
		{"GET", "/v1.41/tasks/x/logs", 501, "task logs are not available yet"},
	}
	for _, c := range cases {
		status, body, _ := h.raw(m, cert, c.method, c.path, nil)
		if c.status == 200 {
			if status != 200 {
				t.Errorf("%s %s: %d %s", c.method, c.path, status, body)
			}
			continue
		}
		t.Run(c.method+c.path, func(t *testing.T) { wantError(t, status, body, c.status, c.msg) })
	}
}

func TestPanicIsAnswered500AndServingGoesOn(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	m.srv.mux.Handle("GET /boom", m.srv.wrap(route{method: "GET", path: "/boom", h: func(http.ResponseWriter, *http.Request) error {
		var nilMap map[string]*swarm.Service
		_ = nilMap["x"].Spec // a nil dereference, as a handler bug would make
		return nil
	}}))
	status, body, _ := h.raw(m, cert, "GET", "/boom", nil)
	wantError(t, status, body, http.StatusInternalServerError, "internal error")
	if !strings.Contains(m.logs.String(), "api handler panicked") {
		t.Errorf("the panic was not logged: %s", m.logs.String())
	}
	if status, _, _ := h.raw(m, cert, "GET", "/_ping", nil); status != 200 {
		t.Errorf("ping after panic: %d", status)
	}
}
