package raftnode

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func listenMux(t *testing.T, cfg MuxConfig) *Mux {
	t.Helper()
	m, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// serveHTTP answers with the protocol and the client certificate's CN, so
// tests see what reached the handler.
func serveHTTP(t *testing.T, m *Mux) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s", r.Proto, cn)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(m.HTTP()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http server: %v", err)
		}
	})
}

func get(t *testing.T, url string, conf *tls.Config, h2 bool) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: h2}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestMuxServesHTTPOnTheRaftPort(t *testing.T) {
	ca := newTestCA(t)
	m := listenMux(t, ca.muxConfig(ca.issue(t, "m1", roleManager)))
	serveHTTP(t, m)
	url := "https://" + m.Addr().String() + "/_ping"
	client := &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "cli", "swarmops-client")}}

	if got := get(t, url, client, false); got != "HTTP/1.1 cli" {
		t.Errorf("HTTP/1.1 with a client certificate: %q", got)
	}
	if got := get(t, url, client, true); got != "HTTP/2.0 cli" {
		t.Errorf("h2 with a client certificate: %q", got)
	}
	// A client that offers no ALPN at all, as the docker CLI's may not.
	noALPN := client.Clone()
	noALPN.NextProtos = nil // the h2 transport above added its own
	raw, err := tls.Dial("tcp", m.Addr().String(), noALPN)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := io.WriteString(raw, "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if reply, err := io.ReadAll(raw); err != nil || !strings.HasPrefix(string(reply), "HTTP/1.1 200") || !strings.HasSuffix(string(reply), "HTTP/1.1 cli") {
		t.Errorf("HTTP without ALPN: %q, %v", reply, err)
	}
	// No certificate still reaches HTTP (the join route needs that); the
	// handlers decide per route.
	if got := get(t, url, &tls.Config{RootCAs: ca.pool}, false); got != "HTTP/1.1 -" {
		t.Errorf("HTTP without a client certificate: %q", got)
	}
}

// acceptOne returns the next connection the raft layer accepts.
func acceptOne(t *testing.T, l raft.StreamLayer) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			ch <- c
		}
		close(ch)
	}()
	return ch
}

func TestRaftLayerCarriesBytesBetweenManagers(t *testing.T) {
	ca := newTestCA(t)
	a := listenMux(t, ca.muxConfig(ca.issue(t, "m1", roleManager)))
	b := listenMux(t, ca.muxConfig(ca.issue(t, "m2", roleManager)))
	accepted := acceptOne(t, b.Raft())

	conn, err := a.Raft().Dial(raft.ServerAddress(b.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	var in net.Conn
	select {
	case in = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("raft layer accepted nothing")
	}
	defer in.Close()
	if cn := in.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "m1" {
		t.Errorf("accepted a connection from %q, want m1", cn)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// TestRaftRefusesNonManagers dials with certificates that must not reach
// Raft, then a manager's: the first connection the layer accepts must be
// the manager's, and the refused ones must see their connection closed.
func TestRaftRefusesNonManagers(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	server := listenMux(t, ca.muxConfig(ca.issue(t, "m1", roleManager)))
	accepted := acceptOne(t, server.Raft())
	addr := raft.ServerAddress(server.Addr().String())

	refused := []struct {
		name string
		conf *tls.Config
	}{
		{"worker certificate", ca.peerTLS(ca.issue(t, "w1", roleWorker))},
		{"no certificate", &tls.Config{RootCAs: ca.pool}},
		{"manager certificate from another CA", &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{other.issue(t, "evil", roleManager)}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			layer := &streamLayer{dialTLS: withPeerProtos(tc.conf), authorize: func(tls.ConnectionState) error { return nil }}
			conn, err := layer.Dial(addr, 5*time.Second)
			if err != nil {
				return // refused during the handshake: fine
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection with a %s was kept open: %v", tc.name, err)
			}
		})
	}

	good, err := (&streamLayer{dialTLS: withPeerProtos(ca.peerTLS(ca.issue(t, "m2", roleManager))), authorize: managersOnly}).Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	select {
	case in := <-accepted:
		defer in.Close()
		if cn := in.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "m2" {
			t.Fatalf("raft accepted %q before the manager", cn)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("raft layer accepted nothing")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A server config that takes any client certificate unverified (as a
// join endpoint might) must still keep unverified peers away from Raft.
func TestRaftNeedsAVerifiedChainWhateverTheServerConfig(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	cfg := ca.muxConfig(ca.issue(t, "m1", roleManager))
	cfg.ServerTLS.ClientAuth = tls.RequireAnyClientCert
	server := listenMux(t, cfg)
	accepted := acceptOne(t, server.Raft())
	addr := raft.ServerAddress(server.Addr().String())

	forged := &streamLayer{
		dialTLS:   withPeerProtos(&tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{other.issue(t, "evil", roleManager)}}),
		authorize: func(tls.ConnectionState) error { return nil },
	}
	conn, err := forged.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("handshake with any client certificate should pass: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("unverified manager certificate kept: %v", err)
	}
	select {
	case in, ok := <-accepted:
		if ok {
			in.Close()
			t.Fatal("raft accepted an unverified peer")
		}
	default:
	}
}

func TestRaftDialRefusesWrongServers(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	dialer := &streamLayer{dialTLS: withPeerProtos(ca.peerTLS(ca.issue(t, "m1", roleManager))), authorize: managersOnly}

	foreign := listenMux(t, other.muxConfig(other.issue(t, "x", roleManager)))
	worker := listenMux(t, ca.muxConfig(ca.issue(t, "w1", roleWorker)))
	httpOnly := tlsServer(t, ca.serverTLS(ca.issue(t, "web", roleManager)))

	for _, tc := range []struct {
		name, addr, want string
	}{
		{"server from another CA", foreign.Addr().String(), "certificate"},
		{"server that is a worker", worker.Addr().String(), "not a manager"},
		{"server without raft", httpOnly, "does not speak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := dialer.Dial(raft.ServerAddress(tc.addr), 5*time.Second)
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// tlsServer is a TLS port that offers only HTTP's protocols.
func tlsServer(t *testing.T, conf *tls.Config) string {
	t.Helper()
	conf = conf.Clone()
	conf.NextProtos = []string{"h2", "http/1.1"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestMuxCloseStopsBothListeners(t *testing.T) {
	ca := newTestCA(t)
	m, err := Listen("127.0.0.1:0", ca.muxConfig(ca.issue(t, "m1", roleManager)))
	if err != nil {
		t.Fatal(err)
	}
	// A client that connects and never handshakes must not hold Close up.
	silent, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.HTTP().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("HTTP accept after Close: %v", err)
	}
	if _, err := m.Raft().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("raft accept after Close: %v", err)
	}
	if _, err := net.Dial("tcp", m.Addr().String()); err == nil {
		t.Error("the port still accepts connections")
	}
}

func TestListenNeedsItsTLSConfigs(t *testing.T) {
	ca := newTestCA(t)
	full := ca.muxConfig(ca.issue(t, "m1", roleManager))
	for name, edit := range map[string]func(*MuxConfig){
		"no server TLS": func(c *MuxConfig) { c.ServerTLS = nil },
		"no peer TLS":   func(c *MuxConfig) { c.PeerTLS = nil },
		"no authorizer": func(c *MuxConfig) { c.AuthorizeRaft = nil },
	} {
		cfg := full
		edit(&cfg)
		if m, err := Listen("127.0.0.1:0", cfg); err == nil {
			m.Close()
			t.Errorf("%s: Listen accepted the config", name)
		}
	}
}
