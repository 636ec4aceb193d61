package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/stackspec"
)

// Stepper moves every stack of a cluster one step toward a rendered
// commit. The leader's Reconciler runs one after every poll and store
// change; the simulation drives one directly.
type Stepper struct {
	Store  *store.Store
	Writer Writer
	Now    func() time.Time
	Logger *slog.Logger
	// Self is the name the Writer's changes are recorded under
	// (store.Writer.By); default WriterName.
	Self string
	// Render renders stack name at an earlier commit, for pins, rollbacks
	// to the last good revision and drift against what is applied; nil
	// (or a nil result) when it cannot.
	Render func(ctx context.Context, commit, name string) *Rendered

	applyErr map[string]error
	// reports keeps each stack's last report, for the stacks a partial
	// step leaves alone.
	reports map[string]api.StackReport
}

// Step moves every stack one step: Decide, then write the record before
// touching the cluster (so a new leader finds the deployment already
// recorded and follows it instead of starting another), then converge.
// force lets the step apply outside the sync windows: every stack, or
// those forceFor names. It returns what `swarmops status` shows, and an
// error for a problem of the whole commit.
func (r *Stepper) Step(ctx context.Context, snap *Snapshot, force bool, forceFor map[string]bool) ([]api.StackReport, error) {
	return r.StepOnly(ctx, snap, force, forceFor, nil)
}

// StepOnly is Step for the stacks only names (all when only is nil): after
// store changes, just the stacks they touched move; the others keep their
// last report. Nothing in Decide depends on the time but sync windows,
// which the full steps of every poll re-check.
func (r *Stepper) StepOnly(ctx context.Context, snap *Snapshot, force bool, forceFor, only map[string]bool) ([]api.StackReport, error) {
	if r.applyErr == nil {
		r.applyErr = map[string]error{}
	}
	if r.reports == nil {
		r.reports = map[string]api.StackReport{}
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	var repoErr error
	if snap.Err != nil {
		repoErr = fmt.Errorf("commit %s: %w; nothing is applied until it is fixed", short(snap.Commit), snap.Err)
	}
	records, lives, err := r.readState(snap, only)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for name := range snap.Stacks {
		names[name] = true
	}
	for name := range records {
		names[name] = true
	}
	pruneRefused := snap.Err == nil && len(snap.Stacks) == 0 && len(records) > 0 && !snap.Layout.AllowPruneAll
	if pruneRefused {
		repoErr = fmt.Errorf("commit %s removes every stack; nothing is removed unless swarmops.yaml sets allow_prune_all: true", short(snap.Commit))
	}
	var reports []api.StackReport
	now := r.Now()
	for _, name := range sortedKeys(names) {
		if only != nil && !only[name] {
			if rep, ok := r.reports[name]; ok {
				reports = append(reports, rep)
				continue
			}
			if lives[name], err = r.readLive(name); err != nil {
				return nil, err
			}
		}
		rec := records[name]
		in := StackInput{
			Name: name, Record: rec, Live: lives[name], Head: snap.Commit, Now: now,
			Force:        force || forceFor[name],
			PruneRefused: pruneRefused,
		}
		if snap.Err == nil {
			in.Desired = snap.Stacks[name]
		} else if rec == nil {
			continue
		}
		in.Window = r.window(snap, in.Desired, rec, now)
		if rec != nil && rec.Pin != nil {
			in.Pinned = r.renderStack(ctx, rec.Pin.Revision.Commit, name)
		}
		if rec != nil && rec.Applied != nil && rec.Options.RollbackStack {
			in.LastGood = r.renderStack(ctx, rec.Applied.Commit, name)
		}
		if dep := inFlightOf(rec); dep != nil && in.Desired != nil && in.Desired.Err != nil {
			in.InFlight = r.renderStack(ctx, dep.Commit, name)
		}
		if snap.Err != nil {
			// A broken swarmops.yaml changes nothing: follow what is in
			// flight toward what is recorded, start nothing new.
			in.Desired = r.recorded(ctx, rec, name)
		}
		act := Decide(in)
		err := r.act(ctx, name, rec, act, lives[name])
		switch {
		case err == nil:
			delete(r.applyErr, name)
		case act.Apply != nil && cerrdefs.IsInvalidArgument(err):
			// The API refused the spec (a port taken, a missing external
			// secret): retrying cannot help. The revision fails and is
			// quarantined, as a rolled-back one.
			if rerr := r.refuse(ctx, name, act.Apply, err); rerr != nil {
				r.applyErr[name] = rerr
			} else {
				act.Record = nil
				delete(r.applyErr, name)
			}
		default:
			r.applyErr[name] = err
			r.Logger.Warn("stack step failed; retrying on the next pass", "stack", name, "err", err)
		}
		if act.Remove {
			delete(r.reports, name)
			continue
		}
		view := rec
		if act.Record != nil {
			view = act.Record
		} else if fresh := r.record(name); fresh != nil {
			view = fresh
		}
		rep := r.stackReport(ctx, name, view, in, lives[name])
		r.reports[name] = rep
		reports = append(reports, rep)
	}
	for name := range r.reports {
		if !names[name] {
			delete(r.reports, name)
		}
	}
	return reports, repoErr
}

// recorded is the rendering of what rec last attempted, for following a
// deployment while the head cannot be read.
func (r *Stepper) recorded(ctx context.Context, rec *api.Stack, name string) *Rendered {
	if rec == nil || rec.LastAttempted == nil {
		return nil
	}
	return r.renderStack(ctx, rec.LastAttempted.Commit, name)
}

// renderStack renders one stack at commit (nil when it cannot).
func (r *Stepper) renderStack(ctx context.Context, commit, name string) *Rendered {
	if commit == "" || r.Render == nil {
		return nil
	}
	return r.Render(ctx, commit, name)
}

func (r *Stepper) window(snap *Snapshot, desired *Rendered, rec *api.Stack, now time.Time) WindowState {
	var global, own []api.SyncWindow
	if snap.Layout != nil {
		global = snap.Layout.Windows
	}
	switch {
	case desired != nil:
		own = desired.Source.Options.Windows
	case rec != nil:
		own = rec.Options.Windows
	}
	return CheckWindows(global, own, now)
}

// readState reads every stack's record and what runs of it.
func (r *Stepper) readState(snap *Snapshot, only map[string]bool) (map[string]*api.Stack, map[string]Live, error) {
	records := map[string]*api.Stack{}
	lives := map[string]Live{}
	err := r.Store.View(func(tx store.ReadTx) error {
		stacks, err := tx.Stacks()
		if err != nil {
			return err
		}
		for _, st := range stacks {
			records[st.Name] = st
		}
		names := slices.Collect(func(yield func(string) bool) {
			for n := range snap.Stacks {
				if !yield(n) {
					return
				}
			}
			for n := range records {
				if !yield(n) {
					return
				}
			}
		})
		for _, name := range names {
			if only != nil && !only[name] {
				continue
			}
			if lives[name], err = readLive(tx, name, r.self()); err != nil {
				return err
			}
		}
		return nil
	})
	return records, lives, err
}

// act carries one Action out.
func (r *Stepper) act(ctx context.Context, name string, old *api.Stack, act Action, live Live) error {
	w := r.Writer
	if act.Remove {
		step, err := converge(ctx, w, &api.StackSpec{Namespace: name}, live, time.Time{}, nil)
		if err != nil {
			return err
		}
		if step.Applied == 0 && emptyLive(live) {
			r.Logger.Info("stack pruned: it left the repository", "stack", name)
			return w.RemoveStack(ctx, name)
		}
		return nil
	}
	if act.Record != nil {
		if old != nil {
			act.Record.ID, act.Record.Version = old.ID, old.Version
		}
		if err := w.PutStack(ctx, act.Record); err != nil {
			return err
		}
		if old == nil || old.Status != act.Record.Status {
			r.Logger.Info("stack status", "stack", name, "status", string(act.Record.Status), "message", act.Record.Message)
		}
		if dep := inFlight(act.Record); dep != nil && (old == nil || len(old.History) == 0 || old.History[0].Commit != dep.Commit || old.History[0].Time != dep.Time) {
			q := make([]string, len(act.Record.Quarantined))
			for i, r := range act.Record.Quarantined {
				q[i] = shortDigest(r.Digest)
			}
			r.Logger.Info("deployment started", "stack", name, "commit", short(dep.Commit), "digest", shortDigest(dep.Digest), "trigger", dep.Trigger, "quarantined", q)
		}
	}
	if act.Apply == nil || act.Apply.Spec == nil {
		return nil
	}
	step, err := converge(ctx, w, act.Apply.Spec, live, act.ResumeBefore, act.Hold)
	if len(step.Written) > 0 {
		if werr := r.noteWritten(ctx, name, step.Written); werr != nil && err == nil {
			err = werr
		}
	}
	if step.Applied > 0 {
		for _, ch := range stackspecDiff(act.Apply.Spec, live).Changes {
			r.Logger.Debug("change", "kind", string(ch.Kind), "name", ch.Name, "action", string(ch.Action), "fields", fmt.Sprint(ch.Fields))
		}
		r.Logger.Info("stack applied", "stack", name, "commit", short(act.Apply.Revision.Commit), "changes", step.Applied, "waiting", step.Waiting)
	}
	return err
}

func stackspecDiff(target *api.StackSpec, live Live) api.ChangeSet {
	return stackspec.Diff(target, live.Spec)
}

// WriterName is who the reconciler's writes are recorded as, unless a
// Stepper says otherwise: the caller the leader's API serves it as.
const WriterName = "swarmops-reconciler"

func (r *Stepper) self() string {
	if r.Self != "" {
		return r.Self
	}
	return WriterName
}

// shortDigest is a digest as logs show it.
func shortDigest(d string) string {
	const p = "sha256:"
	if len(d) > len(p)+10 {
		return d[len(p) : len(p)+10]
	}
	return d
}

func inFlightOf(rec *api.Stack) *api.Deployment {
	if rec == nil {
		return nil
	}
	return inFlight(rec)
}

// noteWritten records on the stack which spec the reconciler wrote to each
// service (api.Stack.Written).
func (r *Stepper) noteWritten(ctx context.Context, name string, written map[string]string) error {
	rec := r.record(name)
	if rec == nil {
		return nil // removed meanwhile: nothing to note it on
	}
	if rec.Written == nil {
		rec.Written = map[string]string{}
	}
	for svc, digest := range written {
		if digest == "" {
			delete(rec.Written, svc)
		} else {
			rec.Written[svc] = digest
		}
	}
	return r.Writer.PutStack(ctx, rec)
}

// readLive reads what runs of one stack.
func (r *Stepper) readLive(name string) (live Live, err error) {
	err = r.Store.View(func(tx store.ReadTx) error {
		live, err = readLive(tx, name, r.self())
		return err
	})
	return live, err
}

// refuse records that the cluster refused the deployment of target.
func (r *Stepper) refuse(ctx context.Context, name string, target *Rendered, cause error) error {
	rec := r.record(name)
	if rec == nil || rec.LastAttempted == nil || rec.LastAttempted.Digest != target.Revision.Digest {
		return cause
	}
	msg := fmt.Sprintf("the cluster refused %s: %v; fix the stack and push, or `swarmops stack retry %s`", short(target.Revision.Commit), cause, name)
	now := r.Now()
	finish(rec, api.OutcomeFailed, msg, now)
	quarantine(rec, *rec.LastAttempted, now)
	rec.Status, rec.Message = api.StackFailed, msg
	r.Logger.Warn("stack refused by the cluster; revision quarantined", "stack", name, "commit", short(target.Revision.Commit), "err", cause)
	return r.Writer.PutStack(ctx, rec)
}

// record reads the stack's record now (nil when there is none).
func (r *Stepper) record(name string) *api.Stack {
	var out *api.Stack
	_ = r.Store.View(func(tx store.ReadTx) error {
		st, err := tx.StackByName(name)
		if err == nil {
			out = cloneRecord(st, name)
		}
		return nil
	})
	return out
}

func emptyLive(l Live) bool {
	s := l.Spec
	return s == nil || len(s.Services)+len(s.Networks)+len(s.Secrets)+len(s.Configs) == 0
}
