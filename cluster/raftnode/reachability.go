package raftnode

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Reachability of a member, with the values Docker uses for a manager's
// ManagerStatus.Reachability.
const (
	ReachabilityUnknown     = "unknown"
	ReachabilityReachable   = "reachable"
	ReachabilityUnreachable = "unreachable"
)

// reachability remembers which peers the leader's heartbeats currently
// fail to reach. Only a leader heartbeats everyone, so only a leader's
// view is complete; it starts afresh with every change of leader.
type reachability struct {
	mu   sync.Mutex
	down map[string]time.Time // peer ID -> last contact before the failures
}

// observer records observations inside raft's filter callback: that runs
// synchronously and cannot drop an event, where a channel observer either
// drops when full or blocks raft's heartbeats.
func (rc *reachability) observer() *raft.Observer {
	rc.down = make(map[string]time.Time)
	return raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		switch d := o.Data.(type) {
		case raft.FailedHeartbeatObservation:
			rc.down[string(d.PeerID)] = d.LastContact
		case raft.ResumedHeartbeatObservation:
			delete(rc.down, string(d.PeerID))
		case raft.LeaderObservation:
			clear(rc.down)
		}
		return false
	})
}

func (rc *reachability) failing(id string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.down[id]
	return ok
}

// reachabilityOf judges one member from this node's seat: a leader knows
// every peer from its heartbeats; a follower knows itself and whether the
// leader is still talking to it, and nothing of the others.
func (n *Node) reachabilityOf(id string, leading bool, leaderID string) string {
	switch {
	case id == n.id:
		return ReachabilityReachable
	case leading:
		if n.reach.failing(id) {
			return ReachabilityUnreachable
		}
		return ReachabilityReachable
	case id == leaderID:
		if last := n.raft.LastContact(); !last.IsZero() && time.Since(last) < 2*n.heartbeatTimeout {
			return ReachabilityReachable
		}
		return ReachabilityUnreachable
	}
	return ReachabilityUnknown
}
