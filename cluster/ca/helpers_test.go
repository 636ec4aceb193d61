package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// t0 is a fixed instant for tests that do not handshake; handshakes check
// validity against the real clock, so those tests issue at time.Now().
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newCA(t *testing.T, now time.Time) *RootCA {
	t.Helper()
	ca, err := NewRootCA(now)
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return ca
}

// pair issues a key pair and loads it as KeyPair would for a node.
func pair(t *testing.T, ca *RootCA, nodeID string, role Role, now time.Time) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueKeyPair(nodeID, role, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now)
	if err != nil {
		t.Fatalf("IssueKeyPair(%s, %s): %v", nodeID, role, err)
	}
	p, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("KeyPair(%s): %v", nodeID, err)
	}
	return p
}

func parsePEM(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		t.Fatalf("ParseCertificates: %v", err)
	}
	return certs[0]
}

// result is what each side of one TLS connection saw.
type result struct {
	serverErr, clientErr     error
	serverState, clientState tls.ConnectionState
}

// connect runs a real TLS handshake between the two configs over
// loopback TCP (net.Pipe is unbuffered, and TLS 1.3 session tickets and
// alerts written while the other side writes would deadlock it), then
// sends one byte each way: under TLS 1.3 a server refuses the client's
// certificate after the client's Handshake has returned, and the client
// only learns it on its first read.
func connect(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	var res result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		_ = sc.SetDeadline(deadline)
		srv := tls.Server(sc, server)
		defer srv.Close()
		res.serverErr = roundTrip(srv, false)
		res.serverState = srv.ConnectionState()
	}()
	func() {
		cc, err := net.DialTimeout("tcp", ln.Addr().String(), time.Until(deadline))
		if err != nil {
			res.clientErr = err
			ln.Close() // unblocks Accept
			return
		}
		_ = cc.SetDeadline(deadline)
		cli := tls.Client(cc, client)
		defer cli.Close()
		res.clientErr = roundTrip(cli, true)
		res.clientState = cli.ConnectionState()
	}()
	wg.Wait()
	for _, err := range []error{res.serverErr, res.clientErr} {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("TLS exchange hung until the deadline: %v", err)
		}
	}
	return res
}

func roundTrip(c *tls.Conn, writeFirst bool) error {
	if err := c.Handshake(); err != nil {
		return err
	}
	buf := []byte{'x'}
	if writeFirst {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	}
	if _, err := c.Read(buf); err != nil {
		return err
	}
	_, err := c.Write(buf)
	return err
}
