package manager

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/raftnode"
	"github.com/swarmops/swarmops/cluster/store"
)

// planMembership decides which Raft servers no longer belong: those whose
// node was removed from the cluster or demoted to worker. self is never
// removed here — a leader that is demoted hands leadership over first
// (see reconcileMembership). Promotions are not planned: a node becomes a
// voter by asking once it runs a manager (membersPath), because adding a
// voter that does not answer would cost the quorum.
func planMembership(nodes []*swarm.Node, servers []raftnode.Server, self string) (remove []string) {
	role := make(map[string]swarm.NodeRole, len(nodes))
	for _, n := range nodes {
		role[n.ID] = n.Spec.Role
	}
	for _, s := range servers {
		if s.ID == self {
			continue
		}
		if r, ok := role[s.ID]; !ok || r != swarm.NodeRoleManager {
			remove = append(remove, s.ID)
		}
	}
	slices.Sort(remove)
	return remove
}

// runMembership keeps the Raft configuration equal to the managers the
// store lists, while this node leads. It ends with ctx.
func (m *Manager) runMembership(ctx context.Context) {
	log := m.cfg.logger().With("component", "membership")
	m.eachTerm(ctx, log, "membership", func(lctx context.Context) { m.followNodes(lctx, log) })
}

// eachTerm runs lead for every term this manager leads, with a context
// that ends with the term (or ctx), once the store holds everything
// earlier terms committed: a new leader's store may not hold it yet
// (after a restart it replays the log only once this term commits), and
// judged against it every other voter, node and task would look unknown.
// A term whose barrier fails is skipped, logged as what (membership,
// dispatcher) leaves alone. eachTerm returns when ctx ends.
func (m *Manager) eachTerm(ctx context.Context, log *slog.Logger, what string, lead func(lctx context.Context)) {
	for leading := range m.raft.WatchLeadership(ctx) {
		if !leading {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			// Leadership lost: stop acting on this term's view.
			for l := range m.raft.WatchLeadership(lctx) {
				if !l {
					cancel()
					return
				}
			}
		}()
		if err := m.raft.Barrier(lctx); err != nil {
			log.Warn("leading, but the store did not catch up with the log; nothing done this term", "for", what, "err", err)
			cancel()
			continue
		}
		lead(lctx)
		cancel()
	}
}

// followNodes reconciles now and after every change to the nodes table,
// until ctx ends.
func (m *Manager) followNodes(ctx context.Context, log *slog.Logger) {
	since := m.store.LastIndex()
	dirty := true
	for {
		if dirty {
			m.reconcileMembership(ctx, log)
		}
		events, changed, err := m.store.Events(since)
		dirty = errors.Is(err, store.ErrCompacted)
		if dirty {
			since = m.store.LastIndex()
		}
		for _, e := range events {
			since = max(since, e.Index)
			dirty = dirty || e.Table == store.TableNodes
		}
		if dirty {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (m *Manager) reconcileMembership(ctx context.Context, log *slog.Logger) {
	var nodes []*swarm.Node
	if err := m.store.View(func(tx store.ReadTx) error {
		var err error
		nodes, err = tx.Nodes()
		return err
	}); err != nil {
		log.Warn("read nodes", "err", err)
		return
	}
	servers, err := m.raft.Servers()
	if err != nil {
		log.Warn("read raft configuration", "err", err)
		return
	}
	for _, id := range planMembership(nodes, servers, m.identity.NodeID) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.raft.RemoveServer(rctx, id)
		cancel()
		if err != nil {
			log.Warn("remove raft member", "node", id, "err", err)
			continue
		}
		log.Info("removed raft member: the node was demoted or removed", "node", id)
	}
	// This leader itself demoted: hand leadership to another voter, whose
	// reconcile then removes this node.
	for _, n := range nodes {
		if n.ID == m.identity.NodeID && n.Spec.Role != swarm.NodeRoleManager && len(servers) > 1 {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := m.raft.TransferLeadership(tctx); err != nil {
				log.Warn("hand leadership over after demotion", "err", err)
			}
			cancel()
		}
	}
}
