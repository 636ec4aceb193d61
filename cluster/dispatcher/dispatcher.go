package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Defaults of Config.
const (
	// DefaultHeartbeatPeriod is Swarm's: agents call at least this often.
	DefaultHeartbeatPeriod = 5 * time.Second
	// DefaultGraceMultiplier makes a node down after 15s of silence with
	// the default period, as in Swarm.
	DefaultGraceMultiplier = 3
	// DefaultStatusBatchSize is how many waiting status updates make Run
	// flush at once, without waiting for StatusBatchDelay.
	DefaultStatusBatchSize = 100
	// DefaultStatusBatchDelay is how long Run lets status updates gather
	// before it commits them.
	DefaultStatusBatchDelay = 10 * time.Millisecond
)

// HeartbeatFailure is the status message of a node marked down for
// silence, Swarm's.
const HeartbeatFailure = "heartbeat failure"

// Errors of the dispatcher's methods, checked with errors.Is; Handler maps
// them to HTTP statuses.
var (
	// ErrUnknownSession: the session is not one this dispatcher opened for
	// the caller, or it expired. The agent registers again (404).
	ErrUnknownSession = errors.New("unknown or expired session")
	// ErrUnknownNode: the caller is not a node of the cluster (403).
	ErrUnknownNode = errors.New("not a node of this cluster")
	// ErrInvalid: a request no state makes valid (400).
	ErrInvalid = errors.New("invalid request")
	// ErrStopped: the dispatcher's leadership term ended (503); the agent
	// asks the managers again.
	ErrStopped = errors.New("dispatcher stopped: this manager no longer leads")
)

// Config says what a Dispatcher works with. Store and Propose are
// required.
type Config struct {
	// Store is this manager's replica.
	Store *store.Store
	// Propose commits a batch (store.EncodeBatch) and returns once the
	// local store has applied it, with the store's error for it.
	Propose func(ctx context.Context, data []byte) (uint64, error)
	// Open decrypts a secret's sealed data; nil sends secret data as
	// stored. Config data is stored plain.
	Open func(sealed []byte) ([]byte, error)
	// Now is the clock of heartbeats; nil means time.Now.
	Now func() time.Time
	// HeartbeatPeriod is how often agents must call; zero means
	// DefaultHeartbeatPeriod.
	HeartbeatPeriod time.Duration
	// GraceMultiplier is how many periods of silence make a node down;
	// zero means DefaultGraceMultiplier.
	GraceMultiplier int
	// Managers lists the managers' API addresses, for agents to fail over
	// to; nil sends none.
	Managers func() []string
	// StatusBatchSize and StatusBatchDelay tune Run's batching of status
	// updates; zero means the defaults.
	StatusBatchSize  int
	StatusBatchDelay time.Duration
	Logger           *slog.Logger
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) managers() []string {
	if c.Managers == nil {
		return nil
	}
	return c.Managers()
}

// Dispatcher serves the agents' sessions for one leadership term.
type Dispatcher struct {
	cfg Config
	log *slog.Logger

	// writeMu orders Expire's node writes (held exclusively) against
	// Register's (shared: registrations run together): a node that
	// registers while it is being expired ends either down without a
	// session (and registers again) or ready with one, never down with one.
	writeMu sync.RWMutex

	mu       sync.Mutex
	sessions map[string]*session // by session ID
	byNode   map[string]*session // each node's current session
	// seen is when each node last called; a node not in it is first
	// noticed by Expire.
	seen    map[string]time.Time
	pending []*statusBatch
	queued  int // updates in pending
	// wake holds a token when updates are pending, full one when at
	// least StatusBatchSize are.
	wake, full chan struct{}
	// done is closed when Run ends; a stopped dispatcher refuses calls.
	done     chan struct{}
	stopOnce sync.Once
}

// session is one registration of a node's agent.
type session struct {
	id     string
	nodeID string
	// agentAddr is where the node's agent serves api.NodeLogsPath.
	agentAddr string
	// seq numbers the sets sent in this session; fingerprint is the last
	// one's.
	seq         uint64
	fingerprint [32]byte
}

// New makes the dispatcher of a leadership term. Every node the store
// holds counts as heard from now: the grace a new leader gives the agents
// to find it.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Propose == nil {
		return nil, errors.New("dispatcher: Config.Store and Config.Propose are required")
	}
	if cfg.HeartbeatPeriod <= 0 {
		cfg.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if cfg.GraceMultiplier <= 0 {
		cfg.GraceMultiplier = DefaultGraceMultiplier
	}
	if cfg.StatusBatchSize <= 0 {
		cfg.StatusBatchSize = DefaultStatusBatchSize
	}
	if cfg.StatusBatchDelay <= 0 {
		cfg.StatusBatchDelay = DefaultStatusBatchDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: map[string]*session{},
		byNode:   map[string]*session{},
		seen:     map[string]time.Time{},
		wake:     make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	now := cfg.now()
	err := cfg.Store.View(func(tx store.ReadTx) error {
		nodes, err := tx.Nodes()
		for _, n := range nodes {
			d.seen[n.ID] = now
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: read nodes: %w", err)
	}
	return d, nil
}

// HeartbeatPeriod is how often agents must call.
func (d *Dispatcher) HeartbeatPeriod() time.Duration { return d.cfg.HeartbeatPeriod }

// stopped reports whether Run has ended.
func (d *Dispatcher) stopped() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Beat records that the node is alive without a session: for nodes that
// show it otherwise than through the dispatcher's routes.
func (d *Dispatcher) Beat(nodeID string) {
	now := d.cfg.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen[nodeID] = now
}

// InSession reports whether the node has a session: it registered and has
// not been marked down since.
func (d *Dispatcher) InSession(nodeID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.byNode[nodeID]
	return ok
}

// AgentAddr is the address the node's agent registered (host:port of
// api.NodeLogsPath), while its session lasts.
func (d *Dispatcher) AgentAddr(nodeID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.byNode[nodeID]
	if !ok || s.agentAddr == "" {
		return "", false
	}
	return s.agentAddr, true
}

// touch checks that sessionID is the node's current session and records
// the call as a heartbeat.
func (d *Dispatcher) touch(nodeID, sessionID string) (*session, error) {
	if d.stopped() {
		return nil, ErrStopped
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.sessions[sessionID]
	if !ok || s.nodeID != nodeID {
		return nil, fmt.Errorf("session %q of node %s: %w: register again", sessionID, nodeID, ErrUnknownSession)
	}
	d.seen[nodeID] = d.cfg.now()
	return s, nil
}

// Register opens a session for the node nodeID, whose agent describes it
// in req and calls from remoteAddr (host:port; empty outside HTTP). The
// node's description and status (ready, at its address) are written in
// one Raft entry if they changed; a session the node had before ends.
func (d *Dispatcher) Register(ctx context.Context, nodeID, remoteAddr string, req api.SessionRequest) (api.SessionReply, error) {
	host, agentAddr, err := addresses(req.Addr, remoteAddr)
	if err != nil {
		return api.SessionReply{}, err
	}
	d.writeMu.RLock()
	defer d.writeMu.RUnlock()
	if d.stopped() {
		return api.SessionReply{}, ErrStopped
	}
	var node *swarm.Node
	for attempt := 1; ; attempt++ {
		node, err = d.recordNode(ctx, nodeID, host, req.Description)
		// Someone else (docker node update) changed the node between the
		// read and the write: read it again.
		if errors.Is(err, store.ErrVersionConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return api.SessionReply{}, err
		}
		break
	}
	s := &session{id: store.NewID(), nodeID: nodeID, agentAddr: agentAddr}
	d.mu.Lock()
	if old, ok := d.byNode[nodeID]; ok {
		delete(d.sessions, old.id)
	}
	d.sessions[s.id], d.byNode[nodeID] = s, s
	d.seen[nodeID] = d.cfg.now()
	d.mu.Unlock()
	d.log.Info("node registered", "node", nodeID, "hostname", node.Description.Hostname, "addr", host, "agent", agentAddr)
	return api.SessionReply{
		SessionID:       s.id,
		NodeID:          nodeID,
		HeartbeatPeriod: d.cfg.HeartbeatPeriod,
		Role:            node.Spec.Role,
		Managers:        d.cfg.managers(),
	}, nil
}

// recordNode writes the node as registered, if that changes it, and
// returns it as the store now holds it.
func (d *Dispatcher) recordNode(ctx context.Context, nodeID, host string, desc swarm.NodeDescription) (*swarm.Node, error) {
	var cur *swarm.Node
	if err := d.cfg.Store.View(func(tx store.ReadTx) error {
		var err error
		cur, err = tx.Node(nodeID)
		return err
	}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("node %s: %w", nodeID, ErrUnknownNode)
		}
		return nil, fmt.Errorf("register node %s: %w", nodeID, err)
	}
	next := registered(cur, host, desc)
	if sameJSON(cur.Description, next.Description) && sameJSON(cur.Status, next.Status) {
		return cur, nil
	}
	data, err := store.EncodeBatch(store.Update(next, cur.Version.Index))
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", nodeID, err)
	}
	if _, err := d.cfg.Propose(ctx, data); err != nil {
		return nil, fmt.Errorf("register node %s: %w", nodeID, err)
	}
	return next, nil
}

// registered is cur as its agent describes it, ready at host. The
// certificate information is the cluster's to say, not the node's; an
// agent that reports no hostname keeps the one the node joined with.
func registered(cur *swarm.Node, host string, desc swarm.NodeDescription) *swarm.Node {
	next := *cur // shallow: the shared parts are not changed
	desc.TLSInfo = cur.Description.TLSInfo
	if desc.Hostname == "" {
		desc.Hostname = cur.Description.Hostname
	}
	next.Description = desc
	if host == "" {
		host = cur.Status.Addr
	}
	next.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: host}
	return &next
}

// addresses derives the node's address (a host, for swarm.NodeStatus)
// and its agent's (host:port) from the address the agent registered and
// the one it called from: a registered address without a usable host
// (":4244", "0.0.0.0:4244") takes the caller's.
func addresses(registered, remote string) (host, agentAddr string, err error) {
	remoteHost := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remoteHost = h
	}
	if registered == "" {
		return remoteHost, "", nil
	}
	h, port, err := net.SplitHostPort(registered)
	if err != nil || port == "" {
		return "", "", fmt.Errorf("%w: session addr %q: want the host:port the agent serves node logs on", ErrInvalid, registered)
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = remoteHost
	}
	if h == "" {
		return "", "", fmt.Errorf("%w: session addr %q names no host and the caller's address is unknown", ErrInvalid, registered)
	}
	return h, net.JoinHostPort(h, port), nil
}
