package apiserver

import (
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Status is GET /swarmops/v1/status: how this manager sees the Raft group.
type Status struct {
	// NodeID is the manager that answered.
	NodeID   string `json:"node_id"`
	IsLeader bool   `json:"is_leader"`
	LeaderID string `json:"leader_id,omitempty"`
	// LeaderAddr is empty when no leader is known (no quorum).
	LeaderAddr string         `json:"leader_addr,omitempty"`
	Raft       RaftStats      `json:"raft"`
	Servers    []StatusServer `json:"servers"`
	// StoreIndex is the last log index this manager's store applied.
	StoreIndex uint64 `json:"store_index"`
	// Error says why the Raft configuration could not be read, if so.
	Error string `json:"error,omitempty"`
}

// StatusServer is one Raft member in Status.
type StatusServer struct {
	ID           string `json:"id"`
	Address      string `json:"address"`
	Suffrage     string `json:"suffrage"`
	Reachability string `json:"reachability"`
	Leader       bool   `json:"leader,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	out := Status{NodeID: s.cfg.NodeID, IsLeader: s.raft.IsLeader(), Raft: s.raft.Stats(), Servers: []StatusServer{}}
	out.LeaderID, out.LeaderAddr = s.raft.Leader()
	servers, err := s.raft.Servers()
	if err != nil {
		out.Error = err.Error()
	}
	for _, srv := range servers {
		out.Servers = append(out.Servers, StatusServer{
			ID: srv.ID, Address: srv.Address, Suffrage: srv.Suffrage,
			Reachability: string(reachability(srv)), Leader: srv.ID == out.LeaderID,
		})
	}
	out.StoreIndex = s.store.LastIndex()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listStacks(w http.ResponseWriter, r *http.Request) error {
	out := []api.Stack{}
	err := s.view(func(tx store.ReadTx) error {
		stacks, err := tx.Stacks()
		for _, st := range stacks {
			out = append(out, *st)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) inspectStack(w http.ResponseWriter, r *http.Request) error {
	var out api.Stack
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableStacks, "stack", r.PathValue("name"))
		if err != nil {
			return err
		}
		st, err := tx.Stack(id)
		if err != nil {
			return err
		}
		out = *st
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// JoinRequest is what a joining node sends to POST /swarmops/v1/join over
// a join connection (TLS pinned to the CA digest in its token, no client
// certificate yet).
type JoinRequest struct {
	// Token is the worker or manager join token; which one it matches
	// decides the role.
	Token string `json:"token"`
	// CSR is the node's certificate signing request, PEM-encoded; its
	// private key never leaves the node.
	CSR string `json:"csr"`
	// Advertise is the host:port the node is reached at (for a manager,
	// its Raft and API address).
	Advertise string          `json:"advertise"`
	Hostname  string          `json:"hostname"`
	Platform  swarm.Platform  `json:"platform"`
	Resources swarm.Resources `json:"resources"`
	// EngineVersion is the node's runtime version, shown by `docker node
	// ls`.
	EngineVersion string `json:"engine_version,omitempty"`
}

// JoinResponse admits the node.
type JoinResponse struct {
	NodeID string `json:"node_id"`
	// Role is "worker" or "manager".
	Role swarm.NodeRole `json:"role"`
	// Certificate is the node's signed certificate, PEM-encoded.
	Certificate string `json:"certificate"`
	// CACert is the cluster's root certificate, PEM-encoded.
	CACert string `json:"ca_cert"`
	// Manager carries what a new manager needs beyond its certificate;
	// the manager package defines it.
	Manager []byte `json:"manager,omitempty"`
}

// joinNode hands a join to the Joiner. It is reached over join
// connections only (or forwarded from a follower that received one).
func (s *Server) joinNode(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Joiner == nil {
		return errorf(http.StatusNotImplemented, "this manager does not admit nodes")
	}
	var req JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return badRequest("a join token is required")
	}
	if req.CSR == "" {
		return badRequest("a certificate signing request (csr) is required")
	}
	resp, err := s.cfg.Joiner.Join(r.Context(), req)
	if err != nil {
		return err
	}
	s.log.Info("node joined", "node", resp.NodeID, "role", string(resp.Role), "hostname", req.Hostname, "advertise", req.Advertise, "via", callerOf(r).Via)
	writeJSON(w, http.StatusOK, resp)
	return nil
}
