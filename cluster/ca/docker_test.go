package ca

import (
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// TestDockerCLIUsesClientDir points the real docker CLI at a TLS server
// configured by ServerConfig, the way `eval "$(swarmops env)"` will: the
// CLI must trust the manager certificate (its IP SAN and the root in
// DIR/client/ca.pem), present DIR/client/cert.pem, and the server must read
// the client role from it. A client directory of another CA must get no
// request through. Only the CLI binary is needed, not an engine.
func TestDockerCLIUsesClientDir(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the docker CLI is not installed: %v", err)
		}
		t.Skipf("the docker CLI is not installed: %v", err)
	}
	now := time.Now()
	root := newCA(t, now)
	certPEM, keyPEM, err := root.IssueKeyPair("mgr1", RoleManager, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := root.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	cfg := root.ServerConfig(NewCredentials(mgr))
	cfg.NextProtos = []string{"h2", "http/1.1"}
	srv := &http.Server{TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, role, err := PeerIdentity(*r.TLS)
		mu.Lock()
		seen = append(seen, id+" "+string(role))
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Api-Version", "1.41")
		w.WriteHeader(http.StatusOK)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()

	run := func(ca *RootCA) (string, error) {
		l := NewLayout(t.TempDir())
		cert, key, err := ca.IssueKeyPair("cli1", RoleClient, nil, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SaveClient(ca, cert, key); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(docker, "version", "--format", "{{.Server.APIVersion}}")
		cmd.Env = append(os.Environ(), "DOCKER_HOST=tcp://"+ln.Addr().String(), "DOCKER_TLS_VERIFY=1",
			"DOCKER_CERT_PATH="+l.ClientDir(), "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CONTEXT=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, _ := run(newCA(t, now))
	mu.Lock()
	if len(seen) != 0 {
		t.Errorf("a client of another CA reached the handler: %q (docker said %s)", seen, out)
	}
	mu.Unlock()

	// The empty /version body makes the command itself fail; what matters
	// is that requests arrived over mutual TLS with the client's identity.
	out, _ = run(root)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatalf("docker reached no handler with the cluster's client directory: %s", out)
	}
	for _, s := range seen {
		if s != "cli1 "+string(RoleClient) {
			t.Errorf("request from %q, want cli1 %s", s, RoleClient)
		}
	}
}
