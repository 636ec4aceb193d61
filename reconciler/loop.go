package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/store"
)

// DefaultPollInterval is how often the leader asks the remote for its head
// when the cluster's source sets no interval.
const DefaultPollInterval = 30 * time.Second

// settleDelay batches the store changes of a rollout into one pass.
const settleDelay = 200 * time.Millisecond

// Config assembles a Reconciler.
type Config struct {
	Store *store.Store
	// Writer applies changes (NewAPIWriter over the leader's API).
	Writer Writer
	// Open decrypts the data of the cluster secrets holding the git
	// credentials and the age identity.
	Open func(sealed []byte) ([]byte, error)
	// Dir is where the git mirror and checkouts live.
	Dir    string
	Now    func() time.Time
	Logger *slog.Logger
	// HTTPClient, if set, is used for http(s) remotes.
	HTTPClient *http.Client
	// Self is the name the Writer's changes are recorded under; default
	// WriterName.
	Self string
}

// Reconciler keeps the cluster equal to the git repository its record
// names. One runs on the leader for each term (Run); Sync and Report are
// safe to call from any goroutine.
type Reconciler struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	requests syncRequests
	report   api.Report
	ready    bool

	// Owned by Run.
	src      *Source
	srcKey   string
	ids      []age.Identity
	head     string
	lastPoll time.Time
	pollErr  error
	snap     *Snapshot
	renders  map[string]*Snapshot
	cache    RenderCache
	idsKey   string
	stepper  *Stepper
}

type syncRequests struct {
	any      bool
	force    bool
	stacks   map[string]bool
	forceFor map[string]bool
}

// New builds a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), renders: map[string]*Snapshot{}}
	r.stepper = &Stepper{Store: cfg.Store, Writer: cfg.Writer, Now: cfg.Now, Logger: cfg.Logger, Render: r.renderStack, Self: cfg.Self}
	return r
}

// Sync asks for a poll and a pass now: for one stack, or every stack when
// stack is "". force lets this pass apply outside the sync windows.
func (r *Reconciler) Sync(_ context.Context, stack string, force bool) error {
	r.mu.Lock()
	q := &r.requests
	q.any = true
	if stack == "" {
		q.force = q.force || force
	} else {
		if q.stacks == nil {
			q.stacks, q.forceFor = map[string]bool{}, map[string]bool{}
		}
		q.stacks[stack] = true
		q.forceFor[stack] = q.forceFor[stack] || force
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Report is the state of every stack as of the last pass.
func (r *Reconciler) Report(context.Context) (api.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready {
		return api.Report{}, errors.New("the reconciler is starting on the new leader; try again in a moment")
	}
	return r.report, nil
}

// Run reconciles until ctx ends: it asks the remote for its head every
// poll interval (or at once on Sync), renders a new head, and after every
// change to the store moves each stack one step on.
func (r *Reconciler) Run(ctx context.Context) {
	r.log.Info("reconciler started")
	defer r.log.Info("reconciler stopped")
	nextPoll := time.Time{}
	since := r.cfg.Store.LastIndex()
	full := true
	for {
		_, changed, _ := r.cfg.Store.Events(r.cfg.Store.LastIndex())
		r.mu.Lock()
		reqs := r.requests
		r.requests = syncRequests{}
		r.mu.Unlock()
		now := r.cfg.Now()
		poll := reqs.any || !now.Before(nextPoll)
		var only map[string]bool
		if full || poll {
			since = r.cfg.Store.LastIndex()
		} else {
			only, since = r.touched(since)
		}
		interval := r.pass(ctx, poll, reqs, only)
		if poll {
			nextPoll = now.Add(interval)
		}
		full = false
		wait := time.NewTimer(max(time.Until(nextPoll), 0))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-r.wake:
		case <-wait.C:
		case <-changed:
			// Let a burst of writes (a rollout's task statuses) land first.
			select {
			case <-ctx.Done():
			case <-time.After(settleDelay):
			}
		}
		wait.Stop()
	}
}

// touched names the stacks the store changes after index since touched,
// and the index they run to; nil (every stack) when the changes cannot be
// told apart (the event log moved past since, or the cluster's settings
// changed).
func (r *Reconciler) touched(since uint64) (map[string]bool, uint64) {
	last := r.cfg.Store.LastIndex()
	evs, _, err := r.cfg.Store.Events(since)
	if err != nil {
		return nil, last
	}
	out := map[string]bool{}
	services := map[string]bool{}
	for _, ev := range evs {
		if ev.Index > last {
			break
		}
		switch o := ev.Object.(type) {
		case *swarm.Service:
			out[o.Spec.Labels[api.LabelNamespace]] = true
		case *swarm.Task:
			services[o.ServiceID] = true
		case *swarm.Secret:
			out[o.Spec.Labels[api.LabelNamespace]] = true
		case *swarm.Config:
			out[o.Spec.Labels[api.LabelNamespace]] = true
		case *network.Inspect:
			out[o.Labels[api.LabelNamespace]] = true
		case *api.Stack:
			out[o.Name] = true
		case *api.Cluster:
			return nil, last
		}
	}
	_ = r.cfg.Store.View(func(tx store.ReadTx) error {
		for id := range services {
			if svc, err := tx.Service(id); err == nil {
				out[svc.Spec.Labels[api.LabelNamespace]] = true
			}
		}
		return nil
	})
	delete(out, "")
	return out, last
}

// pass is one round: poll if asked, then a step for every stack. It
// returns the poll interval in force.
func (r *Reconciler) pass(ctx context.Context, poll bool, reqs syncRequests, only map[string]bool) time.Duration {
	var src *api.GitSource
	_ = r.cfg.Store.View(func(tx store.ReadTx) error {
		c, err := tx.Cluster()
		if err == nil && c.Source != nil {
			s := *c.Source
			src = &s
		}
		return nil
	})
	interval := DefaultPollInterval
	if src == nil {
		r.publish(api.Report{Error: "no git repository is configured: set one with `swarmops repo set --git URL`"}, nil)
		return interval
	}
	if src.PollInterval > 0 {
		interval = src.PollInterval
	}
	if err := r.ensureSource(*src); err != nil {
		r.pollErr = err
	} else if poll {
		r.poll(ctx, *src)
	}
	rep := api.Report{Source: redacted(src), Head: r.head, LastPoll: r.lastPoll}
	if r.pollErr != nil {
		rep.PollError = r.pollErr.Error()
	}
	if r.snap == nil {
		r.publish(rep, nil)
		return interval
	}
	stacks, err := r.stepper.StepOnly(ctx, r.snap, reqs.force, reqs.forceFor, only)
	if err != nil {
		rep.Error = err.Error()
	}
	r.publish(rep, stacks)
	return interval
}

// ensureSource (re)builds the git source when the cluster's settings or
// credentials changed.
func (r *Reconciler) ensureSource(src api.GitSource) error {
	var auth Auth
	var ids []age.Identity
	var idsKey string
	err := r.cfg.Store.View(func(tx store.ReadTx) error {
		if src.AuthRef != "" {
			data, err := r.secret(tx, src.AuthRef)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(data, &auth); err != nil {
				return fmt.Errorf("git credentials in secret %s: %w", src.AuthRef, err)
			}
		}
		if sec, err := tx.SecretByName(apiserver.SecretAgeIdentity); err == nil {
			data, err := r.cfg.Open(sec.Spec.Data)
			if err != nil {
				return fmt.Errorf("age identity: %w", err)
			}
			if ids, err = ParseIdentities(data); err != nil {
				return fmt.Errorf("age identity in secret %s: %w", apiserver.SecretAgeIdentity, err)
			}
			sum := sha256.Sum256(data)
			idsKey = hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s\x00%s\x00%s", src.URL, src.Branch, fingerprint(auth))
	r.ids, r.idsKey = ids, idsKey
	if r.src != nil && key == r.srcKey {
		return nil
	}
	s, err := NewSource(SourceConfig{URL: src.URL, Branch: src.Branch, Auth: auth, Dir: filepath.Join(r.cfg.Dir, "git"), HTTPClient: r.cfg.HTTPClient})
	if err != nil {
		return err
	}
	r.src, r.srcKey, r.snap, r.renders = s, key, nil, map[string]*Snapshot{}
	return nil
}

func (r *Reconciler) secret(tx store.ReadTx, name string) ([]byte, error) {
	sec, err := tx.SecretByName(name)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	data, err := r.cfg.Open(sec.Spec.Data)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return data, nil
}

// poll asks for the head and renders it when it is new.
func (r *Reconciler) poll(ctx context.Context, src api.GitSource) {
	r.lastPoll = r.cfg.Now()
	head, err := r.src.Head(ctx)
	if err != nil {
		r.pollErr = err
		r.log.Warn("git poll failed; everything keeps running", "err", err)
		return
	}
	r.pollErr = nil
	r.head = head
	if r.snap != nil && r.snap.Commit == head {
		return
	}
	snap, err := r.render(ctx, head, src.Path)
	if err != nil {
		r.pollErr = err
		return
	}
	r.log.Info("new head rendered", "commit", short(head), "stacks", len(snap.Stacks))
	r.snap = snap
}

// render checks commit out and renders it, keeping a few renderings for
// pins and rollbacks.
func (r *Reconciler) render(ctx context.Context, commit, path string) (*Snapshot, error) {
	if s, ok := r.renders[commit]; ok {
		return s, nil
	}
	co, err := r.src.Checkout(ctx, commit)
	if err != nil {
		return nil, err
	}
	s := r.cache.RenderDir(ctx, co.Dir, path, co.Commit, co.Message, r.ids, r.idsKey)
	if len(r.renders) >= 8 {
		r.renders = map[string]*Snapshot{}
	}
	r.renders[commit] = s
	return s, nil
}

// renderStack renders one stack at an earlier commit, for the Stepper.
func (r *Reconciler) renderStack(ctx context.Context, commit, name string) *Rendered {
	if r.src == nil {
		return nil
	}
	var path string
	_ = r.cfg.Store.View(func(tx store.ReadTx) error {
		if c, err := tx.Cluster(); err == nil && c.Source != nil {
			path = c.Source.Path
		}
		return nil
	})
	s, err := r.render(ctx, commit, path)
	if err != nil {
		r.log.Warn("render an earlier revision", "commit", short(commit), "err", err)
		return nil
	}
	return s.Stacks[name]
}

func (r *Reconciler) publish(rep api.Report, stacks []api.StackReport) {
	if stacks == nil {
		stacks = []api.StackReport{}
	}
	rep.Stacks = stacks
	r.mu.Lock()
	r.report, r.ready = rep, true
	r.mu.Unlock()
}

// redacted is src as a report shows it.
func redacted(src *api.GitSource) *api.GitSource {
	s := *src
	s.URL = RedactURL(s.URL)
	return &s
}
