package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/swarmops/swarmops/cluster/store"
)

// Defaults of Config's tunables.
const (
	// DefaultDebounce is how long the loop lets a burst of store changes
	// gather before a pass handles them all.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultMaxBatch bounds the mutations of one proposal (a larger
	// service plan still goes whole), as SwarmKit bounds its transactions.
	DefaultMaxBatch = 200
	// maxPasses bounds one Settle: a pass that keeps changing things or
	// meeting conflicts after this many is left to a later Settle, after a
	// backoff.
	maxPasses = 8
	// minBackoff and maxBackoff bound the wait after a Settle that did not
	// settle or failed.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Config is what the loop runs on.
type Config struct {
	// Store is the replicated state the loop reads and watches.
	Store *store.Store
	// Propose commits an encoded batch through Raft and returns its index
	// and the store's error for it (the applier's, unwrapped: a refused
	// batch gives store.ErrVersionConflict and the like). Any other error
	// means the batch may or may not be committed.
	Propose func(ctx context.Context, data []byte) (uint64, error)
	// Barrier, when set, returns once every entry committed before it has
	// been applied to Store. The loop calls it before its first pass and
	// after a proposal whose outcome is unknown, so that it never plans
	// from a store that lacks writes already committed (its own
	// included), which could make it create a task twice.
	Barrier func(ctx context.Context) error
	// Now is the time planners are given; time.Now when nil.
	Now func() time.Time
	// After is the loop's timer (debounce, restart delays, backoff);
	// time.After when nil.
	After func(d time.Duration) <-chan time.Time
	// NewID names new tasks; store.NewID when nil.
	NewID func() string
	// Logger gets one line per committed or refused batch (debug) and
	// errors; discarded when nil.
	Logger *slog.Logger
	// Debounce is DefaultDebounce when zero; negative runs a pass as soon
	// as a change is seen.
	Debounce time.Duration
	// MaxBatch is DefaultMaxBatch when zero.
	MaxBatch int
}

// Loop is the leader's control loop. Its only state is when to run next;
// everything it decides is read from the store, so a new leader's Loop
// continues where the old one stopped.
type Loop struct {
	cfg      Config
	log      *slog.Logger
	debounce time.Duration
	maxBatch int
	// needBarrier is set when the store may lack a committed entry.
	needBarrier bool
	// settled, when set, is told what each of Run's Settles did (tests).
	settled func(Result, error)
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Loop, error) {
	if cfg.Store == nil {
		return nil, errors.New("control: Config.Store is nil: the loop needs the store to read and watch")
	}
	if cfg.Propose == nil {
		return nil, errors.New("control: Config.Propose is nil: the loop needs a way to commit its decisions")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.NewID == nil {
		cfg.NewID = store.NewID
	}
	l := &Loop{cfg: cfg, log: cfg.Logger, debounce: cfg.Debounce, maxBatch: cfg.MaxBatch, needBarrier: cfg.Barrier != nil}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.debounce == 0 {
		l.debounce = DefaultDebounce
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatch
	}
	return l, nil
}

// Run runs a Loop made from cfg until ctx ends; see Loop.Run.
func Run(ctx context.Context, cfg Config) error {
	l, err := New(cfg)
	if err != nil {
		return err
	}
	return l.Run(ctx)
}

// Run settles the cluster, then sleeps until a relevant change in the store
// (after the debounce), the earliest wake the plans asked for, or the end
// of ctx, and starts again. Conflicts that outlast a Settle and errors
// (Raft unavailable, leadership lost) are retried after a growing backoff.
// It returns ctx's error once ctx is done, and nothing else.
func (l *Loop) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		res, err := l.Settle(ctx)
		if l.settled != nil {
			l.settled(res, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !res.Settled {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if err != nil {
				l.log.Warn("control loop: pass failed; retrying", "in", backoff, "err", err)
			} else {
				l.log.Warn("control loop: not settled; retrying", "in", backoff, "passes", res.Passes, "conflicts", res.Conflicts)
			}
			if err := l.sleep(ctx, backoff); err != nil {
				return err
			}
			continue
		}
		backoff = 0
		if err := l.wait(ctx, res.Index, res.Wake); err != nil {
			return err
		}
	}
}

// Result is what one Settle did.
type Result struct {
	// Passes is how many passes ran.
	Passes int
	// Committed counts the mutations committed.
	Committed int
	// Conflicts counts the proposals the store refused, mostly because
	// the plan was stale; their passes were rerun.
	Conflicts int
	// Settled reports whether the last pass found nothing to change and
	// met no conflict.
	Settled bool
	// Index is the log index of the last pass's snapshot: later changes
	// are what the loop has not seen.
	Index uint64
	// Wake is the earliest time a plan of the last pass asked to be run
	// again; zero when none did.
	Wake time.Time
}

// Settle runs passes — enforce and orchestrate, commit, schedule, commit —
// until one changes nothing and meets no conflict, or maxPasses ran. Each
// pass plans from a fresh snapshot, so a conflict only costs a rerun.
func (l *Loop) Settle(ctx context.Context) (Result, error) {
	var res Result
	for res.Passes < maxPasses {
		if l.needBarrier {
			if err := l.cfg.Barrier(ctx); err != nil {
				return res, fmt.Errorf("control: wait for the store to catch up: %w", err)
			}
			l.needBarrier = false
		}
		res.Passes++
		p, err := l.pass(ctx)
		res.Committed += p.committed
		res.Conflicts += p.conflicts
		res.Index, res.Wake = p.index, p.wake
		if err != nil {
			l.needBarrier = l.cfg.Barrier != nil
			return res, err
		}
		if p.committed == 0 && p.conflicts == 0 {
			res.Settled = true
			return res, nil
		}
	}
	return res, nil
}

type passResult struct {
	committed, conflicts int
	index                uint64
	wake                 time.Time
}

// pass plans and commits once: the orchestrator's groups, then the
// scheduler's decisions from a snapshot that includes them.
func (l *Loop) pass(ctx context.Context) (passResult, error) {
	var p passResult
	snap, err := Read(l.cfg.Store)
	if err != nil {
		return p, fmt.Errorf("control: %w", err)
	}
	now := l.cfg.Now()
	groups, wake := Orchestrate(snap, now, l.cfg.NewID)
	p.index, p.wake = snap.Index, wake
	c, k, err := l.commit(ctx, "orchestrator", groups)
	p.committed, p.conflicts = c, k
	if err != nil {
		return p, err
	}
	if c+k > 0 {
		if snap, err = Read(l.cfg.Store); err != nil {
			return p, fmt.Errorf("control: %w", err)
		}
	}
	muts := Schedule(snap, now)
	single := make([][]store.Mutation, len(muts))
	for i := range muts {
		single[i] = muts[i : i+1]
	}
	c, k, err = l.commit(ctx, "scheduler", single)
	p.committed += c
	p.conflicts += k
	return p, err
}

// sleep waits d on the loop's clock.
func (l *Loop) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-l.cfg.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
