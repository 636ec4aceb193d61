package raftnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestReplicasApplySameEntriesInSameOrder(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	c.threeManagers()

	// Concurrent proposers: raft, not the callers, decides the order, and
	// every replica must see that one order.
	const writers, perWriter = 3, 15
	acked := make(map[string]uint64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				data := fmt.Sprintf("w%d-%d", w, i)
				index, err := c.tryPropose(data)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[data] = index
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The applier's error is the proposer's result, and a rejected entry
	// still has its index.
	var index uint64
	var err error
	waitFor(t, 15*time.Second, "the leader to take the rejected proposal", func() bool {
		index, err = c.leader().Propose(c.ctx(), []byte("fail: version conflict"))
		return !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost)
	})
	if !errors.Is(err, errRejected) || index == 0 {
		t.Fatalf("rejected proposal: index %d, error %v; want an index and errRejected", index, err)
	}

	entries := c.converged(writers * perWriter)
	if len(entries) != writers*perWriter {
		t.Fatalf("%d entries, want %d", len(entries), writers*perWriter)
	}
	for i, e := range entries {
		if want, ok := acked[e.Data]; !ok || want != e.Index {
			t.Errorf("entry %q applied at index %d, Propose returned %d (acked %v)", e.Data, e.Index, want, ok)
		}
		if i > 0 && e.Index <= entries[i-1].Index {
			t.Errorf("index %d applied after %d", e.Index, entries[i-1].Index)
		}
		if e.At.IsZero() || e.At.Location().String() != "UTC" {
			t.Errorf("entry %d: append time %v, want a UTC time", e.Index, e.At)
		}
	}
	// The rejected entry reached every replica's applier too.
	for _, n := range c.running() {
		waitFor(t, 5*time.Second, n.id+" to apply the rejected entry", func() bool {
			_, _, applied := n.fsm.snapshot()
			return slices.Contains(applied, index)
		})
	}
}

func TestProposeOnFollowerNamesTheLeader(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	c.threeManagers()
	leader := c.leader()
	for _, n := range c.running() {
		if n == leader {
			continue
		}
		_, err := n.Propose(c.ctx(), []byte("x"))
		var nl *NotLeaderError
		if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nl) {
			t.Fatalf("%s: Propose error %v, want ErrNotLeader", n.id, err)
		}
		if nl.LeaderID != leader.id || nl.LeaderAddr != leader.addr || errors.Is(err, ErrNoLeader) {
			t.Errorf("%s: %v names %s at %s, want %s at %s", n.id, err, nl.LeaderID, nl.LeaderAddr, leader.id, leader.addr)
		}
		if err := n.AddVoter(c.ctx(), "m9", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s: AddVoter error %v, want ErrNotLeader", n.id, err)
		}
		if err := n.RemoveServer(c.ctx(), leader.id); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s: RemoveServer error %v, want ErrNotLeader", n.id, err)
		}
	}
	if n := c.nodes["m1"]; n.fsm.count() != 0 {
		t.Errorf("a refused proposal was applied: %d entries", n.fsm.count())
	}
}

func TestLeaderLossKeepsAcknowledgedWritesAndRestartCatchesUp(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	c.threeManagers()
	var acked []string
	for i := range 20 {
		data := fmt.Sprintf("before-%d", i)
		c.propose(data)
		acked = append(acked, data)
	}
	old := c.leader()
	c.stop(old.id)

	next := c.leader()
	if next.id == old.id {
		t.Fatalf("%s still leads after shutdown", old.id)
	}
	if err := next.Barrier(c.ctx()); err != nil {
		t.Fatal(err)
	}
	for _, data := range acked {
		if !next.fsm.has(data) {
			t.Errorf("new leader %s lost acknowledged write %q", next.id, data)
		}
	}
	for i := range 10 {
		data := fmt.Sprintf("after-%d", i)
		c.propose(data)
		acked = append(acked, data)
	}

	restarted := c.start(old.id)
	if !restarted.HasState() {
		t.Errorf("%s restarted without its state", old.id)
	}
	if err := restarted.BootstrapSelf(); !errors.Is(err, raft.ErrCantBootstrap) {
		t.Errorf("bootstrap of a node with state: %v, want raft.ErrCantBootstrap", err)
	}
	entries := c.converged(len(acked))
	var got []string
	for _, e := range entries {
		got = append(got, e.Data)
	}
	if !slices.Equal(got, acked) {
		t.Errorf("after restart the replicas hold\n%v\nwant\n%v", got, acked)
	}
}

func TestWithoutQuorumWritesFailClearlyAndNothingIsLost(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	c.threeManagers()
	c.propose("kept")
	leader := c.leader()
	var survivor, lost *testNode
	for _, n := range c.running() {
		switch {
		case n == leader:
		case survivor == nil:
			survivor = n
		default:
			lost = n
		}
	}
	reach := func(of, who *testNode) string {
		servers, err := of.Servers()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.ID == who.id {
				return s.Reachability
			}
		}
		return "absent"
	}
	waitFor(t, 5*time.Second, "the leader to reach every member", func() bool {
		return reach(leader, survivor) == ReachabilityReachable && reach(leader, lost) == ReachabilityReachable
	})
	c.stop(lost.id)
	// The leader's heartbeats tell it who is gone; a follower only knows
	// about itself and the leader.
	waitFor(t, 5*time.Second, "the leader to see "+lost.id+" unreachable", func() bool {
		return reach(leader, lost) == ReachabilityUnreachable
	})
	if got := reach(leader, survivor); got != ReachabilityReachable {
		t.Errorf("leader sees the live %s as %s", survivor.id, got)
	}
	if a, b, c := reach(survivor, survivor), reach(survivor, leader), reach(survivor, lost); a != ReachabilityReachable || b != ReachabilityReachable || c != ReachabilityUnknown {
		t.Errorf("follower's view: self %s, leader %s, other %s; want reachable, reachable, unknown", a, b, c)
	}
	c.stop(leader.id)
	// Whatever the survivor believes at first, within a few lease and
	// election timeouts it must refuse writes saying there is no leader.
	waitFor(t, 10*time.Second, "writes refused for want of a quorum", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := survivor.Propose(ctx, []byte("fail-nobody-should-apply-this"))
		return errors.Is(err, ErrNoLeader)
	})
	_, err := survivor.Propose(c.ctx(), []byte("refused"))
	if !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("write without quorum: %v, want ErrNoLeader saying no quorum", err)
	}
	for id, n := range c.nodes {
		if n.Node == nil {
			c.start(id)
		}
	}
	c.propose("after")
	leader = c.leader()
	for _, n := range c.running() {
		waitFor(t, 5*time.Second, "the new leader to reach "+n.id, func() bool { return reach(leader, n) == ReachabilityReachable })
	}
	entries := c.converged(2)
	if len(entries) != 2 || entries[0].Data != "kept" || entries[1].Data != "after" {
		t.Errorf("entries after quorum returned: %v", entries)
	}
}

func TestSnapshotsCompactTheLogAndRestoreOnRestart(t *testing.T) {
	timeouts := fastTimeouts
	timeouts.SnapshotThreshold = 8
	timeouts.SnapshotInterval = 20 * time.Millisecond
	timeouts.TrailingLogs = 2
	c := newTestCluster(t, timeouts)
	c.threeManagers()
	for i := range 20 {
		c.propose(fmt.Sprintf("a%d", i))
	}
	c.converged(20)
	for _, n := range c.running() {
		waitFor(t, 10*time.Second, n.id+" to take a snapshot", func() bool { return n.Stats().LastSnapshotIndex > 0 })
		files, err := os.ReadDir(filepath.Join(n.dir, "raft", "snapshots"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no snapshot under raft/snapshots: %v", n.id, err)
		}
	}

	var follower *testNode
	for _, n := range c.running() {
		if !n.IsLeader() {
			follower = n
			break
		}
	}
	behind := follower.Stats().LastLogIndex
	c.stop(follower.id)
	for i := range 20 {
		c.propose(fmt.Sprintf("b%d", i))
	}
	leader := c.leader()
	// Once the leader's log no longer holds what the follower lacks, only
	// a snapshot can bring it back.
	waitFor(t, 10*time.Second, "the leader to compact past the stopped follower", func() bool {
		return leader.Stats().LastSnapshotIndex > behind+timeouts.TrailingLogs+1
	})

	restarted := c.start(follower.id)
	entries := c.converged(40)
	if len(entries) != 40 {
		t.Fatalf("%d entries after restart, want 40", len(entries))
	}
	_, restores, applied := restarted.fsm.snapshot()
	// One restore from its own snapshot at start, one installed by the
	// leader; and it never replayed the log from the beginning.
	if restores < 2 {
		t.Errorf("%s restored %d snapshots, want its own and the leader's", restarted.id, restores)
	}
	if len(applied) > 0 && applied[0] <= behind {
		t.Errorf("%s replayed index %d although its snapshot covered up to about %d", restarted.id, applied[0], behind)
	}
}

func TestMembershipAddAndRemove(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	c.threeManagers()
	leader := c.leader()
	for _, n := range c.running() {
		waitFor(t, 5*time.Second, n.id+" to know three voters", func() bool {
			servers, err := n.Servers()
			return err == nil && len(servers) == 3 && !slices.ContainsFunc(servers, func(s Server) bool { return s.Suffrage != "voter" })
		})
	}
	c.propose("with-three")

	if err := leader.TransferLeadership(c.ctx()); err != nil {
		t.Fatal(err)
	}
	if next := c.leader(); next == leader {
		t.Fatalf("%s still leads after handing leadership over", leader.id)
	} else {
		leader = next
	}

	var removed *testNode
	for _, n := range c.running() {
		if n != leader {
			removed = n
			break
		}
	}
	if err := leader.RemoveServer(c.ctx(), removed.id); err != nil {
		t.Fatal(err)
	}
	leader = c.leader()
	servers, err := leader.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || slices.ContainsFunc(servers, func(s Server) bool { return s.ID == removed.id }) {
		t.Fatalf("servers after removing %s: %v", removed.id, servers)
	}
	c.propose("with-two")
	for _, n := range c.running() {
		if n == removed {
			continue
		}
		waitFor(t, 5*time.Second, n.id+" to apply with-two", func() bool { return n.fsm.has("with-two") })
	}
	if removed.fsm.has("with-two") {
		t.Errorf("%s got an entry written after its removal", removed.id)
	}
	c.stop(removed.id)

	// Re-adding it (as docker node promote would) brings it up to date.
	c.addVoter(c.start(removed.id))
	entries := c.converged(2)
	if len(entries) != 2 {
		t.Errorf("entries after re-adding %s: %v", removed.id, entries)
	}
}

func TestSingleNodeLeadershipAndShutdown(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	n := c.start("solo")
	if n.HasState() {
		t.Fatal("fresh data dir reports state")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := n.WatchLeadership(ctx)
	if first := <-watch; first {
		t.Fatal("leading before bootstrap")
	}
	if err := n.BootstrapSelf(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-watch:
		if !v {
			t.Fatal("leadership watch said false after bootstrap")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leadership change after bootstrap")
	}
	if _, err := n.Propose(c.ctx(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	// Raft counts an entry applied only after handing it to the FSM, a
	// moment after the proposer has its answer.
	waitFor(t, 5*time.Second, "applied index to reach the commit index", func() bool {
		st := n.Stats()
		return st.AppliedIndex == st.CommitIndex
	})
	st := n.Stats()
	if st.State != "Leader" || st.LeaderID != "solo" || st.CommitIndex < 3 || st.Term == 0 {
		t.Errorf("stats of a lone leader: %+v", st)
	}

	if err := n.Snapshot(); err != nil {
		t.Fatalf("forced snapshot: %v", err)
	}
	if got := n.Stats().LastSnapshotIndex; got < st.CommitIndex {
		t.Errorf("forced snapshot at index %d, want at least %d", got, st.CommitIndex)
	}
	if err := n.Snapshot(); err != nil {
		t.Errorf("snapshot with nothing new: %v", err)
	}

	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := n.Propose(context.Background(), []byte("late")); !errors.Is(err, ErrShutdown) {
		t.Errorf("Propose after Shutdown: %v, want ErrShutdown", err)
	}
	for range watch { // drains, then must end: the node closed it
	}
	if _, ok := <-n.WatchLeadership(context.Background()); ok {
		t.Error("a watch started after Shutdown delivered a value")
	}
}

func TestSecondNodeOnSameDataDirFails(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	n := c.start("m1")
	mux, err := Listen("127.0.0.1:0", c.ca.muxConfig(c.ca.issue(t, "m1", roleManager)))
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	_, err = New(Config{NodeID: "m1", DataDir: n.dir, StreamLayer: mux.Raft(), FSM: &memApplier{}})
	if err == nil || !strings.Contains(err.Error(), "another swarmops") {
		t.Fatalf("second node on %s: %v, want an error naming the data dir in use", n.dir, err)
	}
}

func TestConfigValidation(t *testing.T) {
	c := newTestCluster(t, fastTimeouts)
	mux, err := Listen("127.0.0.1:0", c.ca.muxConfig(c.ca.issue(t, "m1", roleManager)))
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	base := Config{NodeID: "m1", DataDir: t.TempDir(), StreamLayer: mux.Raft(), FSM: &memApplier{}}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no id", func(c *Config) { c.NodeID = "" }, "required"},
		{"wildcard advertise", func(c *Config) { c.Advertise = "0.0.0.0:4242" }, "not one peers can dial"},
		{"advertise without port", func(c *Config) { c.Advertise = "10.0.0.1" }, "advertise address"},
		{"lease above heartbeat", func(c *Config) {
			c.Timeouts = Timeouts{HeartbeatTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: time.Second}
		}, "LeaderLeaseTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			n, err := New(cfg)
			if err == nil {
				n.Shutdown()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
