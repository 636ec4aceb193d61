package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssueRoleInOU(t *testing.T) {
	ca := newCA(t, t0)
	for _, role := range []Role{RoleManager, RoleWorker, RoleClient} {
		t.Run(string(role), func(t *testing.T) {
			key, _ := NewKey()
			ip := net.ParseIP("10.0.0.7")
			certPEM, err := ca.Issue("abc123", role, []string{"mgr1.example"}, []net.IP{ip}, key.Public(), t0)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			c := parsePEM(t, certPEM)
			if c.Subject.CommonName != "abc123" {
				t.Errorf("CN = %q, want the node ID", c.Subject.CommonName)
			}
			if !slices.Equal(c.Subject.OrganizationalUnit, []string{string(role)}) {
				t.Errorf("OU = %q, want [%s]", c.Subject.OrganizationalUnit, role)
			}
			if want := []string{string(role), "abc123", "mgr1.example"}; !slices.Equal(c.DNSNames, want) {
				t.Errorf("DNS names = %q, want %q", c.DNSNames, want)
			}
			if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(ip) {
				t.Errorf("IPs = %v, want [%v]", c.IPAddresses, ip)
			}
			if want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; !slices.Equal(c.ExtKeyUsage, want) {
				t.Errorf("ExtKeyUsage = %v, want server and client auth", c.ExtKeyUsage)
			}
			if c.IsCA {
				t.Error("a node certificate must not be a CA")
			}
			if !c.NotAfter.Equal(t0.Add(CertValidity)) || !c.NotBefore.Equal(t0.Add(-Backdate)) {
				t.Errorf("validity %s .. %s, want %s .. %s", c.NotBefore, c.NotAfter, t0.Add(-Backdate), t0.Add(CertValidity))
			}
			// Verified with the standard library alone, not with our Verify.
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert())
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: "abc123"}); err != nil {
					t.Errorf("x509 verify for usage %v: %v", usage, err)
				}
			}
			id, gotRole, err := Identity(c)
			if err != nil || id != "abc123" || gotRole != role {
				t.Errorf("Identity = %q, %q, %v; want abc123, %s", id, gotRole, err, role)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	ca := newCA(t, t0)
	good, _ := NewKey()
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := ca.Issue("n1", RoleWorker, nil, nil, edPub, t0); err != nil {
		t.Errorf("Ed25519 key refused: %v", err)
	}
	tests := []struct {
		name   string
		nodeID string
		role   Role
		pub    any
		dns    []string
		want   string
	}{
		{"empty node ID", "", RoleWorker, good.Public(), nil, "node ID"},
		{"uppercase node ID", "Node1", RoleWorker, good.Public(), nil, "lowercase"},
		{"node ID with a dot", "n.1", RoleWorker, good.Public(), nil, "lowercase"},
		{"leading hyphen", "-n1", RoleWorker, good.Public(), nil, "hyphens"},
		{"node ID too long", strings.Repeat("a", 64), RoleWorker, good.Public(), nil, "63"},
		{"unknown role", "n1", Role("swarm-ca"), good.Public(), nil, "unknown role"},
		{"weak curve", "n1", RoleWorker, p224.Public(), nil, "P-224"},
		{"no key", "n1", RoleWorker, nil, nil, "unsupported public key"},
		{"empty DNS name", "n1", RoleWorker, good.Public(), []string{""}, "empty DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.Issue(tt.nodeID, tt.role, tt.dns, nil, tt.pub, t0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Issue: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestIssueNeverOutlivesRoot(t *testing.T) {
	ca := newCA(t, t0)
	key, _ := NewKey()
	late := ca.Cert().NotAfter.Add(-CertValidity / 2)
	certPEM, err := ca.Issue("n1", RoleWorker, nil, nil, key.Public(), late)
	if err != nil {
		t.Fatal(err)
	}
	if got := parsePEM(t, certPEM).NotAfter; !got.Equal(ca.Cert().NotAfter) {
		t.Errorf("NotAfter = %s, want the root's %s", got, ca.Cert().NotAfter)
	}
	if _, err := ca.Issue("n1", RoleWorker, nil, nil, key.Public(), ca.Cert().NotAfter); err == nil {
		t.Error("an expired root issued a certificate")
	}
	if _, err := ca.Issue("n1", RoleWorker, nil, nil, key.Public(), t0.Add(-2*Backdate)); err == nil {
		t.Error("a root issued a certificate before its own NotBefore")
	}
}

func TestVerifyExpiryAndIssuer(t *testing.T) {
	ca := newCA(t, t0)
	other := newCA(t, t0)
	certPEM, _, err := ca.IssueKeyPair("n1", RoleManager, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(certPEM, t0.Add(CertValidity-1)); err != nil {
		t.Errorf("valid certificate refused: %v", err)
	}
	for name, at := range map[string]time.Time{
		"after NotAfter":   t0.Add(CertValidity + time.Second),
		"before NotBefore": t0.Add(-2 * Backdate),
	} {
		var invalid x509.CertificateInvalidError
		if _, err := ca.Verify(certPEM, at); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
			t.Errorf("%s: %v, want x509.CertificateInvalidError (Expired)", name, err)
		}
	}
	if _, err := other.Verify(certPEM, t0); !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("certificate of another CA: %v, want x509.UnknownAuthorityError", err)
	}
	// A certificate of this CA without a role in OU is refused even though
	// its chain verifies.
	key, _ := NewKey()
	tmpl := &x509.Certificate{
		SerialNumber: must(randomSerial()),
		Subject:      pkix.Name{CommonName: "n2", OrganizationalUnit: []string{"swarm-ca"}},
		NotBefore:    t0.Add(-Backdate), NotAfter: t0.Add(CertValidity),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert(), key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	roleless := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if _, err := ca.Verify(roleless, t0); !errors.Is(err, ErrNoRole) {
		t.Errorf("certificate without a role: %v, want ErrNoRole", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSignCSR(t *testing.T) {
	ca := newCA(t, t0)
	nodeKey, _ := NewKey()
	ip := net.ParseIP("192.0.2.10")
	csrPEM, err := NewCSR(nodeKey, []string{"mgr2.example"}, []net.IP{ip})
	if err != nil {
		t.Fatal(err)
	}

	certPEM, err := ca.SignCSR(csrPEM, "node2", RoleManager, t0)
	if err != nil {
		t.Fatalf("SignCSR manager: %v", err)
	}
	c := parsePEM(t, certPEM)
	if !nodeKey.PublicKey.Equal(c.PublicKey) {
		t.Error("certificate is not for the CSR's key")
	}
	if !slices.Contains(c.DNSNames, "mgr2.example") || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(ip) {
		t.Errorf("manager certificate names %q %v, want the CSR's names kept", c.DNSNames, c.IPAddresses)
	}

	certPEM, err = ca.SignCSR(csrPEM, "node3", RoleWorker, t0)
	if err != nil {
		t.Fatalf("SignCSR worker: %v", err)
	}
	c = parsePEM(t, certPEM)
	if want := []string{string(RoleWorker), "node3"}; !slices.Equal(c.DNSNames, want) || len(c.IPAddresses) != 0 {
		t.Errorf("worker certificate names %q %v, want only %q", c.DNSNames, c.IPAddresses, want)
	}
}

func TestSignCSRIgnoresRequestedSubject(t *testing.T) {
	ca := newCA(t, t0)
	key, _ := NewKey()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "someone-else", OrganizationalUnit: []string{string(RoleManager)}},
		DNSNames: []string{string(RoleManager)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	certPEM, err := ca.SignCSR(csrPEM, "w1", RoleWorker, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := parsePEM(t, certPEM)
	id, role, err := Identity(c)
	if err != nil || id != "w1" || role != RoleWorker {
		t.Errorf("identity %q %q %v, want w1 %s", id, role, err, RoleWorker)
	}
	if err := c.VerifyHostname(ManagerServerName); err == nil {
		t.Error("a worker's CSR obtained a certificate valid for the manager server name")
	}
}

func TestSignCSRRejects(t *testing.T) {
	ca := newCA(t, t0)
	key, _ := NewKey()
	csrPEM, err := NewCSR(key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	tampered := slices.Clone(block.Bytes)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	tests := []struct {
		name string
		csr  []byte
		want string
	}{
		{"not PEM", []byte("hello"), "CERTIFICATE REQUEST"},
		{"a certificate, not a CSR", ca.CertPEM(), "CERTIFICATE REQUEST"},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), "CSR signature"},
		{"trailing data", append(slices.Clone(csrPEM), "more"...), "trailing"},
		{"oversized", append(slices.Clone(csrPEM), make([]byte, maxCSRSize)...), "allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.SignCSR(tt.csr, "n1", RoleWorker, t0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SignCSR: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestKeyPair(t *testing.T) {
	ca := newCA(t, t0)
	other := newCA(t, t0)
	certPEM, keyPEM, err := ca.IssueKeyPair("n1", RoleManager, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("KeyPair: %v", err)
	}
	if len(p.Certificate) != 2 || !ca.Cert().Equal(must(x509.ParseCertificate(p.Certificate[1]))) {
		t.Errorf("chain has %d certificates, want the leaf and then the root", len(p.Certificate))
	}
	if p.Leaf == nil || p.Leaf.Subject.CommonName != "n1" {
		t.Error("Leaf not set")
	}
	if _, err := other.KeyPair(certPEM, keyPEM); err == nil || !strings.Contains(err.Error(), "not issued by root") {
		t.Errorf("KeyPair with another root: %v", err)
	}
	_, otherKey, err := ca.IssueKeyPair("n2", RoleManager, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.KeyPair(certPEM, otherKey); err == nil {
		t.Error("KeyPair accepted a key that does not match the certificate")
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{
		"manager": RoleManager, "swarm-manager": RoleManager,
		"worker": RoleWorker, "swarm-worker": RoleWorker,
		"client": RoleClient, "swarmops-client": RoleClient,
	} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Manager", "swarm-ca", "leader"} {
		if _, err := ParseRole(bad); err == nil {
			t.Errorf("ParseRole(%q) accepted", bad)
		}
	}
}
