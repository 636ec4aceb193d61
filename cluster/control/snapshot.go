package control

import (
	"errors"
	"fmt"
	"math"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
)

// Snapshot is what the planners read: one consistent view of the store.
// Its objects are shared with the store; planners copy before changing.
type Snapshot struct {
	// Index is the log index the snapshot reflects.
	Index uint64
	// Cluster is the cluster record; nil before the cluster is initialised.
	Cluster  *api.Cluster
	Nodes    []*swarm.Node
	Services []*swarm.Service
	Tasks    []*swarm.Task
}

// ReadSnapshot reads a snapshot within tx.
func ReadSnapshot(tx store.ReadTx) (*Snapshot, error) {
	snap := &Snapshot{Index: tx.Index()}
	var err error
	snap.Cluster, err = tx.Cluster()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if snap.Nodes, err = tx.Nodes(); err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if snap.Services, err = tx.Services(); err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if snap.Tasks, err = tx.Tasks(); err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	return snap, nil
}

// Read reads a snapshot of st.
func Read(st *store.Store) (*Snapshot, error) {
	var snap *Snapshot
	err := st.View(func(tx store.ReadTx) error {
		var err error
		snap, err = ReadSnapshot(tx)
		return err
	})
	return snap, err
}

// historyLimit is the cluster's task history retention limit in the
// orchestrator's terms. Swarm's 0 deletes every dead task, including the
// one that shows a slot's restart policy gave up; keeping one task a slot
// keeps that record, so 0 is read as 1.
func (s *Snapshot) historyLimit() int {
	if s.Cluster == nil || s.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit == nil {
		return orchestrator.DefaultHistoryLimit
	}
	switch l := *s.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit; {
	case l < 0:
		return -1
	case l == 0:
		return 1
	default:
		return int(l)
	}
}

// index holds the lookups several planners need, built once per snapshot.
type index struct {
	nodes    map[string]*swarm.Node
	services map[string]*swarm.Service
}

func (s *Snapshot) index() index {
	ix := index{
		nodes:    make(map[string]*swarm.Node, len(s.Nodes)),
		services: make(map[string]*swarm.Service, len(s.Services)),
	}
	for _, n := range s.Nodes {
		ix.nodes[n.ID] = n
	}
	for _, sv := range s.Services {
		ix.services[sv.ID] = sv
	}
	return ix
}

// rank is a state's place in Swarm's order of task states, along which a
// task's states only move; an unknown state ranks past every known one, so
// a task in it is left alone as if it were dead.
func rank(s swarm.TaskState) int {
	if r, ok := api.TaskStateRank(s); ok {
		return r
	}
	return math.MaxInt
}

func between(s, lo, hi swarm.TaskState) bool {
	r := rank(s)
	return r >= rank(lo) && r <= rank(hi)
}
