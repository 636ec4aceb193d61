package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/swarmops/swarmops/cluster/store"
)

// Raft is what the server needs of the manager's Raft node. The lead's
// manager adapts cluster/raftnode to it; tests use a fake that applies
// proposals to the store in order.
type Raft interface {
	// Propose commits data (a store.EncodeBatch batch) and returns once
	// this manager's store has applied it, with its log index, or the
	// store's error for it (errors.Is-able against store's sentinels).
	// Any other error means the entry was not (or not knowably) committed:
	// the API answers 503.
	Propose(ctx context.Context, data []byte) (index uint64, err error)
	// IsLeader reports whether this manager can commit.
	IsLeader() bool
	// Leader names the leader as this manager knows it; addr is where its
	// API listens (the same port as Raft). Both are empty when no leader
	// is known.
	Leader() (id, addr string)
	// Servers lists the Raft configuration. Server IDs are node IDs.
	Servers() ([]RaftServer, error)
	// Stats reads this manager's Raft state.
	Stats() RaftStats
}

// RaftServer is one member of the Raft configuration.
type RaftServer struct {
	ID      string
	Address string
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string
	// Reachability is "reachable", "unreachable" or "unknown" as the
	// leader last saw it; empty is read as reachable.
	Reachability string
}

// RaftStats is a point-in-time view of this manager's Raft state.
type RaftStats struct {
	State             string `json:"state"`
	Term              uint64 `json:"term"`
	CommitIndex       uint64 `json:"commit_index"`
	AppliedIndex      uint64 `json:"applied_index"`
	LastLogIndex      uint64 `json:"last_log_index"`
	LastSnapshotIndex uint64 `json:"last_snapshot_index"`
	// LastContact is when this follower last heard from the leader.
	LastContact time.Time `json:"last_contact,omitzero"`
}

// Sealer encrypts secret data before it is proposed, so that the Raft log,
// snapshots and the store only ever hold ciphertext.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
}

// Joiner admits a node presenting a join token: it checks the token,
// signs the node's CSR and records the node (and, for managers, adds the
// Raft voter). Errors made with NewError keep their status; ca's token
// errors answer 403; anything else 500.
type Joiner interface {
	Join(ctx context.Context, req JoinRequest) (JoinResponse, error)
}

// VersionInfo describes this swarmops build for /version, /info and the
// Server header.
type VersionInfo struct {
	// Version is swarmops's version ("0.4.0" or "dev").
	Version   string
	GitCommit string
	BuildTime string
	// APIVersion is the newest Engine API version served (default
	// "1.41"); MinAPIVersion the oldest (default "1.24").
	APIVersion    string
	MinAPIVersion string
	// OS and Arch default to this binary's GOOS and GOARCH.
	OS   string
	Arch string
	// KernelVersion is the manager's kernel, when known.
	KernelVersion string
}

// Config assembles a Server from interfaces; every field but Forwarder,
// Joiner, Logs, Now, Logger, MaxBodyBytes and ForwardWait is required.
type Config struct {
	// NodeID is this manager's node ID (the CN of its certificate and its
	// Raft server ID).
	NodeID string
	Store  *store.Store
	Raft   Raft
	// Forwarder carries writes that reach a follower to the leader: an
	// http.RoundTripper dialing with this manager's client TLS config.
	// Without one, a follower answers writes with 503.
	Forwarder http.RoundTripper
	Sealer    Sealer
	// Joiner serves POST /swarmops/v1/join; without one it answers 501.
	Joiner Joiner
	// Logs fetches task logs from the nodes for GET /services/{id}/logs
	// and /tasks/{id}/logs; only the leader's is used. Without one those
	// routes answer 501.
	Logs TaskLogs
	// GitOps is the leader's git reconciler, for /swarmops/v1/report and
	// /sync; without one those routes answer 501.
	GitOps GitOps
	// Now is the clock for times the API itself sets (a rollback's
	// UpdateStatus.StartedAt, a removed node's orphaned tasks); default
	// time.Now.
	Now     func() time.Time
	Logger  *slog.Logger
	Version VersionInfo
	// MaxBodyBytes bounds request bodies (default 4 MiB: a config may
	// hold 1000 KiB, base64-encoded in JSON).
	MaxBodyBytes int64
	// ForwardWait bounds how long a follower waits, after the leader
	// answered a forwarded write, for its own store to apply that entry
	// (default 5s); past it the answer is returned anyway.
	ForwardWait time.Duration
}

// DefaultAPIVersion is the newest Engine API version served unless
// VersionInfo says otherwise: the version Docker's 20.10 engines speak.
const DefaultAPIVersion = "1.41"

// Server is the HTTPS Engine API every manager serves.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	raft    Raft
	routes  []route
	mux     *http.ServeMux
	forward http.Handler

	// writeMu makes "read, check, propose" atomic for the writes whose
	// checks span objects the store does not check itself (published port
	// conflicts and allocation, quorum on demotion). Every write reaches
	// the leader's API, so this lock covers the whole cluster.
	writeMu sync.Mutex
}

const (
	defaultMaxBody     = 4 << 20
	defaultForwardWait = 5 * time.Second
)

// New builds a Server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBody
	}
	if cfg.ForwardWait <= 0 {
		cfg.ForwardWait = defaultForwardWait
	}
	v := &cfg.Version
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.APIVersion == "" {
		v.APIVersion = DefaultAPIVersion
	}
	if v.MinAPIVersion == "" {
		v.MinAPIVersion = "1.24"
	}
	if v.OS == "" {
		v.OS = runtime.GOOS
	}
	if v.Arch == "" {
		v.Arch = runtime.GOARCH
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: cfg.Store, raft: cfg.Raft}
	s.routes = s.routeTable()
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.forward = s.forwarder()
	return s
}

// Handler serves the API. It expects requests from a TLS listener
// configured with ca's ServerConfig (client certificates verified), whose
// http.Server also installs ServeJoinConn for join connections.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// RouteInfo names one route of the API, for tests (and tools) that must
// cover every route.
type RouteInfo struct {
	Method string
	// Path is the unversioned path pattern, with {name} wildcards; every
	// Engine API route is also served under /v{version}.
	Path string
	// Write routes are forwarded to the leader.
	Write bool
	// Join routes are the only ones a join connection may reach.
	Join bool
}

// Routes lists every route the server answers.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(s.routes))
	for _, rt := range s.routes {
		if rt.internal {
			continue // not there for anyone who could call it
		}
		out = append(out, RouteInfo{Method: rt.method, Path: rt.path, Write: rt.write, Join: rt.join})
	}
	return out
}
