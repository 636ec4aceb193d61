package apiserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// inProcessKey marks a request made in this process through InProcess: it
// carries its caller, and needs no certificate. Context values never cross
// the network, so a remote client cannot set it.
const inProcessKey ctxKey = 100

// InProcess is a transport that serves requests with this server's API
// directly, as caller, without a network or TLS: how the leader's own
// loops (the git reconciler, webhooks) use the API, so their writes pass
// the same validation, allocation and audit as any client's. Responses are
// buffered whole; streaming routes (logs --follow) are not for it.
func (s *Server) InProcess(c Caller) http.RoundTripper { return inProcess{s: s, c: c} }

type inProcess struct {
	s *Server
	c Caller
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	r := req.Clone(context.WithValue(req.Context(), inProcessKey, t.c))
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = r.URL.RequestURI()
	w := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	t.s.serveHTTP(w, r)
	return &http.Response{
		Status:        http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// bufferedResponse is the http.ResponseWriter of an in-process request.
type bufferedResponse struct {
	header      http.Header
	body        bytes.Buffer
	code        int
	wroteHeader bool
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
}

func (w *bufferedResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *bufferedResponse) Flush() {}

// inProcessCaller is the caller of an in-process request, if r is one.
func inProcessCaller(r *http.Request) (Caller, bool) {
	c, ok := r.Context().Value(inProcessKey).(Caller)
	return c, ok
}
