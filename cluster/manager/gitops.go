package manager

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// ReconcilerCaller is who the leader's git reconciler writes as: the name
// the API records on its changes.
const ReconcilerCaller = "swarmops-reconciler"

// GitOpsEnv is what the git reconciler needs of the manager it leads on.
type GitOpsEnv struct {
	Store *store.Store
	// API serves requests with this manager's Engine API in process, as
	// the reconciler.
	API http.RoundTripper
	// Open decrypts secret data sealed under the cluster key.
	Open func(sealed []byte) ([]byte, error)
	// Dir is a directory of the manager's own for the git mirror.
	Dir    string
	Now    func() time.Time
	Logger *slog.Logger
}

// GitOpsTerm is the git reconciler of one term.
type GitOpsTerm interface {
	apiserver.GitOps
	// Run reconciles until ctx ends (the term does).
	Run(ctx context.Context)
}

// GitOps builds the git reconciler of a term. cmd wires the reconciler
// package in, so the cluster packages do not depend on it.
type GitOps func(env GitOpsEnv) GitOpsTerm

// runGitOps runs the git reconciler for every term this manager leads.
func (m *Manager) runGitOps(ctx context.Context) {
	if m.cfg.GitOps == nil {
		return
	}
	log := m.cfg.logger().With("component", "reconciler")
	m.eachTerm(ctx, log, "reconciler", func(lctx context.Context) {
		term := m.cfg.GitOps(GitOpsEnv{
			Store:  m.store,
			API:    m.engine.InProcess(apiserver.Caller{NodeID: ReconcilerCaller, Role: ca.RoleManager}),
			Open:   m.sealer.Open,
			Dir:    filepath.Join(m.dir.Dir, "reconciler"),
			Now:    m.cfg.now,
			Logger: log,
		})
		m.gitops.Store(&term)
		term.Run(lctx)
		m.gitops.CompareAndSwap(&term, nil)
	})
}

// API is a transport to this manager's Engine API in process, as caller
// (a client name): writes reaching a follower are forwarded to the leader.
func (m *Manager) API(caller string) http.RoundTripper {
	return m.engine.InProcess(apiserver.Caller{NodeID: caller, Role: ca.RoleClient})
}

// gitopsRoutes is the apiserver's view of the reconciler: this term's, if
// this manager leads and it runs.
type gitopsRoutes struct{ active *atomic.Pointer[GitOpsTerm] }

var errNoReconciler = errors.New("the git reconciler is not running on the leader yet; try again in a moment")

func (g gitopsRoutes) Sync(ctx context.Context, stack string, force bool) error {
	t := g.active.Load()
	if t == nil {
		return errNoReconciler
	}
	return (*t).Sync(ctx, stack, force)
}

func (g gitopsRoutes) Report(ctx context.Context) (api.Report, error) {
	t := g.active.Load()
	if t == nil {
		return api.Report{}, errNoReconciler
	}
	return (*t).Report(ctx)
}
