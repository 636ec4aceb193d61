package manager

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// freeAddr finds a loopback port nobody listens on. Another process could
// take it before the manager binds; on a test machine that does not happen
// in practice, and the bind error would say so.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func initManager(t *testing.T, dir string) *Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := Init(ctx, InitConfig{
		Config:    Config{DataDir: dir},
		Advertise: freeAddr(t),
		Hostname:  "node-1",
	})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m
}

func TestInitCreatesTheCluster(t *testing.T) {
	dir := t.TempDir()
	m := initManager(t, dir)

	c, err := m.Cluster()
	if err != nil {
		t.Fatal(err)
	}
	if c.CADigest != m.RootCA().Digest() {
		t.Errorf("cluster CA digest %s, want the root's %s", c.CADigest, m.RootCA().Digest())
	}
	for role, tok := range map[string]string{"worker": c.JoinTokens.Worker, "manager": c.JoinTokens.Manager} {
		parsed, err := ca.ParseToken(tok)
		if err != nil {
			t.Fatalf("%s token %q: %v", role, tok, err)
		}
		if parsed.CADigest != c.CADigest {
			t.Errorf("%s token pins %s, want %s", role, parsed.CADigest, c.CADigest)
		}
	}
	if c.JoinTokens.Worker == c.JoinTokens.Manager {
		t.Error("worker and manager tokens are equal")
	}

	var self *swarm.Node
	err = m.Store().View(func(tx store.ReadTx) error {
		var err error
		self, err = tx.Node(m.Identity().NodeID)
		return err
	})
	if err != nil {
		t.Fatalf("this node is not in the store: %v", err)
	}
	if self.Spec.Role != swarm.NodeRoleManager || self.Description.Hostname != "node-1" || self.Status.State != swarm.NodeStateReady {
		t.Errorf("self node = %+v", self)
	}
	if !m.Raft().IsLeader() {
		t.Error("the first manager does not lead")
	}
}

func TestInitRefusesAnInitialisedDir(t *testing.T) {
	dir := t.TempDir()
	m := initManager(t, dir)
	m.Shutdown(context.Background())
	_, err := Init(context.Background(), InitConfig{Config: Config{DataDir: dir}, Advertise: freeAddr(t)})
	if !errors.Is(err, ErrInitialised) || !strings.Contains(err.Error(), "swarmops daemon") {
		t.Fatalf("second Init error = %v, want ErrInitialised naming swarmops daemon", err)
	}
}

func TestOpenRestartsFromDisk(t *testing.T) {
	dir := t.TempDir()
	m := initManager(t, dir)
	want, err := m.Cluster()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	m2, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer m2.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m2.waitLeadership(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.Raft().Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := m2.Cluster()
	if err != nil {
		t.Fatalf("cluster record after restart: %v", err)
	}
	if got.ID != want.ID || got.JoinTokens != want.JoinTokens {
		t.Errorf("after restart cluster = %s %+v, want %s %+v", got.ID, got.JoinTokens, want.ID, want.JoinTokens)
	}
}

func TestOpenNeedsANode(t *testing.T) {
	_, err := Open(Config{DataDir: t.TempDir()})
	if !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("Open of an empty dir = %v, want ErrNotInitialised", err)
	}
}

func TestAdvertiseAddrIsChecked(t *testing.T) {
	for _, addr := range []string{"", "10.0.0.1", "0.0.0.0:4243", ":4243"} {
		_, err := Init(context.Background(), InitConfig{Config: Config{DataDir: t.TempDir()}, Advertise: addr})
		if err == nil || !strings.Contains(err.Error(), "advertise address") {
			t.Errorf("Init with advertise %q: error %v, want one about the advertise address", addr, err)
		}
	}
}
