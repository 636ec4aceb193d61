package dispatcher

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

func TestRegisterRecordsTheNodeOnce(t *testing.T) {
	h := newHarness(t, nil,
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateUnknown),
		node("m1", swarm.NodeRoleManager, swarm.NodeStateReady))
	before := h.raft.count()

	reply, err := h.d.Register(context.Background(), "w1", "10.0.0.7:51000", api.SessionRequest{Description: describe("w1"), Addr: "0.0.0.0:4244"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.SessionID == "" || reply.NodeID != "w1" || reply.Role != swarm.NodeRoleWorker || reply.HeartbeatPeriod != 5*time.Second || !slices.Equal(reply.Managers, testManagers) {
		t.Errorf("reply = %+v", reply)
	}
	n := h.node("w1")
	want := describe("w1")
	if n.Status.State != swarm.NodeStateReady || n.Status.Message != "" || n.Status.Addr != "10.0.0.7" {
		t.Errorf("status = %+v, want ready at the caller's address 10.0.0.7", n.Status)
	}
	if n.Description.Hostname != want.Hostname || n.Description.Engine.EngineVersion != "28.5.2" || n.Description.Engine.Labels["disk"] != "ssd" ||
		n.Description.Resources.NanoCPUs != want.Resources.NanoCPUs || n.Description.Resources.MemoryBytes != want.Resources.MemoryBytes || n.Description.Platform != want.Platform {
		t.Errorf("description = %+v, want the agent's %+v", n.Description, want)
	}
	if n.Description.TLSInfo.TrustRoot != "root-pem" {
		t.Errorf("TLS info = %+v: the cluster's must survive a registration", n.Description.TLSInfo)
	}
	if addr, ok := h.d.AgentAddr("w1"); !ok || addr != "10.0.0.7:4244" {
		t.Errorf("AgentAddr = %q, %v; want the caller's host with the registered port", addr, ok)
	}
	if got := h.raft.count() - before; got != 1 {
		t.Errorf("registration made %d Raft entries, want 1", got)
	}

	// The same registration again writes nothing, and ends the first
	// session.
	again, err := h.d.Register(context.Background(), "w1", "10.0.0.7:52000", api.SessionRequest{Description: describe("w1"), Addr: "0.0.0.0:4244"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.raft.count() - before; got != 1 {
		t.Errorf("an unchanged registration wrote to Raft (%d entries in all)", got)
	}
	if again.SessionID == reply.SessionID {
		t.Error("a new registration reused the session ID")
	}
	if _, err := h.d.Assignments(context.Background(), "w1", api.AssignmentsRequest{SessionID: reply.SessionID}); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("the replaced session still works: %v", err)
	}
	if _, err := h.d.Assignments(context.Background(), "m1", api.AssignmentsRequest{SessionID: again.SessionID}); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("another node's session works for m1: %v", err)
	}

	// A changed description is written.
	desc := describe("w1")
	desc.Engine.Labels = map[string]string{"disk": "hdd"}
	if _, err := h.d.Register(context.Background(), "w1", "10.0.0.7:52000", api.SessionRequest{Description: desc, Addr: "10.0.0.8:4244"}); err != nil {
		t.Fatal(err)
	}
	n = h.node("w1")
	if got := h.raft.count() - before; got != 2 || n.Description.Engine.Labels["disk"] != "hdd" || n.Status.Addr != "10.0.0.8" {
		t.Errorf("after a changed registration: %d entries, labels %v, addr %s", got, n.Description.Engine.Labels, n.Status.Addr)
	}

	// A manager learns its role.
	if r := h.register("m1"); r.Role != swarm.NodeRoleManager {
		t.Errorf("manager's reply role = %q", r.Role)
	}
}

func TestRegisterRefuses(t *testing.T) {
	h := newHarness(t, nil, node("w1", swarm.NodeRoleWorker, swarm.NodeStateUnknown))
	if _, err := h.d.Register(context.Background(), "ghost", "10.0.0.7:1", api.SessionRequest{}); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v, want ErrUnknownNode", err)
	}
	for _, addr := range []string{"4244", "host-without-port", "[::1"} {
		if _, err := h.d.Register(context.Background(), "w1", "10.0.0.7:1", api.SessionRequest{Addr: addr}); !errors.Is(err, ErrInvalid) {
			t.Errorf("addr %q: %v, want ErrInvalid", addr, err)
		}
	}
	if _, err := h.d.Register(context.Background(), "w1", "", api.SessionRequest{Addr: ":4244"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no host anywhere: %v, want ErrInvalid", err)
	}
	h.raft.setFail(errLostLeadership)
	if _, err := h.d.Register(context.Background(), "w1", "10.0.0.7:1", api.SessionRequest{Description: describe("w1")}); !errors.Is(err, errLostLeadership) {
		t.Errorf("uncommitted registration: %v, want the proposal's error", err)
	}
	if _, ok := h.d.AgentAddr("w1"); ok {
		t.Error("a registration that did not commit opened a session")
	}
}

func TestRegisterRetriesAVersionConflict(t *testing.T) {
	h := newHarness(t, nil, node("w1", swarm.NodeRoleWorker, swarm.NodeStateUnknown))
	// An operator's `docker node update` lands between the dispatcher's
	// read and its write, once.
	inner := h.d.cfg.Propose
	raced := false
	h.d.cfg.Propose = func(ctx context.Context, data []byte) (uint64, error) {
		if !raced {
			raced = true
			n := *h.node("w1")
			n.Spec.Labels = map[string]string{"zone": "b"}
			h.propose(storeUpdate(&n))
		}
		return inner(ctx, data)
	}
	h.register("w1")
	n := h.node("w1")
	if n.Status.State != swarm.NodeStateReady || n.Spec.Labels["zone"] != "b" {
		t.Errorf("after a conflicting update: status %s, labels %v; want ready with the operator's labels", n.Status.State, n.Spec.Labels)
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct{ registered, remote, host, agent string }{
		{"", "10.0.0.7:5000", "10.0.0.7", ""},
		{":4244", "10.0.0.7:5000", "10.0.0.7", "10.0.0.7:4244"},
		{"0.0.0.0:4244", "10.0.0.7:5000", "10.0.0.7", "10.0.0.7:4244"},
		{"[::]:4244", "[fd00::7]:5000", "fd00::7", "[fd00::7]:4244"},
		{"192.168.1.5:4244", "10.0.0.7:5000", "192.168.1.5", "192.168.1.5:4244"},
		{"node-3.lan:4244", "", "node-3.lan", "node-3.lan:4244"},
	}
	for _, c := range cases {
		host, agent, err := addresses(c.registered, c.remote)
		if err != nil || host != c.host || agent != c.agent {
			t.Errorf("addresses(%q, %q) = %q, %q, %v; want %q, %q", c.registered, c.remote, host, agent, err, c.host, c.agent)
		}
	}
}
