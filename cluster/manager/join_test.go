package manager

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/raftnode"
	"github.com/swarmops/swarmops/cluster/store"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func joinManager(t *testing.T, leader *Manager, name string) *Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, err := leader.JoinTokens()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir()}
	id, err := JoinCluster(ctx, JoinConfig{Config: cfg, Remote: leader.Identity().Advertise, Token: tokens.Manager, Advertise: freeAddr(t), Hostname: name})
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	if id.Role != ca.RoleManager {
		t.Fatalf("joined as %s, want manager", id.Role)
	}
	m, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	if err := m.JoinRaft(ctx, leader.Identity().Advertise); err != nil {
		t.Fatalf("join raft %s: %v", name, err)
	}
	return m
}

func voters(t *testing.T, m *Manager) []string {
	t.Helper()
	servers, err := m.Raft().Servers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestJoinManagersAndDemote(t *testing.T) {
	m1 := initManager(t, t.TempDir())
	m2 := joinManager(t, m1, "node-2")
	m3 := joinManager(t, m1, "node-3")
	waitFor(t, "three voters", func() bool { return len(voters(t, m1)) == 3 })

	// The joined managers are ready nodes and hold the cluster's keys: a
	// secret sealed on one opens on another.
	sealed, err := m1.Sealer().Seal([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := m3.Sealer().Open(sealed); err != nil || string(plain) != "pw" {
		t.Fatalf("m3 cannot open m1's sealed data: %q %v", plain, err)
	}
	waitFor(t, "node-2 ready on node-3's replica", func() bool {
		var n *swarm.Node
		m3.Store().View(func(tx store.ReadTx) error { n, _ = tx.Node(m2.Identity().NodeID); return nil })
		return n != nil && n.Status.State == swarm.NodeStateReady
	})

	// Demote node-2: the leader removes it from Raft.
	var node *swarm.Node
	m1.Store().View(func(tx store.ReadTx) error {
		n, err := tx.Node(m2.Identity().NodeID)
		if err == nil {
			node, err = store.Clone(n)
		}
		return err
	})
	version := node.Version.Index
	node.Spec.Role = swarm.NodeRoleWorker
	data, err := store.EncodeBatch(store.Update(node, version))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Propose(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node-2 removed from raft", func() bool {
		for _, id := range voters(t, m1) {
			if id == m2.Identity().NodeID {
				return false
			}
		}
		return true
	})

	// node-2 sees its demotion, stops managing and becomes a worker that
	// holds none of the managers' keys.
	select {
	case <-m2.Demoted():
	case <-time.After(30 * time.Second):
		t.Fatal("node-2 never saw its demotion")
	}
	if err := m2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m2.BecomeWorker(); err != nil {
		t.Fatal(err)
	}
	dir := DataDir{Dir: m2.Config().DataDir}
	id, err := dir.LoadIdentity()
	if err != nil || id.Role != ca.RoleWorker || len(id.Managers) != 2 {
		t.Fatalf("node-2's identity after demotion = %+v, %v; want a worker knowing the two managers", id, err)
	}
	for _, f := range []string{dir.Certs().CAKeyFile(), dir.ClusterKeyFile()} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("a demoted node still holds %s", f)
		}
	}
	if _, err := Open(m2.Config()); err == nil {
		t.Error("a demoted node's data directory still opens as a manager")
	}
}

func TestJoinRefusals(t *testing.T) {
	m1 := initManager(t, t.TempDir())
	other := initManager(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tokens, _ := m1.JoinTokens()
	otherTokens, _ := other.JoinTokens()

	join := func(token string) error {
		_, err := JoinCluster(ctx, JoinConfig{Config: Config{DataDir: t.TempDir()}, Remote: m1.Identity().Advertise, Token: token, Advertise: freeAddr(t), Hostname: "x"})
		return err
	}
	// A token from another cluster pins another CA: the manager is refused
	// before anything is sent.
	if err := join(otherTokens.Worker); !errors.Is(err, ca.ErrCAMismatch) {
		t.Errorf("join with another cluster's token: %v, want a CA mismatch", err)
	}
	// The right CA, a wrong secret.
	forged, err := ca.GenerateToken(m1.RootCA().Digest())
	if err != nil {
		t.Fatal(err)
	}
	if err := join(forged); err == nil {
		t.Error("join with a forged token succeeded")
	}
	// A rotated token stops working; the new one works.
	rotated, err := tokens.Rotate(ca.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m1.Cluster()
	c2, _ := store.Clone(c)
	c2.JoinTokens.Worker = rotated.Worker
	data, _ := store.EncodeBatch(store.Update(c2, c.Version.Index))
	if _, err := m1.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}
	if err := join(tokens.Worker); err == nil {
		t.Error("the rotated-out worker token still admits nodes")
	}
	if err := join(rotated.Worker); err != nil {
		t.Errorf("the new worker token is refused: %v", err)
	}
}

func TestPlanMembership(t *testing.T) {
	mgr := func(id string, role swarm.NodeRole) *swarm.Node {
		return &swarm.Node{ID: id, Spec: swarm.NodeSpec{Role: role}}
	}
	srv := func(ids ...string) []raftnode.Server {
		var out []raftnode.Server
		for _, id := range ids {
			out = append(out, raftnode.Server{ID: id, Suffrage: "voter"})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		nodes   []*swarm.Node
		servers []raftnode.Server
		want    []string
	}{
		{"all managers", []*swarm.Node{mgr("a", "manager"), mgr("b", "manager")}, srv("a", "b"), nil},
		{"demoted", []*swarm.Node{mgr("a", "manager"), mgr("b", "worker")}, srv("a", "b"), []string{"b"}},
		{"removed", []*swarm.Node{mgr("a", "manager")}, srv("a", "c", "b"), []string{"b", "c"}},
		{"self demoted is not removed by itself", []*swarm.Node{mgr("a", "worker")}, srv("a"), nil},
		{"promoted but not yet a voter", []*swarm.Node{mgr("a", "manager"), mgr("b", "manager")}, srv("a"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planMembership(tc.nodes, tc.servers, "a"); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("planMembership = %v, want %v", got, tc.want)
			}
		})
	}
}
