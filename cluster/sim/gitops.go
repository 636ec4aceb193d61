package sim

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/stackstate"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/reconciler"
	"github.com/swarmops/swarmops/stackspec"
)

// GitOps in the simulation (Config.GitOps): the reconciler's Stepper runs
// at the start of a step, before the agents and the control loop, when
// the store or the head changed since it last ran or a poll interval
// passed, as the leader's loop runs it; it reads the head of an in-memory
// repository (gitops_repo.go) and writes through the store as the API
// would (gitops_writer.go). While the faults are on, a
// step now and then pushes a commit (gitops_commits.go), or an operator
// changes a stack's service by hand (scales it, sets its environment or
// image, rolls it back, removes it) or asks for a quarantined revision to
// be retried. The generic faults leave the stacks' services alone: hand
// changes to them are these. Each stack has its own options, fixed for
// the run: rollback_stack and self_heal, each on or off.
//
// The invariants (gitops_invariants.go) are checked around every step of
// the reconciler and, once the cluster is quiet, on the end state.

// gitops is what the simulation keeps for the reconciler.
type gitops struct {
	// rng draws every GitOps choice, apart from the generic faults' draws,
	// so that a run without GitOps draws exactly as before.
	rng     *rand.Rand
	repo    *repo
	stepper *reconciler.Stepper
	tag     int // numbers the good images releases roll out

	// handEdited holds the services (full names) an operator changed since
	// the reconciler last wrote them.
	handEdited map[string]bool
	// handAt is, by service (full name), the operator's last change of
	// it the reconciler has not written over yet: the head and the step.
	handAt map[string]undo
	// retried is, by stack, the digest the operator asked to retry.
	retried map[string]string
	// latest is, by stack, the digest of the deployment the reconciler
	// started last; rolledBack the digest of that deployment when one of
	// the services it wrote rolled back automatically.
	latest, rolledBack map[string]string
	// written is, by service ID, the reconciler's last write of the
	// service's spec, unless the operator wrote it since; undone the spec
	// of such a write that the service then rolled back by itself, with
	// the head at the time.
	written map[string]write
	undone  map[string]undo
	// retriedAt is, by stack, the last step the operator asked a retry in.
	retriedAt map[string]int
	// goingBackFailed holds, by service ID, the stack of the services
	// that rolled back a spec the reconciler wrote for no deployment
	// (going back to the last good revision, or healing), until the
	// reconciler or the operator writes them again.
	goingBackFailed map[string]string
	// ranAt is when the reconciler last stepped: the store's index, the
	// head and the time as it started.
	ranAt ranAt
	// reports and repoErr are what the last step returned.
	reports []api.StackReport
	repoErr error
	// seen counts what happened in the run, for the test that shows every
	// path is reached.
	seen map[string]int
}

type ranAt struct {
	index uint64
	head  string
	time  time.Time
}

// write is a service spec the reconciler wrote: the spec's digest, the
// digest of the deployment it was written for ("" when it was written
// for no deployment in flight: a stack rolled back to its last good
// revision, or healed), and when.
type write struct {
	stack, spec, deployment string
	at                      time.Time
}

// undo is a spec a service rolled back by itself: when the reconciler
// wrote it, the step the rollback was seen at, and the head then.
type undo struct {
	spec, head string
	written    time.Time
	step       int
}

// newGitOps sets up the repository with its first commit: one to three
// stacks, each with its options.
func (s *Sim) newGitOps() {
	g := &gitops{
		rng:        rand.New(rand.NewPCG(s.cfg.Seed, 0x617)),
		handEdited: map[string]bool{},
		handAt:     map[string]undo{},
		retried:    map[string]string{},
		latest:     map[string]string{},
		rolledBack: map[string]string{},
		written:    map[string]write{},
		undone:     map[string]undo{},
		retriedAt:  map[string]int{},
		seen:       map[string]int{},

		goingBackFailed: map[string]string{},
	}
	g.repo = &repo{seed: s.cfg.Seed, byID: map[string]*commit{}, options: map[string]api.StackOptions{}}
	first := &commit{kind: "initial", stacks: map[string]stackAt{}}
	for _, name := range stackNames[:1+g.rng.IntN(len(stackNames))] {
		g.repo.options[name] = api.StackOptions{RollbackStack: g.rng.IntN(3) != 0, SelfHeal: g.rng.IntN(2) == 0}
		first.stacks[name] = stackAt{model: newStackModel(g.rng, &g.tag)}
	}
	g.repo.add(first, s.now)
	g.stepper = &reconciler.Stepper{
		Store:  s.st,
		Writer: storeWriter{s},
		Now:    func() time.Time { return s.now },
		Logger: slog.New(logHandler{s: s}),
		Render: func(_ context.Context, commit, name string) *reconciler.Rendered { return g.repo.render(commit, name) },
	}
	s.git = g
	for _, name := range slices.Sorted(maps.Keys(first.stacks)) {
		s.logf("git: stack %s %+v: %s", name, g.repo.options[name], describeModel(first.stacks[name].model))
	}
	s.logf("git: commit %s initial", short(first.id))
}

// reconcile is the reconciler's step: maybe a commit or an operator's
// change first (while the faults are on), then the Stepper against the
// head, with the GitOps invariants checked around it.
func (s *Sim) reconcile() error {
	g := s.git
	if s.faults && g.rng.IntN(4) == 0 {
		if err := s.gitFault(); err != nil {
			return err
		}
	}
	head := g.repo.head()
	// As the leader's loop, the reconciler steps after a change to the
	// store (its own writes included) or to the head, and at every poll.
	if s.st.LastIndex() == g.ranAt.index && head.id == g.ranAt.head && s.now.Sub(g.ranAt.time) < reconciler.DefaultPollInterval {
		return nil
	}
	g.ranAt = ranAt{index: s.st.LastIndex(), head: head.id, time: s.now}
	before, err := s.readStacks()
	if err != nil {
		return err
	}
	writes := s.index
	g.reports, g.repoErr = g.stepper.Step(ctx, head.snap, false, nil)
	if (g.repoErr != nil) != (head.snap.Err != nil) {
		return fmt.Errorf("reconciler step at %s: error %v, yet the commit's own error is %v", short(head.id), g.repoErr, head.snap.Err)
	}
	after, err := s.readStacks()
	if err != nil {
		return err
	}
	if err := s.checkReconcilerStep(head, before, after); err != nil {
		return fmt.Errorf("gitops: %w", err)
	}
	if s.index != writes {
		g.count("reconciler wrote")
	}
	return nil
}

func (g *gitops) count(what string) { g.seen[what]++ }

// gitFault is one GitOps event: a commit most of the time, else an
// operator's hand change or retry.
func (s *Sim) gitFault() error {
	g := s.git
	switch k := g.rng.IntN(10); {
	case k < 7:
		c := g.nextCommit()
		g.repo.add(c, s.now)
		g.count("commit: " + c.class)
		s.logf("git: commit %s %s", short(c.id), c.kind)
		for _, name := range slices.Sorted(maps.Keys(c.stacks)) {
			rr := c.snap.Stacks[name]
			switch {
			case rr == nil:
			case rr.Err != nil:
				s.logf("git:   %s: %v", name, rr.Err)
			default:
				s.logf("git:   %s %s: %s", name, shortDigest(rr.Revision.Digest), describeModel(c.stacks[name].model))
			}
		}
		if c.snap.Err != nil {
			s.logf("git:   %v", c.snap.Err)
		}
		return nil
	case k < 9:
		return s.handEdit()
	default:
		return s.retry()
	}
}

// shortDigest is a digest's first ten hex digits, for the log.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(len(d), 10)]
}

// handEdit is an operator's `docker service update|rollback|rm` of a
// stack's service, made through the API (as the operator).
func (s *Sim) handEdit() error {
	g := s.git
	st, err := s.read()
	if err != nil {
		return err
	}
	var svcs []*swarm.Service
	for _, sv := range st.services {
		if sv.Spec.Labels[api.LabelNamespace] != "" {
			svcs = append(svcs, sv)
		}
	}
	if len(svcs) == 0 {
		return nil
	}
	sv := svcs[g.rng.IntN(len(svcs))]
	switch k := g.rng.IntN(10); {
	case k == 0:
		g.handEdited[sv.Spec.Name] = true
		g.handAt[sv.Spec.Name] = undo{head: g.repo.head().id, step: s.step}
		delete(g.written, sv.ID)
		delete(g.undone, sv.ID)
		delete(g.goingBackFailed, sv.ID)
		g.count("hand rm")
		s.logf("operator: docker service rm %s", sv.Spec.Name)
		m := store.Delete(store.TableServices, sv.ID, 0)
		m.By = byOperator
		return s.apply(byOperator, []store.Mutation{m})
	case k < 3:
		return s.handRollback(sv)
	}
	c, err := store.Clone(sv)
	if err != nil {
		return err
	}
	kind, what := "", ""
	switch g.rng.IntN(3) {
	case 0:
		if c.Spec.Mode.Replicated == nil {
			return nil
		}
		n := uint64(g.rng.IntN(4))
		c.Spec.Mode.Replicated.Replicas = &n
		kind, what = "scale", fmt.Sprintf("docker service scale %s=%d", sv.Spec.Name, n)
	case 1:
		g.tag++
		c.Spec.TaskTemplate.ContainerSpec.Env = append(c.Spec.TaskTemplate.ContainerSpec.Env, fmt.Sprintf("DEBUG=%d", g.tag))
		kind, what = "env", "docker service update --env-add DEBUG "+sv.Spec.Name
	default:
		g.tag++
		c.Spec.TaskTemplate.ContainerSpec.Image = fmt.Sprintf("app:hotfix%d", g.tag)
		kind, what = "image", "docker service update --image "+c.Spec.TaskTemplate.ContainerSpec.Image+" "+sv.Spec.Name
	}
	prev, err := store.Clone(sv)
	if err != nil {
		return err
	}
	c.PreviousSpec, c.UpdateStatus, c.ServiceStatus = &prev.Spec, nil, nil
	s.roll.restore[sv.ID] = specJSON(sv.Spec)
	return s.handWrite(sv, c, kind, what)
}

// handRollback is `docker service rollback`, as the API makes it: the
// spec and the previous spec swap and the update status says a rollback
// was asked for.
func (s *Sim) handRollback(sv *swarm.Service) error {
	if sv.PreviousSpec == nil {
		return nil
	}
	c, err := s.manualRollback(sv)
	if err != nil {
		return err
	}
	return s.handWrite(sv, c, "rollback", "docker service rollback "+sv.Spec.Name)
}

// handWrite writes next over old as the operator, remembering that old
// is the operator's now, not git's.
func (s *Sim) handWrite(old, next *swarm.Service, kind, what string) error {
	g := s.git
	g.handEdited[old.Spec.Name] = true
	g.handAt[old.Spec.Name] = undo{head: g.repo.head().id, step: s.step}
	// The operator's write clears the update status: whatever rolled back
	// before, the reconciler cannot tell any more.
	delete(g.written, old.ID)
	delete(g.undone, old.ID)
	delete(g.goingBackFailed, old.ID)
	g.count("hand " + kind)
	s.logf("operator: %s: %s", what, describeService(next))
	m := store.Update(next, old.Meta.Version.Index)
	m.By = byOperator
	return s.apply(byOperator, []store.Mutation{m})
}

// retry is `swarmops stack retry` for a stack with a quarantined
// revision, as the API's retryStack writes it.
func (s *Sim) retry() error {
	g := s.git
	var recs []*api.Stack
	err := s.st.View(func(tx store.ReadTx) error {
		all, err := tx.Stacks()
		for _, st := range all {
			if len(st.Quarantined) > 0 {
				recs = append(recs, st)
			}
		}
		return err
	})
	if err != nil || len(recs) == 0 {
		return err
	}
	rec := recs[g.rng.IntN(len(recs))]
	c, err := store.Clone(rec)
	if err != nil {
		return err
	}
	c.Retry = c.Quarantined[0].Digest
	g.retried[rec.Name], g.retriedAt[rec.Name] = c.Retry, s.step
	g.count("retry asked")
	s.logf("operator: swarmops stack retry %s (%s)", rec.Name, shortDigest(c.Retry))
	m := store.Update(c, rec.Version.Index)
	m.By = byOperator
	return s.apply(byOperator, []store.Mutation{m})
}

// stackState is one stack as a step of the reconciler sees it.
type stackState struct {
	rec  *api.Stack
	spec *api.StackSpec
	// objects names every object of the stack ("service shop_web") with its
	// ID and version, so that a write that changes nothing in the spec
	// still shows.
	objects map[string]string
	// services are the stack's services by name.
	services map[string]*swarm.Service
}

// readStacks reads every stack the repository or the store knows.
func (s *Sim) readStacks() (map[string]stackState, error) {
	out := map[string]stackState{}
	err := s.st.View(func(tx store.ReadTx) error {
		names := map[string]bool{}
		for name := range s.git.repo.options {
			names[name] = true
		}
		recs, err := tx.Stacks()
		if err != nil {
			return err
		}
		byName := map[string]*api.Stack{}
		for _, r := range recs {
			names[r.Name], byName[r.Name] = true, r
		}
		for name := range names {
			st, err := readStack(tx, name)
			if err != nil {
				return err
			}
			st.rec = byName[name]
			out[name] = st
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stacks: %w", err)
	}
	return out, nil
}

func readStack(tx store.ReadTx, name string) (stackState, error) {
	st := stackState{objects: map[string]string{}, services: map[string]*swarm.Service{}}
	var err error
	if st.spec, err = stackstate.Stack(tx, name); err != nil {
		return st, err
	}
	svcs, err := tx.ServicesByStack(name)
	if err != nil {
		return st, err
	}
	for _, sv := range svcs {
		st.services[sv.Spec.Name] = sv
		st.objects["service "+sv.Spec.Name] = fmt.Sprintf("%s@%d", sv.ID, sv.Meta.Version.Index)
	}
	secrets, err := tx.SecretsByStack(name)
	if err != nil {
		return st, err
	}
	for _, o := range secrets {
		st.objects["secret "+o.Spec.Name] = fmt.Sprintf("%s@%d", o.ID, o.Meta.Version.Index)
	}
	configs, err := tx.ConfigsByStack(name)
	if err != nil {
		return st, err
	}
	for _, o := range configs {
		st.objects["config "+o.Spec.Name] = fmt.Sprintf("%s@%d", o.ID, o.Meta.Version.Index)
	}
	networks, err := tx.NetworksByStack(name)
	if err != nil {
		return st, err
	}
	for _, o := range networks {
		st.objects["network "+o.Name] = o.ID
	}
	return st, nil
}

// serviceDigest is a service spec's digest, "" for none.
func serviceDigest(spec *api.StackSpec, name string) string {
	if spec == nil {
		return ""
	}
	svc, ok := spec.Services[name]
	if !ok {
		return ""
	}
	return stackspec.Digest(svc)
}

// logHandler writes the reconciler's log lines into the step log.
type logHandler struct {
	s     *Sim
	attrs []slog.Attr
}

// Enabled leaves out the debug lines (every field of every change): the
// store writes they lead to are in the step log already.
func (h logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.s.logf("reconciler: %s", b.String())
	return nil
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{s: h.s, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h logHandler) WithGroup(string) slog.Handler { return h }
