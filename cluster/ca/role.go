package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// Role is what a certificate lets its holder do. It is written into the
// certificate's organizational unit, with the names Swarm uses for nodes so
// that tools reading Swarm certificates read ours the same way.
type Role string

const (
	// RoleManager is a Raft member serving the API.
	RoleManager Role = "swarm-manager"
	// RoleWorker is a node running tasks; it talks to managers only.
	RoleWorker Role = "swarm-worker"
	// RoleClient is an operator's CLI (swarmops or docker).
	RoleClient Role = "swarmops-client"
)

// Errors PeerIdentity and Authorize return, checked with errors.Is.
var (
	// ErrNoPeerCertificate means the connection carries no verified client
	// certificate: it is not TLS, or it is a join connection.
	ErrNoPeerCertificate = errors.New("no verified peer certificate")
	// ErrNoRole means the certificate names no role, or more than one.
	ErrNoRole = errors.New("certificate names no single swarmops role")
	// ErrForbidden means the peer's role is not one the caller allows.
	ErrForbidden = errors.New("role not allowed")
)

var roles = []Role{RoleManager, RoleWorker, RoleClient}

// ParseRole accepts a role by its certificate name or by the short names
// operators type ("manager", "worker", "client").
func ParseRole(s string) (Role, error) {
	switch s {
	case "manager", string(RoleManager):
		return RoleManager, nil
	case "worker", string(RoleWorker):
		return RoleWorker, nil
	case "client", string(RoleClient):
		return RoleClient, nil
	}
	return "", fmt.Errorf("unknown role %q: want manager, worker or client", s)
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

// String returns the certificate name of the role.
func (r Role) String() string { return string(r) }

// Identity reads the node ID and role from a certificate issued by this
// package. It does not verify the certificate; callers use a verified one.
func Identity(cert *x509.Certificate) (nodeID string, role Role, err error) {
	var found []Role
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r := Role(ou); r.Valid() && !slices.Contains(found, r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return "", "", fmt.Errorf("certificate %q has organizational units %q: %w",
			cert.Subject.CommonName, cert.Subject.OrganizationalUnit, ErrNoRole)
	}
	if cert.Subject.CommonName == "" {
		return "", "", fmt.Errorf("certificate has no common name (node ID): %w", ErrNoRole)
	}
	return cert.Subject.CommonName, found[0], nil
}

// PeerIdentity returns who is on the other end of a TLS connection whose
// peer certificate the handshake verified against the cluster root (a
// ServerConfig on the server side, a ClientConfig on the client side).
// Connections made with PinnedByDigest, and join connections accepted by a
// ServerConfig, have no verified chain and get ErrNoPeerCertificate. It may
// also be called from a VerifyConnection callback, where the chains are
// already verified.
func PeerIdentity(state tls.ConnectionState) (nodeID string, role Role, err error) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", "", ErrNoPeerCertificate
	}
	return Identity(state.VerifiedChains[0][0])
}

// Authorize is PeerIdentity plus a check that the peer holds one of the
// allowed roles; the error names both so a refused caller learns why.
func Authorize(state tls.ConnectionState, allowed ...Role) (nodeID string, err error) {
	id, role, err := PeerIdentity(state)
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowed, role) {
		return "", fmt.Errorf("node %s is a %s, this needs %q: %w", id, role, allowed, ErrForbidden)
	}
	return id, nil
}
