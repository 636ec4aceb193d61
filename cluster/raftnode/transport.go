package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ALPNRaft is the TLS application protocol a connection negotiates to reach
// the Raft stream layer instead of the HTTP API on the same port.
const ALPNRaft = "swarmops-raft"

// defaultHandshakeTimeout bounds a TLS handshake on the shared port, so a
// peer that connects and says nothing cannot hold a goroutine forever.
const defaultHandshakeTimeout = 10 * time.Second

// MuxConfig configures the shared listener.
type MuxConfig struct {
	// ServerTLS holds this node's certificate and the cluster root as
	// ClientCAs. It may request client certificates without requiring them
	// (the join route serves nodes that have none yet); Raft connections are
	// refused unless their client certificate was verified. Its NextProtos
	// are replaced by ALPNRaft, "h2" and "http/1.1" (plus any others listed).
	ServerTLS *tls.Config
	// PeerTLS is used to dial other managers for Raft: this node's
	// certificate and the cluster root as RootCAs. ServerName defaults to
	// the host of the dialled address, so manager certificates must name
	// their advertise address.
	PeerTLS *tls.Config
	// AuthorizeRaft decides whether a verified peer may speak Raft; it is
	// called for inbound connections (the client's certificate) and outbound
	// ones (the server's). Every cluster member holds a certificate from the
	// same root, so without this check a worker could vote. Required.
	AuthorizeRaft func(tls.ConnectionState) error
	// HandshakeTimeout defaults to 10s.
	HandshakeTimeout time.Duration
	// Logger receives refused connections at debug level; nil discards.
	Logger *slog.Logger
}

// Mux is one TLS listener whose connections are split by ALPN: those that
// negotiate ALPNRaft go to Raft, all others to the HTTP listener.
type Mux struct {
	ln        net.Listener
	serverTLS *tls.Config
	authorize func(tls.ConnectionState) error
	timeout   time.Duration
	log       *slog.Logger

	raft *streamLayer
	http *connListener

	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// Listen binds addr and starts dispatching connections. Close the Mux to
// stop; closing only the HTTP listener or the Raft layer leaves the other
// one serving.
func Listen(addr string, cfg MuxConfig) (*Mux, error) {
	if cfg.ServerTLS == nil || cfg.PeerTLS == nil {
		return nil, errors.New("listen: ServerTLS and PeerTLS are required")
	}
	if cfg.AuthorizeRaft == nil {
		return nil, errors.New("listen: AuthorizeRaft is required (who may speak Raft?)")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	m := &Mux{
		ln:        ln,
		serverTLS: withServerProtos(cfg.ServerTLS),
		authorize: cfg.AuthorizeRaft,
		timeout:   cfg.HandshakeTimeout,
		log:       cfg.Logger,
		closed:    make(chan struct{}),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if m.timeout <= 0 {
		m.timeout = defaultHandshakeTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.http = newConnListener(ln.Addr())
	m.raft = &streamLayer{
		connListener: newConnListener(ln.Addr()),
		dialTLS:      withPeerProtos(cfg.PeerTLS),
		authorize:    cfg.AuthorizeRaft,
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the bound address (with the real port when addr asked for :0).
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Raft is the stream layer for raft.NetworkTransport. The transport owns
// it: closing the transport closes it.
func (m *Mux) Raft() raft.StreamLayer { return m.raft }

// HTTP yields the connections that did not negotiate ALPNRaft, already
// handshaken (*tls.Conn), for an http.Server's Serve.
func (m *Mux) HTTP() net.Listener { return m.http }

// Close stops accepting, closes both sub-listeners and waits for pending
// handshakes to finish. Established connections are their owners' to close.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		m.cancel()
		err = m.ln.Close()
		m.http.Close()
		m.raft.Close()
		m.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("close listener: %w", err)
	}
	return nil
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does
			// rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-m.closed:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		m.wg.Add(1)
		go m.dispatch(conn)
	}
}

// dispatch handshakes off the accept loop so one slow client cannot stall
// the others.
func (m *Mux) dispatch(raw net.Conn) {
	defer m.wg.Done()
	conn := tls.Server(raw, m.serverTLS)
	// m.ctx ends with Close, which must not wait out a silent peer.
	ctx, cancel := context.WithTimeout(m.ctx, m.timeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.log.Debug("tls handshake refused", "remote", raw.RemoteAddr().String(), "error", err)
		raw.Close()
		return
	}
	state := conn.ConnectionState()
	target := m.http
	if state.NegotiatedProtocol == ALPNRaft {
		if err := m.checkRaftPeer(state); err != nil {
			m.log.Debug("raft connection refused", "remote", raw.RemoteAddr().String(), "error", err)
			conn.Close()
			return
		}
		target = m.raft.connListener
	}
	if !target.deliver(conn, m.closed) {
		conn.Close()
	}
}

func (m *Mux) checkRaftPeer(state tls.ConnectionState) error {
	if len(state.VerifiedChains) == 0 {
		return errors.New("raft needs a verified client certificate")
	}
	return m.authorize(state)
}

// withServerProtos offers Raft next to HTTP, keeping any protocols the
// caller listed, also on configs chosen per client.
func withServerProtos(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.NextProtos = mergeProtos(base.NextProtos)
	if get := base.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			pc, err := get(hello)
			if pc == nil || err != nil {
				return pc, err
			}
			pc = pc.Clone()
			pc.NextProtos = mergeProtos(pc.NextProtos)
			return pc, nil
		}
	}
	return c
}

func mergeProtos(extra []string) []string {
	protos := []string{ALPNRaft, "h2", "http/1.1"}
	for _, p := range extra {
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	return protos
}

func withPeerProtos(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.NextProtos = []string{ALPNRaft}
	return c
}

// connListener is a net.Listener fed by the mux.
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// deliver hands c to the next Accept; false means nobody will take it.
func (l *connListener) deliver(c net.Conn, muxClosed <-chan struct{}) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	case <-muxClosed:
		return false
	}
}

// streamLayer is raft.StreamLayer over the mux: inbound from the ALPN
// split, outbound by dialling with mutual TLS.
type streamLayer struct {
	*connListener
	dialTLS   *tls.Config
	authorize func(tls.ConnectionState) error
}

// Dial opens a mutual-TLS connection to a peer's shared port and insists it
// answers as Raft: a port that only speaks HTTP is not a manager.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	conf := s.dialTLS
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
		}
		conf = conf.Clone()
		conf.ServerName = host
	}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		// crypto/tls keeps the received alert's type unexported.
		if strings.Contains(err.Error(), "no application protocol") {
			return nil, fmt.Errorf("dial raft peer %s: it does not speak %s (not a swarmops manager?): %w", address, ALPNRaft, err)
		}
		return nil, fmt.Errorf("dial raft peer %s: tls: %w", address, err)
	}
	state := conn.ConnectionState()
	if state.NegotiatedProtocol != ALPNRaft {
		conn.Close()
		return nil, fmt.Errorf("dial raft peer %s: it does not speak %s (not a swarmops manager?)", address, ALPNRaft)
	}
	if err := s.authorize(state); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return conn, nil
}
