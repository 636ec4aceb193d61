package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

const (
	// CertValidity is the lifetime of node and client certificates, as in
	// Swarm (which renews them well before they expire).
	CertValidity = 90 * 24 * time.Hour

	// maxCSRSize bounds what SignCSR parses; a P-256 CSR with a few names is
	// well under 1 KiB, and the input comes from nodes not yet trusted.
	maxCSRSize = 16 << 10
	maxNodeID  = 63
)

// Issue signs a certificate for a node or client: the common name is
// nodeID, the organizational unit is role, it is valid for CertValidity
// (never past the root's own expiry) and usable for both TLS server and
// client authentication. Besides dnsNames and ips it names the role and the
// node ID as DNS names, so a client can dial "swarm-manager" and accept any
// manager, or dial a node ID and accept only that node. The returned PEM
// holds the leaf alone.
func (ca *RootCA) Issue(nodeID string, role Role, dnsNames []string, ips []net.IP, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	der, err := ca.issue(nodeID, role, dnsNames, ips, pub, now)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s %s: %w", role, nodeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func (ca *RootCA) issue(nodeID string, role Role, dnsNames []string, ips []net.IP, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	if ca.key == nil {
		return nil, ErrNoSigningKey
	}
	if err := checkNodeID(nodeID); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, fmt.Errorf("unknown role %q", role)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	if now.Before(ca.cert.NotBefore) || !now.Before(ca.cert.NotAfter) {
		return nil, fmt.Errorf("root CA is valid from %s to %s, not at %s",
			ca.cert.NotBefore.Format(time.RFC3339), ca.cert.NotAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	names := []string{string(role), nodeID}
	for _, n := range dnsNames {
		if n == "" {
			return nil, errors.New("empty DNS name")
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var addrs []net.IP
	for _, ip := range ips {
		if ip == nil {
			return nil, errors.New("nil IP address")
		}
		if !slices.ContainsFunc(addrs, ip.Equal) {
			addrs = append(addrs, ip)
		}
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(CertValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(role)},
		},
		NotBefore:             now.Add(-Backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           addrs,
	}
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		// RSA keys of TLS 1.2 peers encrypt the premaster secret with it.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return der, nil
}

// IssueKeyPair generates a P-256 key and issues a certificate for it, for
// the certificates a manager makes for itself and for the CLI at init.
func (ca *RootCA) IssueKeyPair(nodeID string, role Role, dnsNames []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.Issue(nodeID, role, dnsNames, ips, key.Public(), now)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// SignCSR issues a certificate for the key in a joining node's CSR, so the
// private key never leaves the node. The subject is set from nodeID and
// role whatever the CSR asks. The CSR's DNS names and IP addresses are kept
// only for managers, whose certificates must name the address the docker
// CLI dials; a worker or client holding a join token must not obtain a
// certificate naming some manager's address.
func (ca *RootCA) SignCSR(csrPEM []byte, nodeID string, role Role, now time.Time) ([]byte, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("sign CSR for %s %s: %w", role, nodeID, err)
	}
	var dnsNames []string
	var ips []net.IP
	if role == RoleManager {
		dnsNames, ips = csr.DNSNames, csr.IPAddresses
	}
	return ca.Issue(nodeID, role, dnsNames, ips, csr.PublicKey, now)
}

// ParseCSR reads a PEM certificate request and checks its signature, which
// proves the requester holds the private key.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > maxCSRSize {
		return nil, fmt.Errorf("CSR is %d bytes, more than the %d allowed", len(csrPEM), maxCSRSize)
	}
	block, rest := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New(`CSR: want one "CERTIFICATE REQUEST" PEM block`)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("CSR: trailing data after the PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	return csr, nil
}

// NewCSR makes the request a joining node sends. The subject is left empty:
// the manager decides the node ID and role.
func NewCSR(key crypto.Signer, dnsNames []string, ips []net.IP) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Verify checks that certPEM (a leaf, optionally followed by the rest of
// its chain) was issued by this root, is valid at now and names one role.
// It returns the leaf; Identity reads the node ID and role from it.
func (ca *RootCA) Verify(certPEM []byte, now time.Time) (*x509.Certificate, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("verify certificate: %w", err)
	}
	if err := ca.verifyChain(certs, now); err != nil {
		return nil, err
	}
	return certs[0], nil
}

func (ca *RootCA) verifyChain(certs []*x509.Certificate, now time.Time) error {
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if !c.Equal(ca.cert) {
			inter.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ca.pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("verify certificate %q against root %s: %w", leaf.Subject.CommonName, ca.digest, err)
	}
	if _, _, err := Identity(leaf); err != nil {
		return fmt.Errorf("verify certificate: %w", err)
	}
	return nil
}

// KeyPair loads a certificate and its key for use in a TLS config. The
// root is appended to the chain the node presents, because a joining node
// learns the root from that chain (see PinnedByDigest). It checks that the
// key matches and that the certificate was signed by this root, but not
// the validity period: a node with an expired certificate still starts and
// reports why its peers refuse it.
func (ca *RootCA) KeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair: %w", err)
	}
	if err := leaf.CheckSignatureFrom(ca.cert); err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %q was not issued by root %s: %w",
			leaf.Subject.CommonName, ca.digest, err)
	}
	if _, _, err := Identity(leaf); err != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair: %w", err)
	}
	chain := pair.Certificate[:1:1]
	pair.Certificate = append(chain, ca.cert.Raw)
	pair.Leaf = leaf
	return pair, nil
}

func checkNodeID(id string) error {
	if id == "" || len(id) > maxNodeID {
		return fmt.Errorf("node ID %q: want 1 to %d characters", id, maxNodeID)
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(id)-1
		if !ok {
			// The ID is also a DNS name in the certificate.
			return fmt.Errorf("node ID %q: want lowercase letters, digits and inner hyphens", id)
		}
	}
	return nil
}

func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA key on curve %s: want P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits: want at least 2048", k.N.BitLen())
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}
