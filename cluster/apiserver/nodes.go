package apiserver

import (
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// managerStatuses is the Raft membership as Docker shows it on nodes:
// like Swarm, it is read from Raft at request time, not stored.
func (s *Server) managerStatuses() (map[string]*swarm.ManagerStatus, []RaftServer) {
	servers, err := s.raft.Servers()
	if err != nil {
		s.log.Warn("reading the raft configuration", "err", err)
	}
	leaderID, _ := s.raft.Leader()
	out := make(map[string]*swarm.ManagerStatus, len(servers))
	for _, srv := range servers {
		out[srv.ID] = &swarm.ManagerStatus{
			Leader:       srv.ID == leaderID,
			Reachability: reachability(srv),
			Addr:         srv.Address,
		}
	}
	return out, servers
}

func reachability(srv RaftServer) swarm.Reachability {
	if srv.Reachability == "" {
		return swarm.ReachabilityReachable
	}
	return swarm.Reachability(srv.Reachability)
}

// nodeView is a stored node as the API shows it.
func nodeView(n *swarm.Node, statuses map[string]*swarm.ManagerStatus) swarm.Node {
	out := *n
	if out.Spec.Labels == nil {
		out.Spec.Labels = map[string]string{}
	}
	out.ManagerStatus = statuses[n.ID]
	return out
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "id", "name", "label", "role", "membership", "node.label")
	if err != nil {
		return err
	}
	var roles []swarm.NodeRole
	for _, v := range values(args, "role") {
		switch role := swarm.NodeRole(strings.ToLower(v)); role {
		case swarm.NodeRoleManager, swarm.NodeRoleWorker:
			roles = append(roles, role)
		default:
			if v != "" {
				return badRequest("Invalid role filter: '%s'", v)
			}
		}
	}
	memberships := values(args, "membership")
	for _, v := range memberships {
		if m := strings.ToLower(v); m != "accepted" && m != "pending" && v != "" {
			return badRequest("Invalid membership filter: '%s'", v)
		}
	}
	statuses, _ := s.managerStatuses()
	out := []swarm.Node{}
	err = s.view(func(tx store.ReadTx) error {
		nodes, err := tx.Nodes()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if !hasPrefix(n.ID, values(args, "id")) ||
				!hasPrefix(n.Description.Hostname, values(args, "name")) ||
				!matchLabels(n.Description.Engine.Labels, values(args, "label")) ||
				!matchLabels(n.Spec.Labels, values(args, "node.label")) {
				continue
			}
			if len(roles) > 0 && !containsRole(roles, n.Spec.Role) {
				continue
			}
			// Every node in the store has been accepted: a join admits
			// a node in one step, there is no pending state.
			if len(memberships) > 0 && !containsFold(memberships, "accepted") {
				continue
			}
			out = append(out, nodeView(n, statuses))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func containsRole(roles []swarm.NodeRole, r swarm.NodeRole) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (s *Server) inspectNode(w http.ResponseWriter, r *http.Request) error {
	statuses, _ := s.managerStatuses()
	var out swarm.Node
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableNodes, "node", r.PathValue("id"))
		if err != nil {
			return err
		}
		n, err := tx.Node(id)
		if err != nil {
			return err
		}
		out = nodeView(n, statuses)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateNode is `docker node update`, `promote` and `demote`: the spec
// (role, availability, labels) replaces the stored one. A role change
// only records the desired role; the manager's membership loop adds or
// removes the Raft voter. Demotion is refused when it would leave no
// manager or cost the Raft quorum, as Swarm refuses it.
func (s *Server) updateNode(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.NodeSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	version, err := queryVersion(r, "node")
	if err != nil {
		return err
	}
	spec.Role = swarm.NodeRole(strings.ToLower(string(spec.Role)))
	if spec.Role != swarm.NodeRoleManager && spec.Role != swarm.NodeRoleWorker {
		return badRequest("invalid Role: %q", spec.Role)
	}
	spec.Availability = swarm.NodeAvailability(strings.ToLower(string(spec.Availability)))
	switch spec.Availability {
	case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
	default:
		return badRequest("invalid Availability: %q", spec.Availability)
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, servers := s.managerStatuses()
	var next *swarm.Node
	err = s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableNodes, "node", r.PathValue("id"))
		if err != nil {
			return err
		}
		cur, err := tx.Node(id)
		if err != nil {
			return err
		}
		if cur.Spec.Role == swarm.NodeRoleManager && spec.Role == swarm.NodeRoleWorker {
			if err := checkDemotion(tx, cur, servers); err != nil {
				return err
			}
		}
		if next, err = store.Clone(cur); err != nil {
			return err
		}
		next.Spec = spec
		// The stored manager status holds the address a manager's Raft and
		// API listen on (what the API shows is computed from Raft); only a
		// demotion ends it.
		if spec.Role != swarm.NodeRoleManager {
			next.ManagerStatus = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, store.Update(next, version)); err != nil {
		return storeWriteError("node", next.ID, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkDemotion refuses to demote the last manager, or a voter whose
// removal leaves fewer reachable voters than a quorum of the rest.
func checkDemotion(tx store.ReadTx, n *swarm.Node, servers []RaftServer) error {
	nodes, err := tx.Nodes()
	if err != nil {
		return err
	}
	managers := 0
	for _, o := range nodes {
		if o.Spec.Role == swarm.NodeRoleManager {
			managers++
		}
	}
	if managers <= 1 {
		return failedPrecondition("attempting to demote the last manager of the swarm")
	}
	voters, reachable, member, memberReachable := 0, 0, false, false
	for _, srv := range servers {
		if srv.Suffrage != "" && srv.Suffrage != "voter" {
			continue
		}
		voters++
		up := reachability(srv) == swarm.ReachabilityReachable
		if up {
			reachable++
		}
		if srv.ID == n.ID {
			member, memberReachable = true, up
		}
	}
	if !member {
		return nil
	}
	if memberReachable {
		reachable--
	}
	if remaining := voters - 1; reachable < remaining/2+1 {
		return failedPrecondition("can't remove member from the raft: this would result in a loss of quorum")
	}
	return nil
}

// taskStateRank orders task states as Swarm does: states only move
// forward, and everything from "complete" on is terminal.
var taskStateRank = map[swarm.TaskState]int{
	swarm.TaskStateNew: 0, swarm.TaskStateAllocated: 1, swarm.TaskStatePending: 2, swarm.TaskStateAssigned: 3,
	swarm.TaskStateAccepted: 4, swarm.TaskStatePreparing: 5, swarm.TaskStateReady: 6, swarm.TaskStateStarting: 7,
	swarm.TaskStateRunning: 8, swarm.TaskStateComplete: 9, swarm.TaskStateShutdown: 10, swarm.TaskStateFailed: 11,
	swarm.TaskStateRejected: 12, swarm.TaskStateRemove: 13, swarm.TaskStateOrphaned: 14,
}

// removeNode is `docker node rm [--force]`. A node still in the Raft
// configuration must be demoted first; a ready node needs --force. Its
// tasks that had not finished become orphaned in the same commit, so the
// orchestrator replaces them and nothing waits on a node that is gone.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) error {
	force := boolValue(r.URL.Query().Get("force"))
	_, servers := s.managerStatuses()
	var muts []store.Mutation
	var nodeID string
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableNodes, "node", r.PathValue("id"))
		if err != nil {
			return err
		}
		nodeID = id
		n, err := tx.Node(id)
		if err != nil {
			return err
		}
		for _, srv := range servers {
			if srv.ID == id {
				return failedPrecondition("node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", id)
			}
		}
		if !force && n.Status.State == swarm.NodeStateReady {
			return failedPrecondition("node %s is not down and can't be removed", id)
		}
		tasks, err := tx.TasksByNode(id)
		if err != nil {
			return err
		}
		now := s.cfg.Now().UTC()
		for _, t := range tasks {
			if taskStateRank[t.Status.State] >= taskStateRank[swarm.TaskStateComplete] {
				continue
			}
			next, err := store.Clone(t)
			if err != nil {
				return err
			}
			next.Status = swarm.TaskStatus{Timestamp: now, State: swarm.TaskStateOrphaned, Message: "Task belonged to a node that has been deleted"}
			muts = append(muts, store.Update(next, t.Version.Index))
		}
		muts = append(muts, store.Delete(store.TableNodes, id, 0))
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, muts...); err != nil {
		return storeWriteError("node", nodeID, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// boolValue reads a flag parameter as the daemon does: anything but
// empty, "0", "no", "false" or "none" is true.
func boolValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}
