package manager

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	agentexec "github.com/swarmops/swarmops/agent/exec"
	"github.com/swarmops/swarmops/agent/worker"
	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

func nodeState(m *Manager, id string) (swarm.NodeState, swarm.NodeRole) {
	var n *swarm.Node
	m.Store().View(func(tx store.ReadTx) error { n, _ = tx.Node(id); return nil })
	if n == nil {
		return "", ""
	}
	return n.Status.State, n.Spec.Role
}

func TestWorkerIsReadyAndPromoted(t *testing.T) {
	m1 := initManager(t, t.TempDir())
	tokens, err := m1.JoinTokens()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := Config{DataDir: t.TempDir(), Agent: testAgent(t)}
	id, err := JoinCluster(ctx, JoinConfig{Config: cfg, Remote: m1.Identity().Advertise, Token: tokens.Worker, Advertise: freeAddr(t), Hostname: "worker-1"})
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != ca.RoleWorker {
		t.Fatalf("joined as %s, want worker", id.Role)
	}
	if state, _ := nodeState(m1, id.NodeID); state == swarm.NodeStateReady {
		t.Fatal("a worker is ready before its agent ever registered")
	}

	type result struct {
		m   *Manager
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := RunWorker(ctx, WorkerConfig{Config: cfg})
		done <- result{m, err}
	}()
	waitFor(t, "the worker to be ready", func() bool {
		state, _ := nodeState(m1, id.NodeID)
		return state == swarm.NodeStateReady
	})

	// docker node promote: the role changes in the store; the worker sees
	// it, takes a manager certificate and joins Raft.
	var node *swarm.Node
	m1.Store().View(func(tx store.ReadTx) error {
		n, err := tx.Node(id.NodeID)
		if err == nil {
			node, err = store.Clone(n)
		}
		return err
	})
	version := node.Version.Index
	node.Spec.Role = swarm.NodeRoleManager
	data, err := store.EncodeBatch(store.Update(node, version))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}
	var promoted *Manager
	select {
	case r := <-done:
		if r.err != nil || r.m == nil {
			t.Fatalf("RunWorker after promotion = %v, %v; want a running manager", r.m, r.err)
		}
		promoted = r.m
	case <-ctx.Done():
		t.Fatal("the worker never became a manager")
	}
	defer promoted.Shutdown(context.Background())
	if promoted.Identity().Role != ca.RoleManager || promoted.Identity().NodeID != id.NodeID {
		t.Errorf("promoted identity = %+v", promoted.Identity())
	}
	waitFor(t, "two voters", func() bool { return len(voters(t, m1)) == 2 })
	// Its store follows the leader's.
	waitFor(t, "the promoted manager's replica", func() bool {
		_, role := nodeState(promoted, id.NodeID)
		return role == swarm.NodeRoleManager
	})
}

func TestRunWorkerEndsWithItsContext(t *testing.T) {
	m1 := initManager(t, t.TempDir())
	tokens, _ := m1.JoinTokens()
	cfg := Config{DataDir: t.TempDir(), Agent: testAgent(t)}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := JoinCluster(ctx, JoinConfig{Config: cfg, Remote: m1.Identity().Advertise, Token: tokens.Worker, Advertise: freeAddr(t), Hostname: "w"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		m, err := RunWorker(ctx, WorkerConfig{Config: cfg})
		if m != nil {
			t.Error("RunWorker returned a manager without a promotion")
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunWorker = %v, want nil once its context ends", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunWorker did not return after its context ended")
	}
}

// testAgent is the agent the tests' nodes run: agent/worker with the exec
// runtime, its processes kept under a directory of the test.
func testAgent(t testing.TB) Agent {
	dir := t.TempDir()
	return func(ctx context.Context, env AgentEnv) error {
		rt := agentexec.New(filepath.Join(dir, env.NodeID), env.NodeID)
		a, err := worker.New(worker.Config{
			Managers:    env.Managers,
			TLS:         env.TLS,
			Description: swarm.NodeDescription{Hostname: env.Hostname},
			Addr:        env.Addr,
			Runtimes:    map[string]worker.Runtime{"exec": worker.Exec(rt)},
			Role:        env.Role,
			OnRole:      env.OnRole,
		})
		if err != nil {
			return err
		}
		// The node's listener lets managers only through.
		env.Handle(api.NodeLogsPath, a.LogsHandler(func(*http.Request) error { return nil }))
		return a.Run(ctx)
	}
}
