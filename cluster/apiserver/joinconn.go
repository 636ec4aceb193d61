package apiserver

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
)

// ServeJoinConn serves HTTP/1.1 on a join connection. net/http closes any
// TLS connection whose negotiated protocol it has no handler for, and a
// join connection negotiates ca.JoinALPN, so the manager installs this as
// http.Server.TLSNextProto[ca.JoinALPN]:
//
//	hs := &http.Server{Handler: srv.Handler(), TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){
//		ca.JoinALPN: srv.ServeJoinConn,
//	}}
//
// (A non-nil TLSNextProto turns off net/http's automatic HTTP/2; the
// docker CLI speaks HTTP/1.1.) Requests reach h with r.TLS set from the
// connection, so the handler sees a join connection and allows the join
// route alone. It returns when the connection is closed.
func (s *Server) ServeJoinConn(hs *http.Server, c *tls.Conn, h http.Handler) {
	done := make(chan struct{})
	var once sync.Once
	inner := &http.Server{
		Handler:           h,
		ReadTimeout:       hs.ReadTimeout,
		ReadHeaderTimeout: hs.ReadHeaderTimeout,
		WriteTimeout:      hs.WriteTimeout,
		IdleTimeout:       hs.IdleTimeout,
		MaxHeaderBytes:    hs.MaxHeaderBytes,
		ErrorLog:          hs.ErrorLog,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				once.Do(func() { close(done) })
			}
		},
	}
	// The wrapper hides *tls.Conn from the inner server, which would
	// otherwise see the join protocol again and close the connection.
	_ = inner.Serve(&oneConnListener{conn: plainConn{c}})
	<-done
}

// plainConn is a TLS connection seen as a plain net.Conn.
type plainConn struct{ net.Conn }

// oneConnListener hands out one connection, then reports itself closed;
// http.Server.Serve returns and the connection is served to its end.
type oneConnListener struct {
	mu   sync.Mutex
	conn net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil, io.EOF
	}
	c := l.conn
	l.conn = nil
	return c, nil
}

func (l *oneConnListener) Close() error { return nil }

func (l *oneConnListener) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "join" }
