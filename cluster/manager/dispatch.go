package manager

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/control"
	"github.com/swarmops/swarmops/cluster/dispatcher"
	"github.com/swarmops/swarmops/cluster/raftnode"
	"github.com/swarmops/swarmops/cluster/store"
)

// dispatchRoutes are the routes of the agents' sessions, served by every
// manager: the leader's dispatcher answers, the others redirect.
var dispatchRoutes = []string{api.SessionPath, api.AssignmentsPath, api.StatusPath}

// activeDispatcher is the dispatcher of the term this manager leads, with
// its routes.
type activeDispatcher struct {
	d       *dispatcher.Dispatcher
	handler http.Handler
}

// runDispatcher runs a dispatcher for every term this manager leads, from
// the moment its store holds what earlier terms committed until the term
// ends. It ends with ctx.
func (m *Manager) runDispatcher(ctx context.Context) {
	log := m.cfg.logger().With("component", "dispatcher")
	m.eachTerm(ctx, log, "dispatcher", func(lctx context.Context) {
		d, err := dispatcher.New(dispatcher.Config{
			Store:           m.store,
			Propose:         m.raft.Propose,
			Open:            m.sealer.Open,
			Now:             m.cfg.now,
			HeartbeatPeriod: m.cfg.HeartbeatPeriod,
			Managers:        m.managerAPIAddrs,
			Logger:          log,
		})
		if err != nil {
			log.Error("no dispatcher this term", "err", err)
			return
		}
		// The term's loops end together, also if the dispatcher stops
		// first.
		lctx, cancel := context.WithCancel(lctx)
		defer cancel()
		active := &activeDispatcher{d: d, handler: d.Handler()}
		m.dispatcher.Store(active)
		log.Info("dispatcher started", "heartbeat_period", d.HeartbeatPeriod().String())
		var wg sync.WaitGroup
		wg.Go(func() { m.beatManagers(lctx, d) })
		// The control loop runs the orchestrator and the scheduler over
		// the store this term; the dispatcher hands out what they decide.
		wg.Go(func() {
			control.Run(lctx, control.Config{
				Store:   m.store,
				Propose: m.raft.Propose,
				Barrier: m.raft.Barrier,
				Now:     m.cfg.now,
				Logger:  m.cfg.logger().With("component", "control"),
			})
		})
		d.Run(lctx)
		m.dispatcher.CompareAndSwap(active, nil)
		cancel()
		wg.Wait()
		log.Info("dispatcher stopped: leadership ended")
	})
}

// dispatchHandler serves dispatchRoutes: to nodes only, on the leader by
// its dispatcher; a follower (or a leader whose dispatcher is not up yet)
// answers 503 naming the leader, where the agent registers instead — not
// proxied, since the session belongs to the node the certificate names.
func (m *Manager) dispatchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			replyJSON(w, http.StatusUnauthorized, "a node certificate is required")
			return
		}
		if _, role, err := ca.PeerIdentity(*r.TLS); err != nil || (role != ca.RoleWorker && role != ca.RoleManager) {
			replyJSON(w, http.StatusForbidden, "a node certificate is required")
			return
		}
		active := m.dispatcher.Load()
		if active == nil || !m.raft.IsLeader() {
			leaderID, addr := m.raft.Leader()
			switch {
			case leaderID == m.identity.NodeID:
				replyJSON(w, http.StatusServiceUnavailable, "this manager leads but its dispatcher is starting; try again")
			case addr == "":
				replyJSON(w, http.StatusServiceUnavailable, "no leader is known; the managers are electing one")
			default:
				w.Header().Set(api.HeaderLeader, addr)
				replyJSON(w, http.StatusServiceUnavailable, "not the leader; ask "+addr)
			}
			return
		}
		active.handler.ServeHTTP(w, r)
	})
}

// AgentAddr is where the agent of node nodeID serves api.NodeLogsPath, as
// its session with this manager's dispatcher says. Only the leader has
// sessions: elsewhere, or for a node without one, ok is false.
func (m *Manager) AgentAddr(nodeID string) (addr string, ok bool) {
	active := m.dispatcher.Load()
	if active == nil || !m.raft.IsLeader() {
		return "", false
	}
	return active.d.AgentAddr(nodeID)
}

// managerAPIAddrs lists the API addresses of every manager (this one
// included), for agents to fail over to.
func (m *Manager) managerAPIAddrs() []string {
	var addrs []string
	_ = m.store.View(func(tx store.ReadTx) error {
		nodes, err := tx.Nodes()
		for _, n := range nodes {
			if n.Spec.Role == swarm.NodeRoleManager && n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
				addrs = append(addrs, n.ManagerStatus.Addr)
			}
		}
		return err
	})
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

// Nodes that show they are alive other than through an agent session. A
// manager runs its agent in its own process, so a manager Raft reaches
// and that has no session (its agent is still registering, or the
// manager runs without one, as in the package's tests) counts as heard
// from, and is ready; a node with a session is judged by its agent alone.
// A call to a manager's own node routes (promotion, becoming a voter)
// counts too.

// beatManagers counts every manager Raft reaches, and that has no agent
// session, as heard from, twice a heartbeat period, and marks it ready if
// the store shows it otherwise; until ctx ends.
func (m *Manager) beatManagers(ctx context.Context, d *dispatcher.Dispatcher) {
	log := m.cfg.logger().With("component", "dispatcher")
	tick := time.NewTicker(max(d.HeartbeatPeriod()/2, time.Millisecond))
	defer tick.Stop()
	for {
		servers, err := m.raft.Servers()
		if err == nil {
			for _, s := range servers {
				if d.InSession(s.ID) || s.Reachability != raftnode.ReachabilityReachable {
					continue
				}
				d.Beat(s.ID)
				if state, _ := m.nodeState(s.ID); state != "" && state != swarm.NodeStateReady {
					if err := m.markReady(ctx, s.ID); err != nil && ctx.Err() == nil {
						log.Warn("mark a reachable manager ready", "node", s.ID, "err", err)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// nodeState is the node's state in this manager's replica; "" when the
// store has no such node.
func (m *Manager) nodeState(nodeID string) (swarm.NodeState, error) {
	var state swarm.NodeState
	err := m.store.View(func(tx store.ReadTx) error {
		n, err := tx.Node(nodeID)
		if err == nil {
			state = n.Status.State
		}
		return err
	})
	return state, err
}

// heard makes a node route a heartbeat too: the leader's dispatcher counts
// the caller as heard from before the route serves it.
func (m *Manager) heard(serve func(w http.ResponseWriter, r *http.Request, node *swarm.Node, role ca.Role)) func(w http.ResponseWriter, r *http.Request, node *swarm.Node, role ca.Role) {
	return func(w http.ResponseWriter, r *http.Request, node *swarm.Node, role ca.Role) {
		if active := m.dispatcher.Load(); active != nil {
			active.d.Beat(node.ID)
		}
		serve(w, r, node, role)
	}
}
