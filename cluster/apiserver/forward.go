package apiserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"strconv"
)

type leaderAddrKey struct{}

// forwarder is the reverse proxy that carries a follower's writes to the
// leader, with the caller's identity in headerCaller.
func (s *Server) forwarder() http.Handler {
	return &httputil.ReverseProxy{
		Transport: s.cfg.Forwarder,
		Rewrite: func(pr *httputil.ProxyRequest) {
			addr, _ := pr.In.Context().Value(leaderAddrKey{}).(string)
			pr.Out.URL.Scheme, pr.Out.URL.Host = "https", addr
			pr.Out.Host = ""
			if orig, ok := pr.In.Context().Value(origPathKey).(string); ok {
				pr.Out.URL.Path, pr.Out.URL.RawPath = orig, ""
			}
			pr.Out.Header.Set(headerCaller, callerOf(pr.In).header())
			pr.Out.Header.Set(headerForwardedBy, s.cfg.NodeID)
		},
		ModifyResponse: func(resp *http.Response) error {
			// Wait until this manager's store holds the write, so that a
			// client reading back from it next sees what it wrote.
			if idx, err := strconv.ParseUint(resp.Header.Get(headerIndex), 10, 64); err == nil {
				ctx, cancel := context.WithTimeout(resp.Request.Context(), s.cfg.ForwardWait)
				defer cancel()
				if err := s.waitForIndex(ctx, idx); err != nil {
					s.log.Warn("forwarded write not yet applied here", "index", idx, "err", err)
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.writeError(w, r, err)
				return
			}
			s.log.Warn("forwarding to the leader failed", "path", r.URL.Path, "err", err)
			s.writeError(w, r, errorf(http.StatusServiceUnavailable,
				"this manager could not reach the swarm leader to forward the request (%v); retry, or run the command against another manager", err))
		},
	}
}

// forwardToLeader sends a request that reached a follower to the leader.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request) {
	if by := r.Header.Get(headerForwardedBy); by != "" && callerOf(r).Via != "" {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable,
			"manager %s forwarded this request here as to the leader, but this manager is not the leader (leadership is moving); retry", by))
		return
	}
	_, addr := s.raft.Leader()
	if addr == "" {
		s.writeError(w, r, errNoLeader)
		return
	}
	if s.cfg.Forwarder == nil {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "this manager is not the leader and cannot forward writes; run the command against the leader at %s", addr))
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), leaderAddrKey{}, addr))
	s.forward.ServeHTTP(w, r)
}

// waitForIndex returns once the store has applied index, or ctx ends.
func (s *Server) waitForIndex(ctx context.Context, index uint64) error {
	for {
		// Events hands back the channel closed at the next apply even
		// when the log no longer reaches back to since (ErrCompacted);
		// only the channel matters here.
		_, changed, _ := s.store.Events(s.store.LastIndex())
		if s.store.LastIndex() >= index {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setIndex records the log index a write committed at.
func setIndex(w http.ResponseWriter, index uint64) {
	w.Header().Set(headerIndex, strconv.FormatUint(index, 10))
}
