package manager

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
)

// AgentEnv is what a node's agent needs of the node it runs on: who the
// node is, where the managers are, its certificate, and the node's
// listener to serve its own routes on.
type AgentEnv struct {
	NodeID   string
	Hostname string
	// Addr is where the node's listener serves what Handle mounts.
	Addr string
	// Managers are API addresses of managers to open the session with.
	Managers []string
	// TLS presents the node's certificate to the managers.
	TLS  *tls.Config
	Role swarm.NodeRole
	// OnRole is for the agent to call when the cluster gave the node
	// another role; the node then stops the agent and changes role.
	OnRole func(swarm.NodeRole)
	// Handle mounts h at path on the node's listener. Requests reach h
	// only from managers (their certificates checked).
	Handle func(path string, h http.Handler)
}

// Agent runs a node's agent until ctx ends. cmd wires the agent package
// in, so the cluster packages stay free of runtimes.
type Agent func(ctx context.Context, env AgentEnv) error

// agentRoutes holds the routes an agent mounted on its node's listener;
// the listener exists before the agent does, and a promoted or demoted
// node's agent mounts them again.
type agentRoutes struct {
	mu     sync.RWMutex
	routes map[string]http.Handler
}

func (a *agentRoutes) handle(path string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.routes == nil {
		a.routes = map[string]http.Handler{}
	}
	a.routes[path] = h
}

// serve answers path with what the agent mounted there, for managers only.
func (a *agentRoutes) serve(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			replyJSON(w, http.StatusUnauthorized, "a manager certificate is required")
			return
		}
		if _, err := ca.Authorize(*r.TLS, ca.RoleManager); err != nil {
			replyJSON(w, http.StatusForbidden, "only managers may ask a node's agent: "+err.Error())
			return
		}
		a.mu.RLock()
		h := a.routes[path]
		a.mu.RUnlock()
		if h == nil {
			replyJSON(w, http.StatusServiceUnavailable, "this node's agent is not running")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// runAgent runs the manager's own agent, as every Swarm manager is also a
// worker, until ctx ends.
func (m *Manager) runAgent(ctx context.Context) {
	if m.cfg.Agent == nil {
		return
	}
	log := m.cfg.logger().With("component", "agent")
	env := AgentEnv{
		NodeID:   m.identity.NodeID,
		Hostname: m.identity.Hostname,
		Addr:     m.identity.Advertise,
		Managers: []string{m.identity.Advertise},
		TLS:      m.PeerTLS(),
		Role:     swarm.NodeRoleManager,
		// A demotion is watchDemotion's to act on; the agent carries on
		// until the manager stops.
		OnRole: func(swarm.NodeRole) {},
		Handle: m.agent.handle,
	}
	if err := m.cfg.Agent(ctx, env); err != nil && ctx.Err() == nil {
		log.Error("the node's agent stopped; this manager runs no tasks", "err", err)
	}
}
