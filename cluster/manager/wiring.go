package manager

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/raftnode"
)

// raftAdapter shows the Raft node to the API server. Raft server IDs are
// node IDs and a manager's Raft address is also its API address (one port),
// so both pass through unchanged.
type raftAdapter struct{ n *raftnode.Node }

func (a raftAdapter) Propose(ctx context.Context, data []byte) (uint64, error) {
	return a.n.Propose(ctx, data)
}

func (a raftAdapter) IsLeader() bool { return a.n.IsLeader() }

func (a raftAdapter) Leader() (id, addr string) { return a.n.Leader() }

func (a raftAdapter) Servers() ([]apiserver.RaftServer, error) {
	servers, err := a.n.Servers()
	if err != nil {
		return nil, err
	}
	out := make([]apiserver.RaftServer, len(servers))
	for i, s := range servers {
		out[i] = apiserver.RaftServer{ID: s.ID, Address: s.Address, Suffrage: s.Suffrage, Reachability: s.Reachability}
	}
	return out, nil
}

func (a raftAdapter) Stats() apiserver.RaftStats {
	s := a.n.Stats()
	return apiserver.RaftStats{
		State:             s.State,
		Term:              s.Term,
		CommitIndex:       s.CommitIndex,
		AppliedIndex:      s.AppliedIndex,
		LastLogIndex:      s.LastLogIndex,
		LastSnapshotIndex: s.LastSnapshotIndex,
		LastContact:       s.LastContact,
	}
}

// newHTTPServer builds the manager's HTTPS server: the Engine API, plus the
// routes of the nodes (a new manager's request to become a voter, a
// worker's check-in and promotion, the agents' dispatcher sessions), and
// the join protocol served on connections that negotiated it.
func (m *Manager) newHTTPServer() *http.Server {
	engine := apiserver.New(apiserver.Config{
		NodeID:    m.identity.NodeID,
		Store:     m.store,
		Raft:      raftAdapter{m.raft},
		Forwarder: &http.Transport{TLSClientConfig: m.PeerTLS()},
		Sealer:    m.sealer,
		Joiner:    m,
		Logs:      agentLogs{tlsConf: m.PeerTLS(), agentAddr: m.AgentAddr},
		GitOps:    gitopsRoutes{active: &m.gitops},
		Now:       m.cfg.Now,
		Logger:    m.cfg.logger().With("component", "api"),
		Version:   apiserver.VersionInfo{Version: Version},
	})
	m.engine = engine
	mux := http.NewServeMux()
	mux.Handle(membersPath, m.nodeHandler(m.heard(m.addMember)))
	mux.Handle(promotePath, m.nodeHandler(m.heard(m.promote)))
	for _, path := range dispatchRoutes {
		mux.Handle(path, m.dispatchHandler())
	}
	mux.Handle(api.NodeLogsPath, m.agent.serve(api.NodeLogsPath))
	mux.Handle("/", engine.Handler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){
			ca.JoinALPN: engine.ServeJoinConn,
		},
	}
}
