package dispatcher

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

func (h *harness) expire(now time.Time) []string {
	h.t.Helper()
	down, err := h.d.Expire(context.Background(), now)
	if err != nil {
		h.t.Fatalf("Expire(%v): %v", now.Sub(t0), err)
	}
	slices.Sort(down)
	return down
}

func TestSilentNodesGoDown(t *testing.T) {
	h := newHarness(t, nil,
		node("alive", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("silent", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("never", swarm.NodeRoleWorker, swarm.NodeStateUnknown), // joined, never came up
		node("gone", swarm.NodeRoleWorker, swarm.NodeStateDown),     // already down
		node("legacy", swarm.NodeRoleManager, swarm.NodeStateReady)) // shows it is alive otherwise
	sess := h.register("alive").SessionID
	before := h.raft.count()

	// Within the grace a new term gives (3 × 5s), nothing is written.
	h.clock.Advance(10 * time.Second)
	h.poll("alive", sess) // a heartbeat at 10s
	h.d.Beat("legacy")
	if down := h.expire(t0.Add(15 * time.Second)); len(down) != 0 || h.raft.count() != before {
		t.Fatalf("at 15s: down %v, %d entries; want nothing yet", down, h.raft.count()-before)
	}

	// Past it, the silent ones go down, in one entry.
	if down := h.expire(t0.Add(15*time.Second + time.Millisecond)); !slices.Equal(down, []string{"never", "silent"}) {
		t.Fatalf("down at 15.001s = %v, want never and silent", down)
	}
	if got := h.raft.count() - before; got != 1 {
		t.Errorf("marking two nodes down took %d entries, want 1", got)
	}
	for _, id := range []string{"silent", "never"} {
		n := h.node(id)
		if n.Status.State != swarm.NodeStateDown || n.Status.Message != "heartbeat failure" || n.Status.Addr != "10.0.0.50" {
			t.Errorf("%s status = %+v, want down with Swarm's message, address kept", id, n.Status)
		}
	}
	if gone := h.node("gone"); gone.Version.Index != 1 {
		t.Errorf("an already down node was written again: %+v", gone.Meta)
	}
	for _, id := range []string{"alive", "legacy"} {
		if n := h.node(id); n.Status.State != swarm.NodeStateReady {
			t.Errorf("%s = %s, want ready: it called within the grace", id, n.Status.State)
		}
	}
	// Nothing more to write until something changes.
	if down := h.expire(t0.Add(16 * time.Second)); len(down) != 0 || h.raft.count()-before != 1 {
		t.Errorf("a second check wrote again: %v", down)
	}

	// Silent 15s after its last call at 10s, alive goes down too, and its
	// session ends.
	if down := h.expire(t0.Add(25*time.Second + time.Millisecond)); !slices.Equal(down, []string{"alive", "legacy"}) {
		t.Fatalf("down at 25.001s = %v", down)
	}
	if _, err := h.d.Assignments(context.Background(), "alive", api.AssignmentsRequest{SessionID: sess}); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("the session of a node marked down still works: %v", err)
	}
	if _, ok := h.d.AgentAddr("alive"); ok {
		t.Error("AgentAddr still answers for a node marked down")
	}

	// Back, it registers again and is ready.
	h.clock.Advance(time.Minute)
	h.register("alive")
	if n := h.node("alive"); n.Status.State != swarm.NodeStateReady || n.Status.Message != "" {
		t.Errorf("re-registered node = %+v, want ready", n.Status)
	}
	if down := h.expire(h.clock.Now().Add(10 * time.Second)); len(down) != 0 {
		t.Errorf("a node that just registered went down: %v", down)
	}
}

func TestNewNodesGetTheirGrace(t *testing.T) {
	h := newHarness(t, nil, node("old", swarm.NodeRoleWorker, swarm.NodeStateReady))
	h.propose(store.Create(node("new", swarm.NodeRoleWorker, swarm.NodeStateUnknown)))
	// First noticed at 20s: "old" is past its grace, "new" starts its own.
	if down := h.expire(t0.Add(20 * time.Second)); !slices.Equal(down, []string{"old"}) {
		t.Fatalf("down at 20s = %v, want old only", down)
	}
	if down := h.expire(t0.Add(35 * time.Second)); len(down) != 0 {
		t.Fatalf("down at 35s = %v, want none", down)
	}
	if down := h.expire(t0.Add(36 * time.Second)); !slices.Equal(down, []string{"new"}) {
		t.Fatalf("down at 36s = %v, want new", down)
	}
	// A node removed from the cluster is forgotten.
	h.propose(store.Delete(store.TableNodes, "new", 0))
	if down := h.expire(t0.Add(time.Hour)); len(down) != 0 {
		t.Errorf("down after a removal = %v", down)
	}
	h.d.mu.Lock()
	_, remembered := h.d.seen["new"]
	h.d.mu.Unlock()
	if remembered {
		t.Error("the dispatcher still tracks a removed node")
	}
}

func TestExpireHealsALateDownWrite(t *testing.T) {
	h := newHarness(t, nil, node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	h.register("w1")
	// A write made before this term (an older leader's) lands after the
	// node registered.
	n := *h.node("w1")
	n.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: "heartbeat failure", Addr: n.Status.Addr}
	h.propose(storeUpdate(&n))
	if down := h.expire(t0.Add(time.Second)); len(down) != 0 {
		t.Fatalf("down = %v", down)
	}
	if got := h.node("w1").Status; got.State != swarm.NodeStateReady || got.Message != "" {
		t.Errorf("a node in session left %+v, want ready", got)
	}
}

func TestExpireRetriesWhatDidNotCommit(t *testing.T) {
	h := newHarness(t, nil, node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	h.raft.setFail(errLostLeadership)
	if _, err := h.d.Expire(context.Background(), t0.Add(time.Minute)); !errors.Is(err, errLostLeadership) {
		t.Fatalf("Expire = %v, want the proposal's error", err)
	}
	h.raft.setFail(nil)
	if down := h.expire(t0.Add(time.Minute + time.Second)); !slices.Equal(down, []string{"w1"}) {
		t.Errorf("the next check marked %v, want w1 again", down)
	}
}

func TestRunExpiresOnItsOwn(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HeartbeatPeriod = 10 * time.Millisecond },
		node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { h.d.Run(ctx); close(ran) }()
	defer func() { stop(); <-ran }()
	h.clock.Advance(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for h.node("w1").Status.State != swarm.NodeStateDown {
		if time.Now().After(deadline) {
			t.Fatal("Run never marked the silent node down")
		}
		_, changed, _ := h.s.Events(h.s.LastIndex())
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// TestRegisterDuringExpireEndsReady: a node that registers while Expire is
// marking it down must end ready with a session, or down without one —
// never down with a live session, which nothing would ever heal.
func TestRegisterDuringExpireEndsReady(t *testing.T) {
	h := newHarness(t, nil, node("w1", swarm.NodeRoleWorker, swarm.NodeStateReady))
	h.register("w1") // so that registering again changes nothing to write
	inner := h.d.cfg.Propose
	registered := make(chan error, 1)
	first := true
	h.d.cfg.Propose = func(ctx context.Context, data []byte) (uint64, error) {
		if first {
			first = false
			// Expire is proposing "w1 down": the node registers now.
			go func() {
				_, err := h.d.Register(context.Background(), "w1", "10.0.0.9:50000", api.SessionRequest{Description: describe("w1"), Addr: ":4244"})
				registered <- err
			}()
			// Give an unordered registration time to read the node as
			// ready and write nothing; an ordered one waits for Expire.
			select {
			case err := <-registered:
				registered <- err
			case <-time.After(100 * time.Millisecond):
			}
		}
		return inner(ctx, data)
	}
	if down := h.expire(t0.Add(time.Minute)); !slices.Equal(down, []string{"w1"}) {
		t.Fatalf("down = %v", down)
	}
	if err := <-registered; err != nil {
		t.Fatal(err)
	}
	if st := h.node("w1").Status.State; !h.d.InSession("w1") || st != swarm.NodeStateReady {
		t.Errorf("after a registration during expiry: in session %v, state %s; want a session and ready", h.d.InSession("w1"), st)
	}
}
