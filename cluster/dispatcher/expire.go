package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// Expire judges every node's heartbeats at now, and commits what it finds
// in one Raft entry: a node not down whose last call is more than
// HeartbeatPeriod × GraceMultiplier before now is marked down
// ("heartbeat failure") and its session ends, so that it registers again
// when it is back; a node with a live session that the store shows other
// than ready (an older write landing late) is marked ready again. A node
// Expire has not seen before counts as heard from now. It returns the IDs
// of the nodes it marked down.
func (d *Dispatcher) Expire(ctx context.Context, now time.Time) ([]string, error) {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	var nodes []*swarm.Node
	if err := d.cfg.Store.View(func(tx store.ReadTx) error {
		var err error
		nodes, err = tx.Nodes()
		return err
	}); err != nil {
		return nil, fmt.Errorf("expire heartbeats: %w", err)
	}
	deadline := now.Add(-d.cfg.HeartbeatPeriod * time.Duration(d.cfg.GraceMultiplier))
	var muts []store.Mutation
	var down []string
	silence := map[string]time.Duration{}
	d.mu.Lock()
	present := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		present[n.ID] = true
		last, ok := d.seen[n.ID]
		if !ok {
			d.seen[n.ID] = now
			continue
		}
		_, live := d.byNode[n.ID]
		switch {
		case n.Status.State != swarm.NodeStateDown && last.Before(deadline):
			if s, ok := d.byNode[n.ID]; ok {
				delete(d.sessions, s.id)
				delete(d.byNode, n.ID)
			}
			next := *n
			next.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: HeartbeatFailure, Addr: n.Status.Addr}
			muts = append(muts, store.Update(&next, n.Version.Index))
			down = append(down, n.ID)
			silence[n.ID] = now.Sub(last)
		case live && n.Status.State != swarm.NodeStateReady && !last.Before(deadline):
			next := *n
			next.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: n.Status.Addr}
			muts = append(muts, store.Update(&next, n.Version.Index))
		}
	}
	// Forget the nodes the cluster removed.
	for id := range d.seen {
		if !present[id] {
			delete(d.seen, id)
			if s, ok := d.byNode[id]; ok {
				delete(d.sessions, s.id)
				delete(d.byNode, id)
			}
		}
	}
	d.mu.Unlock()
	if len(muts) == 0 {
		return nil, nil
	}
	data, err := store.EncodeBatch(muts...)
	if err == nil {
		_, err = d.cfg.Propose(ctx, data)
	}
	if err != nil {
		// The sessions are gone already; the next check writes again.
		return nil, fmt.Errorf("expire heartbeats: mark %d nodes: %w", len(muts), err)
	}
	for _, id := range down {
		d.log.Warn("node down: heartbeat failure", "node", id, "silent_for", silence[id].String())
	}
	return down, nil
}
