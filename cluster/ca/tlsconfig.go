package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

const (
	// JoinALPN is the application protocol a joining node offers. A
	// ServerConfig answers it without asking for a client certificate (the
	// node has none yet) and only with it; whoever serves the connection
	// must then allow nothing but the join exchange on it (see IsJoin).
	JoinALPN = "swarmops-join"

	// ManagerServerName is the name ClientConfig verifies: every manager
	// certificate carries it, no other does, so a node reaches whichever
	// manager it dials without knowing its address in advance.
	ManagerServerName = string(RoleManager)
)

// ErrCAMismatch is returned by a PinnedByDigest handshake when the manager's
// chain does not end in the root the join token names.
var ErrCAMismatch = errors.New("manager's CA does not match the join token")

// Credentials hold a node's current certificate. Every config built from
// them presents whatever was set last, so a renewed certificate takes
// effect on the next handshake without restarting listeners.
type Credentials struct {
	cert atomic.Pointer[tls.Certificate]
}

// NewCredentials starts with cert, typically from RootCA.KeyPair.
func NewCredentials(cert tls.Certificate) *Credentials {
	c := &Credentials{}
	c.Set(cert)
	return c
}

// Set replaces the certificate presented from the next handshake on.
func (c *Credentials) Set(cert tls.Certificate) { c.cert.Store(&cert) }

// Certificate returns the current certificate.
func (c *Credentials) Certificate() *tls.Certificate { return c.cert.Load() }

// ServerConfig is for every listener of a manager: TLS 1.3 only, and a
// client certificate issued by this root and naming a role is required,
// except on join connections (a client offering JoinALPN and nothing
// else), which get no client authentication. The caller sets NextProtos for
// the protocols it serves; whatever it adds to the join config returned by
// GetConfigForClient can never be negotiated, as the client offers none.
func (ca *RootCA) ServerConfig(creds *Credentials) *tls.Config {
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return creds.Certificate(), nil }
	join := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: getCert,
		ClientAuth:     tls.NoClientCert,
		NextProtos:     []string{JoinALPN},
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: getCert,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      ca.Pool(),
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			// Only a client offering nothing but the join protocol skips
			// client authentication: one that also offers "h2" or Raft
			// could otherwise have them negotiated without a certificate.
			if slices.Equal(hello.SupportedProtos, []string{JoinALPN}) {
				return join, nil
			}
			return nil, nil // the config itself
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			// Go has verified the chain; refuse certificates of this CA
			// that name no role, so every handler can rely on one.
			_, _, err := PeerIdentity(cs)
			return err
		},
	}
}

// ClientConfig is for a node or CLI dialing a manager: TLS 1.3, the server
// must present a manager certificate from this root, and creds are
// presented as the client certificate. ServerName is ManagerServerName; a
// caller that wants one particular node sets ServerName to its node ID.
func (ca *RootCA) ClientConfig(creds *Credentials) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    ca.Pool(),
		ServerName: ManagerServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return creds.Certificate(), nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, role, err := PeerIdentity(cs)
			if err != nil {
				return err
			}
			if role != RoleManager {
				return fmt.Errorf("server %s is a %s, not a manager: %w", id, role, ErrForbidden)
			}
			return nil
		},
	}
}

// PinnedByDigest is the config of a joining node, which trusts nothing yet.
// It offers only JoinALPN and accepts the manager only if the chain it
// presents contains a CA certificate whose digest is caDigest and the
// leaf is a manager certificate that this CA issued and that is valid now.
// Anything else fails the handshake with ErrCAMismatch or a verification
// error. After the handshake PinnedRoot returns the pinned root.
func PinnedByDigest(caDigest string) (*tls.Config, error) {
	if _, err := ParseDigest(caDigest); err != nil {
		return nil, fmt.Errorf("pin CA: %w", err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: ManagerServerName,
		NextProtos: []string{JoinALPN},
		// Standard verification has no roots to use yet; VerifyConnection
		// does all of it, with the pinned root as the only root.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPinned(cs.PeerCertificates, caDigest, time.Now())
			return err
		},
	}, nil
}

// PinnedRoot returns the root a PinnedByDigest handshake accepted, without
// its key, for the joining node to save as ca.pem. It checks the chain
// again so that a state from any other connection cannot slip through.
func PinnedRoot(state tls.ConnectionState, caDigest string) (*RootCA, error) {
	root, err := verifyPinned(state.PeerCertificates, caDigest, time.Now())
	if err != nil {
		return nil, err
	}
	return newRootCA(root, nil), nil
}

// IsJoin reports whether a server-side connection is a join connection,
// which carries no client certificate and may serve only the join exchange.
func IsJoin(state tls.ConnectionState) bool { return state.NegotiatedProtocol == JoinALPN }

func verifyPinned(chain []*x509.Certificate, caDigest string, now time.Time) (*x509.Certificate, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("%w: the manager presented no CA certificate after its own", ErrCAMismatch)
	}
	var root *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if root == nil && DigestOf(c.Raw) == caDigest {
			root = c
			continue
		}
		inter.AddCert(c)
	}
	if root == nil {
		return nil, fmt.Errorf("%w: the token pins %s, the manager's CA is %s; the manager belongs to another cluster or the token is stale",
			ErrCAMismatch, caDigest, DigestOf(chain[len(chain)-1].Raw))
	}
	if err := checkRoot(root); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCAMismatch, err)
	}
	// Only the pinned certificate is a root here; anything else the
	// manager sent can at most be an intermediate that chains up to it.
	roots := x509.NewCertPool()
	roots.AddCert(root)
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("manager certificate %q against the pinned CA: %w", leaf.Subject.CommonName, err)
	}
	id, role, err := Identity(leaf)
	if err != nil {
		return nil, err
	}
	if role != RoleManager {
		return nil, fmt.Errorf("node %s answered as a %s, not a manager: %w", id, role, ErrForbidden)
	}
	return root, nil
}
