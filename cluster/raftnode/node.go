package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors returned by Node's methods; test them with errors.Is.
var (
	// ErrNotLeader: this node cannot commit; the error is a
	// *NotLeaderError naming the leader when one is known.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrNoLeader matches a *NotLeaderError that knows no leader: the
	// cluster has lost its quorum or is electing.
	ErrNoLeader = errors.New("no raft leader (no quorum, or an election is under way)")
	// ErrLeadershipLost: leadership ended before the entry committed. The
	// entry may still commit under the next leader; the outcome is unknown.
	ErrLeadershipLost = errors.New("raft leadership lost before the entry committed; it may or may not be applied")
	// ErrShutdown: the node has been shut down.
	ErrShutdown = errors.New("raft node is shut down")
)

// NotLeaderError is returned when a write or membership change reaches a
// node that is not the leader; the API forwards to LeaderAddr, or answers
// 503 when it is empty.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return ErrNoLeader.Error()
	}
	return fmt.Sprintf("not the raft leader: the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) hold always and ErrNoLeader hold
// when no leader is known.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (target == ErrNoLeader && e.LeaderAddr == "")
}

// Timeouts tune Raft; zero fields take hashicorp/raft's defaults:
// heartbeat and election 1s, leader lease 500ms, commit 50ms, a snapshot
// check every 120s that snapshots once 8192 entries are new, and 10240
// entries kept behind a snapshot. Consul and Nomad run these on LANs.
type Timeouts struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	// TrailingLogs is how many entries survive a snapshot, so a follower a
	// little behind catches up from the log instead of a whole snapshot.
	TrailingLogs uint64
}

// Config configures a Node.
type Config struct {
	// NodeID is the Raft server ID; it never changes for a data dir.
	NodeID string
	// DataDir holds raft/raft.db (log and stable store) and raft/snapshots.
	DataDir string
	// Advertise is the host:port peers dial; it defaults to the stream
	// layer's address when that is not a wildcard.
	Advertise string
	// StreamLayer carries Raft (Mux.Raft()). The node owns it from New on
	// and closes it on Shutdown.
	StreamLayer raft.StreamLayer
	FSM         Applier
	Timeouts    Timeouts
	Logger      *slog.Logger
}

const (
	snapshotsRetained = 3
	logCacheEntries   = 512
	// transportTimeout bounds one RPC's I/O; raft scales it up for
	// snapshot installs.
	transportTimeout = 10 * time.Second
	// defaultEnqueueTimeout bounds waiting for room in raft's queue when the
	// caller's context has no deadline.
	defaultEnqueueTimeout = 30 * time.Second
)

// Node is one Raft member on disk, driving an Applier.
type Node struct {
	id        string
	advertise string
	raft      *raft.Raft
	transport *raft.NetworkTransport
	bolt      *raftboltdb.BoltStore
	hasState  bool

	leadership       *leadership
	reach            reachability
	heartbeatTimeout time.Duration

	shutdownOnce sync.Once
	shutdownErr  error
}

// New opens the node's stores under DataDir and starts Raft. A node with
// no state waits for BootstrapSelf or for a leader to add it.
func New(cfg Config) (*Node, error) {
	if cfg.NodeID == "" || cfg.DataDir == "" || cfg.StreamLayer == nil || cfg.FSM == nil {
		return nil, errors.New("raft node: NodeID, DataDir, StreamLayer and FSM are required")
	}
	advertise, err := advertiseAddr(cfg.Advertise, cfg.StreamLayer.Addr())
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("raft_node", cfg.NodeID)
	hlog := newHCLog(logger, "raft")
	notify := make(chan bool, 1)
	rc := raftConfig(cfg.NodeID, cfg.Timeouts)
	rc.Logger = hlog
	rc.NotifyCh = notify
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft data dir: %w", err)
	}
	boltOpts := *bbolt.DefaultOptions
	boltOpts.Timeout = time.Second // a second process on this dir fails instead of hanging
	dbPath := filepath.Join(dir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: dbPath, BoltOptions: &boltOpts})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w (is another swarmops using this data dir?)", dbPath, err)
		}
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	n := &Node{id: cfg.NodeID, advertise: advertise, bolt: bolt, heartbeatTimeout: rc.HeartbeatTimeout}
	fail := func(err error) (*Node, error) {
		if n.transport != nil {
			n.transport.Close()
		}
		bolt.Close()
		return nil, err
	}
	logs, err := raft.NewLogCache(logCacheEntries, bolt)
	if err != nil {
		return fail(fmt.Errorf("raft log cache: %w", err))
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hlog.Named("snapshots"))
	if err != nil {
		return fail(fmt.Errorf("raft snapshot store: %w", err))
	}
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  advertisedLayer{StreamLayer: cfg.StreamLayer, addr: tcpAddr(advertise)},
		MaxPool: 3,
		Timeout: transportTimeout,
		Logger:  hlog.Named("transport"),
	})
	n.hasState, err = raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		return fail(fmt.Errorf("read raft state: %w", err))
	}

	r, err := raft.NewRaft(rc, &fsm{applier: cfg.FSM}, logs, bolt, snaps, n.transport)
	if err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	n.raft = r
	r.RegisterObserver(n.reach.observer())
	n.leadership = newLeadership(notify, r.State() == raft.Leader)
	return n, nil
}

func raftConfig(id string, t Timeouts) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	// Membership decides what a removed manager does; raft stopping itself
	// would leave this Node half shut down.
	c.ShutdownOnRemove = false
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&c.HeartbeatTimeout, t.HeartbeatTimeout)
	set(&c.ElectionTimeout, t.ElectionTimeout)
	set(&c.LeaderLeaseTimeout, t.LeaderLeaseTimeout)
	set(&c.CommitTimeout, t.CommitTimeout)
	set(&c.SnapshotInterval, t.SnapshotInterval)
	if t.SnapshotThreshold > 0 {
		c.SnapshotThreshold = t.SnapshotThreshold
	}
	if t.TrailingLogs > 0 {
		c.TrailingLogs = t.TrailingLogs
	}
	return c
}

func advertiseAddr(advertise string, bound net.Addr) (string, error) {
	if advertise == "" {
		advertise = bound.String()
	}
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return "", fmt.Errorf("advertise address %q: %w", advertise, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", fmt.Errorf("advertise address %q is not one peers can dial: give --advertise-addr HOST:PORT", advertise)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("advertise address %q: bad port", advertise)
	}
	return advertise, nil
}

// advertisedLayer makes the transport report the advertise address: raft
// sends it to followers as the leader's address, so it must be dialable.
type advertisedLayer struct {
	raft.StreamLayer
	addr net.Addr
}

func (a advertisedLayer) Addr() net.Addr { return a.addr }

type tcpAddr string

func (tcpAddr) Network() string  { return "tcp" }
func (a tcpAddr) String() string { return string(a) }

// ID is this node's Raft server ID.
func (n *Node) ID() string { return n.id }

// Advertise is the address peers reach this node's Raft at.
func (n *Node) Advertise() string { return n.advertise }

// HasState reports whether the data dir held Raft state when New opened
// it (a node that was bootstrapped or joined before).
func (n *Node) HasState() bool { return n.hasState }

// BootstrapSelf makes this node a one-voter cluster. It fails, wrapping
// raft.ErrCantBootstrap, when the data dir already holds Raft state.
func (n *Node) BootstrapSelf() error {
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(n.id),
		Address:  raft.ServerAddress(n.advertise),
	}}}).Error()
	if err != nil {
		return fmt.Errorf("bootstrap raft: %w", n.translate(err))
	}
	return nil
}

// Propose commits data through Raft and returns its log index and the
// Applier's error for it, unwrapped. Errors from Raft itself are
// ErrNotLeader (a *NotLeaderError), ErrLeadershipLost, ErrShutdown or the
// context's. Only ErrNotLeader means the entry surely was not appended;
// after the others it may still commit.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	var index uint64
	var resp any
	err := n.await(ctx, func(timeout time.Duration) error {
		f := n.raft.Apply(data, timeout)
		if err := f.Error(); err != nil {
			return err
		}
		index, resp = f.Index(), f.Response()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("propose: %w", err)
	}
	if applyErr, ok := resp.(error); ok {
		return index, applyErr
	}
	return index, nil
}

// Barrier returns once every entry committed before it has been applied
// here; a new leader calls it before reading the store.
func (n *Node) Barrier(ctx context.Context) error {
	err := n.await(ctx, func(timeout time.Duration) error {
		return n.raft.Barrier(timeout).Error()
	})
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return nil
}

// AddVoter adds (or re-addresses) a voting member. Only the leader can.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	err := n.await(ctx, func(timeout time.Duration) error {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
	})
	if err != nil {
		return fmt.Errorf("add raft voter %s at %s: %w", id, addr, err)
	}
	return nil
}

// RemoveServer removes a member. Only the leader can; it may remove
// itself, after which another member leads. Keeping a quorum is the
// caller's duty.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	err := n.await(ctx, func(timeout time.Duration) error {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
	})
	if err != nil {
		return fmt.Errorf("remove raft server %s: %w", id, err)
	}
	return nil
}

// TransferLeadership hands leadership to the most up-to-date voter and
// returns once it has it, so a leader about to stop or be demoted does not
// leave the cluster to wait out an election timeout.
func (n *Node) TransferLeadership(ctx context.Context) error {
	err := n.await(ctx, func(time.Duration) error {
		return n.raft.LeadershipTransfer().Error()
	})
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

// Snapshot takes a snapshot now and compacts the log behind it; when the
// latest snapshot already covers every applied entry there is nothing to do.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", n.translate(err))
	}
	return nil
}

// await runs a blocking raft call off the caller's goroutine so a done
// context returns at once; raft's futures cannot be cancelled, so the call
// itself finishes on its own (every future resolves at shutdown at the
// latest).
func (n *Node) await(ctx context.Context, call func(enqueueTimeout time.Duration) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := defaultEnqueueTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- call(timeout) }()
	select {
	case err := <-done:
		return n.translate(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// translate maps hashicorp/raft's errors to this package's.
func (n *Node) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter):
		addr, id := n.raft.LeaderWithID()
		return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (%w)", ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("raft is too busy to take the entry: %w", err)
	}
	return err
}

// IsLeader reports whether this node leads now. It can be stale by the
// time it returns; Propose is what settles it.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader is the current leader as this node knows it; empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Server is one member of the Raft configuration.
type Server struct {
	ID       string
	Address  string
	Suffrage string // "voter", "nonvoter" or "staging"
	// Reachability is one of the Reachability constants, as this node
	// sees it: complete on the leader, partial elsewhere (ask the leader).
	Reachability string
}

// Servers lists the latest configuration this node knows (possibly not yet
// committed).
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", n.translate(err))
	}
	leading := n.IsLeader()
	leaderID, _ := n.Leader()
	var out []Server
	for _, s := range f.Configuration().Servers {
		suffrage := "voter"
		switch s.Suffrage {
		case raft.Nonvoter:
			suffrage = "nonvoter"
		case raft.Staging:
			suffrage = "staging"
		}
		out = append(out, Server{
			ID:           string(s.ID),
			Address:      string(s.Address),
			Suffrage:     suffrage,
			Reachability: n.reachabilityOf(string(s.ID), leading, leaderID),
		})
	}
	return out, nil
}

// Stats is a point-in-time view of this node's Raft state.
type Stats struct {
	State             string // "Follower", "Candidate", "Leader" or "Shutdown"
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastLogIndex      uint64
	LastSnapshotIndex uint64
	LeaderID          string
	LeaderAddr        string
	// LastContact is when a follower last heard from the leader; zero on
	// the leader and before any contact.
	LastContact time.Time
}

// Stats reads the node's Raft state.
func (n *Node) Stats() Stats {
	s := Stats{
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		LastLogIndex: n.raft.LastIndex(),
		LastContact:  n.raft.LastContact(),
	}
	s.LeaderID, s.LeaderAddr = n.Leader()
	if v, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64); err == nil {
		s.LastSnapshotIndex = v
	}
	return s
}

// WatchLeadership delivers whether this node leads: the current value at
// once, then every change, until ctx ends or the node shuts down (then the
// channel closes). A slow reader sees the latest value, not every flip, so
// a lose-and-regain may read as true twice.
func (n *Node) WatchLeadership(ctx context.Context) <-chan bool {
	return n.leadership.watch(ctx)
}

// Shutdown stops Raft, then the transport (closing the stream layer), then
// the log store. It is safe to call more than once.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		var errs []error
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("stop raft: %w", err))
		}
		n.leadership.stop()
		if err := n.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft transport: %w", err))
		}
		if err := n.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log: %w", err))
		}
		n.shutdownErr = errors.Join(errs...)
	})
	return n.shutdownErr
}
