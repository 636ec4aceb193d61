package apiserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// Headers a follower sets when it forwards a request to the leader. The
// leader believes them only from a peer presenting a manager certificate;
// from anyone else they are ignored.
const (
	// headerCaller carries the original caller: "<role> <node ID>", or
	// "join" for a join connection.
	headerCaller = "Swarmops-Caller"
	// headerForwardedBy names the manager that forwarded the request; a
	// manager that is not the leader either refuses a request carrying it
	// rather than forwarding it again (leadership moved meanwhile).
	headerForwardedBy = "Swarmops-Forwarded-By"
	// headerIndex is set on every successful write: the log index of the
	// entry it committed. A forwarding follower waits for its own store to
	// reach it, so a client reading back from that follower sees its write.
	headerIndex = "Swarmops-Index"
)

// Caller is who sent a request, from the verified client certificate (or,
// for a forwarded request, from the forwarding manager's word).
type Caller struct {
	NodeID string
	Role   ca.Role
	// Join marks a join connection: a node with no certificate yet.
	Join bool
	// Via is the manager that forwarded the request, if any.
	Via string
}

func (c Caller) header() string {
	if c.Join {
		return "join"
	}
	return string(c.Role) + " " + c.NodeID
}

func parseCallerHeader(v string) (Caller, bool) {
	if v == "join" {
		return Caller{Join: true}, true
	}
	role, id, ok := strings.Cut(v, " ")
	if !ok || id == "" || strings.ContainsAny(id, " \t") || !ca.Role(role).Valid() {
		return Caller{}, false
	}
	return Caller{NodeID: id, Role: ca.Role(role)}, true
}

// callerOf returns the caller wrap recorded for the request.
func callerOf(r *http.Request) Caller {
	c, _ := CallerFromContext(r.Context())
	return c
}

// CallerFromContext returns who sent the request a context belongs to,
// for callbacks such as the Joiner that record who did what.
func CallerFromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey).(Caller)
	return c, ok
}

// authenticate learns who is calling from the TLS connection. The TLS
// layer (ca.ServerConfig) has already verified the chain against the
// cluster root, or accepted a join connection without a certificate.
func (s *Server) authenticate(r *http.Request) (Caller, error) {
	if r.TLS == nil {
		return Caller{}, errorf(http.StatusUnauthorized, "the swarmops API is served over TLS with client certificates only")
	}
	if ca.IsJoin(*r.TLS) {
		return Caller{Join: true}, nil
	}
	if _, err := ca.Authorize(*r.TLS, ca.RoleManager, ca.RoleClient); err != nil {
		if errors.Is(err, ca.ErrForbidden) {
			return Caller{}, errorf(http.StatusForbidden, "%s", notManagerMessage)
		}
		return Caller{}, errorf(http.StatusUnauthorized, "a client certificate issued by the cluster CA is required (see \"swarmops env\"): %v", err)
	}
	id, role, err := ca.PeerIdentity(*r.TLS)
	if err != nil {
		return Caller{}, errorf(http.StatusUnauthorized, "client certificate: %v", err)
	}
	c := Caller{NodeID: id, Role: role}
	if role == ca.RoleManager {
		// A manager certificate outlives a demotion or a removal (until it
		// expires); what the node is now decides, not what it was.
		if !s.isManager(id) {
			return Caller{}, errorf(http.StatusForbidden, "%s", notManagerMessage)
		}
		if v := r.Header.Get(headerCaller); v != "" {
			fwd, ok := parseCallerHeader(v)
			if !ok {
				return Caller{}, badRequest("malformed %s header %q", headerCaller, v)
			}
			if fwd.Role == ca.RoleWorker {
				return Caller{}, errorf(http.StatusForbidden, "%s", notManagerMessage)
			}
			fwd.Via = id
			return fwd, nil
		}
	}
	return c, nil
}

// authorize decides whether the caller may use the route: join
// connections reach the join route and nothing else; the join route takes
// nothing but joins; workers never get past authenticate.
func authorize(rt route, c Caller) error {
	switch {
	case c.Join && !rt.join:
		return errorf(http.StatusForbidden, "a join connection may only call POST /swarmops/v1/join; use the certificate the join returned for anything else")
	case rt.join && !c.Join:
		return errorf(http.StatusForbidden, "POST /swarmops/v1/join is for nodes joining with a token (swarmops join), over a join connection")
	}
	return nil
}

// isManager reports whether the store lists the node as a manager.
func (s *Server) isManager(nodeID string) bool {
	manager := false
	_ = s.store.View(func(tx store.ReadTx) error {
		if n, err := tx.Node(nodeID); err == nil {
			manager = n.Spec.Role == swarm.NodeRoleManager
		}
		return nil
	})
	return manager
}
