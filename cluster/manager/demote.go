package manager

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// Demoted is closed once this manager's own replica shows the node demoted
// to worker (`docker node demote`). The leader then removes it from Raft;
// the caller shuts the manager down and carries on with BecomeWorker.
func (m *Manager) Demoted() <-chan struct{} { return m.demoted }

// watchDemotion closes m.demoted when the store, having listed this node
// as a manager, lists it as a worker; or ctx ends first.
func (m *Manager) watchDemotion(ctx context.Context) {
	// Only a change counts: a manager that just started or was just
	// promoted may replay, from its log, the days it was a worker.
	seenManager := false
	since := uint64(0)
	for {
		role, ok := m.ownRole()
		seenManager = seenManager || (ok && role == swarm.NodeRoleManager)
		if seenManager && ok && role != swarm.NodeRoleManager {
			close(m.demoted)
			return
		}
		_, changed, _ := m.store.Events(since)
		since = m.store.LastIndex()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (m *Manager) ownRole() (swarm.NodeRole, bool) {
	var role swarm.NodeRole
	found := false
	_ = m.store.View(func(tx store.ReadTx) error {
		if n, err := tx.Node(m.identity.NodeID); err == nil {
			role, found = n.Spec.Role, true
		}
		return nil
	})
	return role, found
}

// managerAddrs lists where the cluster's managers listen, as this
// manager's replica knows them.
func (m *Manager) managerAddrs() []string {
	var addrs []string
	_ = m.store.View(func(tx store.ReadTx) error {
		nodes, err := tx.Nodes()
		for _, n := range nodes {
			if n.ID != m.identity.NodeID && n.Spec.Role == swarm.NodeRoleManager && n.ManagerStatus != nil {
				addrs = append(addrs, n.ManagerStatus.Addr)
			}
		}
		return err
	})
	return addrs
}

// BecomeWorker turns a demoted manager's data directory into a worker's,
// after Shutdown: the node forgets the keys only managers hold (the CA key
// and the cluster key) and its Raft state, and remembers the managers to
// check in with. Its certificate still names it a manager until it
// expires, but the managers go by the node's role in the store, not by the
// certificate.
func (m *Manager) BecomeWorker() error {
	managers := m.managerAddrs()
	for _, addr := range m.identity.Managers {
		if !slices.Contains(managers, addr) {
			managers = append(managers, addr)
		}
	}
	if len(managers) == 0 {
		return fmt.Errorf("become a worker: this node knows no other manager to check in with")
	}
	for _, path := range []string{m.dir.Certs().CAKeyFile(), m.dir.ClusterKeyFile()} {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("become a worker: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(m.dir.Dir, "raft")); err != nil {
		return fmt.Errorf("become a worker: %w", err)
	}
	id := m.identity
	id.Role = ca.RoleWorker
	id.Managers = managers
	return m.dir.SaveIdentity(id)
}
