// Package ca is the cluster's certificate authority and the trust it hands
// out: the root CA, node and client certificates, join tokens, and the TLS
// configurations every connection in the cluster uses.
//
// Identity lives in the certificate, as in Docker Swarm: the subject's
// common name is the node ID and its organizational unit is the role
// (swarm-manager, swarm-worker or swarmops-client), so a handler or the
// Raft transport learns who is calling from the verified peer certificate
// alone (PeerIdentity, Authorize).
//
// A joining node has no certificate and does not yet trust the cluster.
// Its join token carries the SHA-256 digest of the root certificate;
// PinnedByDigest accepts a manager only if the chain it presents ends in a
// root with that digest, so a node never joins a cluster other than the one
// the token names. The node then sends a CSR (SignCSR) and its private key
// never leaves it.
//
// The package holds no cluster state and does no I/O beyond the files
// Layout reads and writes. Callers pass the time in, so validity windows
// follow the caller's clock (and tests can issue at any instant).
package ca
