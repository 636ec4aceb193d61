package ca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

// cluster is one CA with a manager's server config, as a manager runs it.
type cluster struct {
	ca      *RootCA
	manager tls.Certificate
	server  *tls.Config
}

func newCluster(t *testing.T) cluster {
	t.Helper()
	now := time.Now()
	// Created a year ago so that tests can issue already expired certificates.
	ca := newCA(t, now.AddDate(-1, 0, 0))
	mgr := pair(t, ca, "mgr1", RoleManager, now)
	return cluster{ca: ca, manager: mgr, server: ca.ServerConfig(NewCredentials(mgr))}
}

func (c cluster) client(t *testing.T, nodeID string, role Role) *tls.Config {
	t.Helper()
	return c.ca.ClientConfig(NewCredentials(pair(t, c.ca, nodeID, role, time.Now())))
}

func TestMutualTLS(t *testing.T) {
	c := newCluster(t)
	for _, role := range []Role{RoleManager, RoleWorker, RoleClient} {
		t.Run(string(role), func(t *testing.T) {
			res := connect(t, c.server, c.client(t, "peer1", role))
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake: server %v, client %v", res.serverErr, res.clientErr)
			}
			if res.serverState.Version != tls.VersionTLS13 {
				t.Errorf("negotiated %x, want TLS 1.3", res.serverState.Version)
			}
			if id, got, err := PeerIdentity(res.serverState); err != nil || id != "peer1" || got != role {
				t.Errorf("server sees %q %q %v, want peer1 %s", id, got, err, role)
			}
			if id, got, err := PeerIdentity(res.clientState); err != nil || id != "mgr1" || got != RoleManager {
				t.Errorf("client sees %q %q %v, want mgr1 %s", id, got, err, RoleManager)
			}
			_, err := Authorize(res.serverState, RoleManager)
			if (role == RoleManager) != (err == nil) {
				t.Errorf("Authorize(manager only) for a %s: %v", role, err)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("Authorize error %v does not wrap ErrForbidden", err)
			}
			if IsJoin(res.serverState) {
				t.Error("a certificate connection reported as a join connection")
			}
		})
	}
}

func TestServerRefusesClients(t *testing.T) {
	c := newCluster(t)
	now := time.Now()
	other := newCA(t, now)
	rootOnly := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.ca.Pool(), ServerName: ManagerServerName}

	key, _ := NewKey()
	tmpl := &x509.Certificate{
		SerialNumber: must(randomSerial()),
		Subject:      pkix.Name{CommonName: "nobody"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca.Cert(), key.Public(), c.ca.key)
	if err != nil {
		t.Fatal(err)
	}
	roleless := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}

	expired := pair(t, c.ca, "old1", RoleWorker, now.Add(-CertValidity-time.Hour))

	tests := []struct {
		name   string
		client *tls.Config
	}{
		{"no certificate", rootOnly},
		{"certificate from another CA", withCert(rootOnly, pair(t, other, "intruder", RoleManager, now))},
		{"expired certificate", withCert(rootOnly, expired)},
		{"certificate without a role", withCert(rootOnly, roleless)},
		{"join protocol offered with h2", withProtos(rootOnly, JoinALPN, "h2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := connect(t, c.server, tt.client)
			if res.serverErr == nil {
				t.Fatal("server accepted the connection")
			}
			t.Logf("server: %v; client: %v", res.serverErr, res.clientErr)
			if res.clientErr == nil {
				t.Error("client did not learn it was refused")
			}
			if _, _, err := PeerIdentity(res.serverState); err == nil {
				t.Error("PeerIdentity found an identity on a refused connection")
			}
		})
	}
}

func TestClientRefusesServers(t *testing.T) {
	c := newCluster(t)
	now := time.Now()
	other := newCA(t, now)
	worker := pair(t, c.ca, "w1", RoleWorker, now)
	tests := []struct {
		name   string
		server *tls.Config
	}{
		{"a worker posing as a manager", c.ca.ServerConfig(NewCredentials(worker))},
		{"a manager of another CA", other.ServerConfig(NewCredentials(pair(t, other, "mgr1", RoleManager, now)))},
		{"an expired manager", c.ca.ServerConfig(NewCredentials(pair(t, c.ca, "mgr1", RoleManager, now.Add(-CertValidity-time.Hour))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := connect(t, tt.server, c.client(t, "cli", RoleClient))
			if res.clientErr == nil {
				t.Fatal("client accepted the server")
			}
			t.Logf("client: %v", res.clientErr)
		})
	}
}

func TestCredentialsRenewal(t *testing.T) {
	c := newCluster(t)
	creds := NewCredentials(c.manager)
	server := c.ca.ServerConfig(creds)
	first := connect(t, server, c.client(t, "cli", RoleClient))
	if first.clientErr != nil {
		t.Fatal(first.clientErr)
	}
	renewed := pair(t, c.ca, "mgr1", RoleManager, time.Now())
	creds.Set(renewed)
	second := connect(t, server, c.client(t, "cli", RoleClient))
	if second.clientErr != nil {
		t.Fatal(second.clientErr)
	}
	got := second.clientState.PeerCertificates[0].SerialNumber
	if got.Cmp(renewed.Leaf.SerialNumber) != 0 || got.Cmp(first.clientState.PeerCertificates[0].SerialNumber) == 0 {
		t.Error("the server did not present the renewed certificate")
	}
}

func TestPinnedAcceptsTheTokensCA(t *testing.T) {
	c := newCluster(t)
	jt, err := NewJoinTokens(c.ca.Digest())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ParseToken(jt.Worker)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := PinnedByDigest(tok.CADigest)
	if err != nil {
		t.Fatal(err)
	}
	// As a manager's listener serves it: Raft and HTTP protocols set.
	server := c.server.Clone()
	server.NextProtos = []string{"swarmops-raft", "h2", "http/1.1"}
	res := connect(t, server, pinned)
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("join handshake: server %v, client %v", res.serverErr, res.clientErr)
	}
	if !IsJoin(res.serverState) || res.clientState.NegotiatedProtocol != JoinALPN {
		t.Errorf("negotiated %q, want %q on both sides", res.serverState.NegotiatedProtocol, JoinALPN)
	}
	if _, _, err := PeerIdentity(res.serverState); !errors.Is(err, ErrNoPeerCertificate) {
		t.Errorf("server-side identity of a join connection: %v, want ErrNoPeerCertificate", err)
	}
	root, err := PinnedRoot(res.clientState, tok.CADigest)
	if err != nil {
		t.Fatalf("PinnedRoot: %v", err)
	}
	if root.Digest() != c.ca.Digest() || root.CanSign() {
		t.Errorf("pinned root %s (can sign %v), want %s without key", root.Digest(), root.CanSign(), c.ca.Digest())
	}
	// The root the joiner learnt verifies the cluster from then on.
	if _, err := root.Verify(c.ca.CertPEM(), time.Now()); err == nil {
		t.Error("Verify accepted the root itself as a node certificate")
	}
	if _, err := root.Verify(pemOf(c.manager.Certificate[0]), time.Now()); err != nil {
		t.Errorf("manager certificate against the pinned root: %v", err)
	}
}

func TestPinnedRefusesOthers(t *testing.T) {
	c := newCluster(t)
	now := time.Now()
	other := newCA(t, now)
	otherMgr := pair(t, other, "mgr9", RoleManager, now)

	leafOnly := c.manager
	leafOnly.Certificate = leafOnly.Certificate[:1]

	// A man in the middle sends its own manager certificate followed by the
	// real root, hoping the digest check alone lets it through.
	mitm := otherMgr
	mitm.Certificate = [][]byte{otherMgr.Certificate[0], c.ca.Cert().Raw}

	tests := []struct {
		name    string
		server  *tls.Config
		wantErr error
		wantMsg string
	}{
		{"manager of another cluster", other.ServerConfig(NewCredentials(otherMgr)), ErrCAMismatch, other.Digest()},
		{"chain without its root", c.ca.ServerConfig(NewCredentials(leafOnly)), ErrCAMismatch, "no CA certificate"},
		{"worker of the right cluster", c.ca.ServerConfig(NewCredentials(pair(t, c.ca, "w1", RoleWorker, now))), ErrForbidden, "not a manager"},
		{"foreign leaf with the real root appended", c.ca.ServerConfig(NewCredentials(mitm)), x509.UnknownAuthorityError{}, "pinned CA"},
		{"expired manager", c.ca.ServerConfig(NewCredentials(pair(t, c.ca, "mgr1", RoleManager, now.Add(-CertValidity-time.Hour)))), x509.CertificateInvalidError{}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pinned, err := PinnedByDigest(c.ca.Digest())
			if err != nil {
				t.Fatal(err)
			}
			res := connect(t, tt.server, pinned)
			if res.clientErr == nil {
				t.Fatal("joining node accepted the manager")
			}
			t.Logf("joining node: %v", res.clientErr)
			switch want := tt.wantErr.(type) {
			case x509.UnknownAuthorityError:
				if !errors.As(res.clientErr, &want) {
					t.Errorf("error %v, want %T", res.clientErr, want)
				}
			case x509.CertificateInvalidError:
				if !errors.As(res.clientErr, &want) {
					t.Errorf("error %v, want %T", res.clientErr, want)
				}
			default:
				if !errors.Is(res.clientErr, tt.wantErr) {
					t.Errorf("error %v, want %v", res.clientErr, tt.wantErr)
				}
			}
			if !strings.Contains(res.clientErr.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", res.clientErr, tt.wantMsg)
			}
			if _, err := PinnedRoot(res.clientState, c.ca.Digest()); err == nil {
				t.Error("PinnedRoot accepted the refused connection's chain")
			}
		})
	}
	if _, err := PinnedByDigest("sha256:short"); err == nil {
		t.Error("PinnedByDigest accepted a malformed digest")
	}
}

func withCert(cfg *tls.Config, cert tls.Certificate) *tls.Config {
	cfg = cfg.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func withProtos(cfg *tls.Config, protos ...string) *tls.Config {
	cfg = cfg.Clone()
	cfg.NextProtos = protos
	return cfg
}
