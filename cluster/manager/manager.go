package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/raftnode"
	"github.com/swarmops/swarmops/cluster/seal"
	"github.com/swarmops/swarmops/cluster/store"
)

// Config says where a manager keeps its state and how it logs.
type Config struct {
	DataDir string
	// Timeouts tune Raft; zero fields take the defaults.
	Timeouts raftnode.Timeouts
	Logger   *slog.Logger
	// Now is the clock certificates are issued by and heartbeats are
	// judged by; nil means time.Now.
	Now func() time.Time
	// HeartbeatPeriod is how often agents must call the leader's
	// dispatcher; a node silent for three periods is marked down. Zero
	// means dispatcher.DefaultHeartbeatPeriod (5s, as Swarm).
	HeartbeatPeriod time.Duration
	// Agent, if set, runs the node's agent: beside the manager on a
	// manager, alone on a worker.
	Agent Agent
	// GitOps, if set, runs the git reconciler while this manager leads.
	GitOps GitOps
}

// readHeaderTimeout bounds how long a client may take to send its request
// headers.
const readHeaderTimeout = 10 * time.Second

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Manager is a running manager node.
type Manager struct {
	cfg      Config
	dir      DataDir
	identity Identity
	root     *ca.RootCA
	creds    *ca.Credentials
	sealer   *seal.Sealer
	store    *store.Store
	mux      *raftnode.Mux
	raft     *raftnode.Node
	http     *http.Server
	served   chan error

	// demoted is closed when the cluster demotes this node (Demoted).
	demoted chan struct{}

	// agent holds the routes the node's own agent serves to managers.
	agent agentRoutes

	// dispatcher serves the agents while this manager leads; nil
	// otherwise.
	dispatcher atomic.Pointer[activeDispatcher]
	// engine is the Engine API server; gitops the reconciler of the term
	// this manager leads, if any.
	engine *apiserver.Server
	gitops atomic.Pointer[GitOpsTerm]

	// stopLoops ends the leader's loops at shutdown.
	stopLoops context.CancelFunc
	loops     sync.WaitGroup

	stopOnce sync.Once
	stopErr  error
}

// Identity is who this manager is.
func (m *Manager) Identity() Identity { return m.identity }

// Store is the manager's replica of the cluster state.
func (m *Manager) Store() *store.Store { return m.store }

// Raft is the manager's Raft node.
func (m *Manager) Raft() *raftnode.Node { return m.raft }

// RootCA is the cluster's root, with its key on managers.
func (m *Manager) RootCA() *ca.RootCA { return m.root }

// Sealer seals secret data under the cluster key.
func (m *Manager) Sealer() *seal.Sealer { return m.sealer }

// Addr is the address the manager listens on.
func (m *Manager) Addr() net.Addr { return m.mux.Addr() }

// PeerTLS is the client TLS config this manager uses to reach other
// managers: Raft peers, and the leader when forwarding a write.
func (m *Manager) PeerTLS() *tls.Config { return m.root.ClientConfig(m.creds) }

// Open starts the manager whose data directory cfg names, as it was left:
// the node rejoins its Raft group from its log and snapshots.
func Open(cfg Config) (*Manager, error) {
	dir := DataDir{Dir: cfg.DataDir}
	id, err := dir.LoadIdentity()
	if err != nil {
		return nil, err
	}
	if id.Role != ca.RoleManager {
		return nil, fmt.Errorf("%s holds a %s node, not a manager", cfg.DataDir, id.Role)
	}
	return start(cfg, dir, id)
}

func start(cfg Config, dir DataDir, id Identity) (*Manager, error) {
	log := cfg.logger()
	root, err := dir.Certs().LoadRootCA()
	if err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	if !root.CanSign() {
		return nil, fmt.Errorf("start manager: %s has no CA key: a manager needs it to admit nodes", dir.Certs().CAKeyFile())
	}
	cert, err := dir.Certs().LoadNode(root)
	if err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	key, err := seal.ReadKeyFile(dir.ClusterKeyFile())
	if err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	sealer, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m := &Manager{
		cfg:      cfg,
		dir:      dir,
		identity: id,
		root:     root,
		creds:    ca.NewCredentials(cert),
		sealer:   sealer,
		store:    store.New(),
		served:   make(chan error, 1),
		demoted:  make(chan struct{}),
	}
	listen := id.Listen
	if listen == "" {
		listen = id.Advertise
	}
	m.mux, err = raftnode.Listen(listen, raftnode.MuxConfig{
		ServerTLS: root.ServerConfig(m.creds),
		PeerTLS:   root.ClientConfig(m.creds),
		AuthorizeRaft: func(st tls.ConnectionState) error {
			_, err := ca.Authorize(st, ca.RoleManager)
			return err
		},
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m.raft, err = raftnode.New(raftnode.Config{
		NodeID:      id.NodeID,
		DataDir:     dir.Dir,
		Advertise:   id.Advertise,
		StreamLayer: m.mux.Raft(),
		FSM:         m.store,
		Timeouts:    cfg.Timeouts,
		Logger:      log.With("component", "raft"),
	})
	if err != nil {
		m.mux.Close()
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m.http = m.newHTTPServer()
	m.http.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	go func() { m.served <- m.http.Serve(m.mux.HTTP()) }()
	var loops context.Context
	loops, m.stopLoops = context.WithCancel(context.Background())
	m.loops.Add(5)
	go func() {
		defer m.loops.Done()
		m.runGitOps(loops)
	}()
	go func() {
		defer m.loops.Done()
		m.runAgent(loops)
	}()
	go func() {
		defer m.loops.Done()
		m.runMembership(loops)
	}()
	go func() {
		defer m.loops.Done()
		m.runDispatcher(loops)
	}()
	go func() {
		defer m.loops.Done()
		m.watchDemotion(loops)
	}()
	log.Info("manager started", "node", id.NodeID, "addr", m.mux.Addr().String(), "advertise", id.Advertise)
	return m, nil
}

// WaitLeader blocks until the Raft group has a leader this node knows of,
// or ctx ends. Leadership is learnt from Raft's own messages, so the wait
// polls the node's view rather than sleeping a guessed time.
func (m *Manager) WaitLeader(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if id, _ := m.raft.Leader(); id != "" {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for a leader: %w", ctx.Err())
		}
	}
}

// waitLeadership blocks until this node leads, or ctx ends.
func (m *Manager) waitLeadership(ctx context.Context) error {
	for leader := range m.raft.WatchLeadership(ctx) {
		if leader {
			return nil
		}
	}
	return fmt.Errorf("wait to lead: %w", context.Cause(ctx))
}

// Propose commits data through Raft and waits until this manager's store
// has applied it.
func (m *Manager) Propose(ctx context.Context, data []byte) (uint64, error) {
	return m.raft.Propose(ctx, data)
}

// Shutdown stops serving, leaves Raft cleanly and closes the listener. It
// is safe to call more than once.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.stopOnce.Do(func() {
		var errs []error
		m.stopLoops()
		m.loops.Wait()
		if err := m.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop API server: %w", err))
		}
		if err := m.raft.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("stop raft: %w", err))
		}
		if err := m.mux.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener: %w", err))
		}
		m.stopErr = errors.Join(errs...)
	})
	return m.stopErr
}

// Cluster reads the cluster record from this manager's store.
func (m *Manager) Cluster() (*api.Cluster, error) {
	var c *api.Cluster
	err := m.store.View(func(tx store.ReadTx) error {
		var err error
		c, err = tx.Cluster()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read cluster record: %w", err)
	}
	return c, nil
}

// JoinTokens are the cluster's current join tokens.
func (m *Manager) JoinTokens() (ca.JoinTokens, error) {
	c, err := m.Cluster()
	if err != nil {
		return ca.JoinTokens{}, err
	}
	return ca.JoinTokens{Worker: c.JoinTokens.Worker, Manager: c.JoinTokens.Manager}, nil
}

// Config is the configuration the manager was started with.
func (m *Manager) Config() Config { return m.cfg }
