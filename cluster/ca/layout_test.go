package ca

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLayoutPaths(t *testing.T) {
	l := NewLayout("/var/lib/swarmops")
	for got, want := range map[string]string{
		l.CACertFile():     "/var/lib/swarmops/certs/ca.pem",
		l.CAKeyFile():      "/var/lib/swarmops/certs/ca-key.pem",
		l.NodeCertFile():   "/var/lib/swarmops/certs/node.pem",
		l.NodeKeyFile():    "/var/lib/swarmops/certs/node-key.pem",
		l.ClientDir():      "/var/lib/swarmops/client",
		l.ClientCAFile():   "/var/lib/swarmops/client/ca.pem",
		l.ClientCertFile(): "/var/lib/swarmops/client/cert.pem",
		l.ClientKeyFile():  "/var/lib/swarmops/client/key.pem",
	} {
		if got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}

func TestLayoutSaveLoad(t *testing.T) {
	now := time.Now()
	ca := newCA(t, now)
	l := NewLayout(filepath.Join(t.TempDir(), "data"))

	if err := l.SaveRootCA(ca); err != nil {
		t.Fatalf("SaveRootCA: %v", err)
	}
	nodeCert, nodeKey, err := ca.IssueKeyPair("mgr1", RoleManager, []string{"localhost"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveNode(nodeCert, nodeKey); err != nil {
		t.Fatalf("SaveNode: %v", err)
	}
	cliCert, cliKey, err := ca.IssueKeyPair("cli1", RoleClient, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveClient(ca, cliCert, cliKey); err != nil {
		t.Fatalf("SaveClient: %v", err)
	}

	for path, want := range map[string]fs.FileMode{
		l.CertsDir():       0o700 | fs.ModeDir,
		l.ClientDir():      0o700 | fs.ModeDir,
		l.CACertFile():     0o644,
		l.CAKeyFile():      0o600,
		l.NodeCertFile():   0o644,
		l.NodeKeyFile():    0o600,
		l.ClientCAFile():   0o644,
		l.ClientCertFile(): 0o644,
		l.ClientKeyFile():  0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}
	// Exactly the names docker reads from DOCKER_CERT_PATH, and no leftover
	// temporary files anywhere.
	for dir, want := range map[string][]string{
		l.ClientDir(): {"ca.pem", "cert.pem", "key.pem"},
		l.CertsDir():  {"ca-key.pem", "ca.pem", "node-key.pem", "node.pem"},
	} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s holds %q, want %q", dir, names, want)
		}
	}

	back, err := l.LoadRootCA()
	if err != nil {
		t.Fatalf("LoadRootCA: %v", err)
	}
	if back.Digest() != ca.Digest() || !back.CanSign() {
		t.Errorf("loaded root %s can sign %v, want %s true", back.Digest(), back.CanSign(), ca.Digest())
	}
	node, err := l.LoadNode(back)
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	cliRoot, cli, err := l.LoadClient()
	if err != nil {
		t.Fatalf("LoadClient: %v", err)
	}
	if cliRoot.CanSign() {
		t.Error("the client directory gave a root that can sign")
	}
	// What the docker CLI does with DOCKER_CERT_PATH: a plain key pair load.
	if _, err := tls.LoadX509KeyPair(l.ClientCertFile(), l.ClientKeyFile()); err != nil {
		t.Errorf("docker-style load of the client files: %v", err)
	}
	res := connect(t, back.ServerConfig(NewCredentials(node)), cliRoot.ClientConfig(NewCredentials(cli)))
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake with loaded files: server %v, client %v", res.serverErr, res.clientErr)
	}
	if id, role, _ := PeerIdentity(res.serverState); id != "cli1" || role != RoleClient {
		t.Errorf("server sees %q %q, want cli1 %s", id, role, RoleClient)
	}

	// A worker's directory holds the root without its key.
	if err := l.SaveRootCA(ca.VerifyOnly()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.CAKeyFile()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ca-key.pem left behind after saving a root without key: %v", err)
	}
	if back, err := l.LoadRootCA(); err != nil || back.CanSign() {
		t.Errorf("LoadRootCA without key: can sign %v, %v", back != nil && back.CanSign(), err)
	}
}

func TestLayoutReplacesAtomically(t *testing.T) {
	ca := newCA(t, t0)
	l := NewLayout(t.TempDir())
	first, key1, _ := ca.IssueKeyPair("n1", RoleWorker, nil, nil, t0)
	second, key2, _ := ca.IssueKeyPair("n1", RoleWorker, nil, nil, t0)
	if err := l.SaveNode(first, key1); err != nil {
		t.Fatal(err)
	}
	// A key file someone loosened is replaced by a 0600 one.
	if err := os.Chmod(l.NodeKeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveNode(second, key2); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(l.NodeCertFile())
	if err != nil || !bytes.Equal(got, second) {
		t.Errorf("node.pem was not replaced: %v", err)
	}
	fi, err := os.Stat(l.NodeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("node-key.pem has mode %v after replace, want 0600", fi.Mode())
	}
}

func TestLayoutMissing(t *testing.T) {
	l := NewLayout(filepath.Join(t.TempDir(), "nothing-here"))
	_, err := l.LoadRootCA()
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "swarmops init") {
		t.Errorf("LoadRootCA of an empty dir: %v, want fs.ErrNotExist naming 'swarmops init'", err)
	}
	if _, _, err := l.LoadClient(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadClient of an empty dir: %v", err)
	}
	ca := newCA(t, t0)
	if _, err := l.LoadNode(ca); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadNode of an empty dir: %v", err)
	}
}
