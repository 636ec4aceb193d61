package reconciler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
	"github.com/swarmops/swarmops/stackspec"
)

// Rendered is one stack as one commit renders it.
type Rendered struct {
	Source StackSource
	// Revision carries the commit and, when the stack rendered, the digest.
	Revision api.Revision
	// Spec is nil when the stack failed to render; Err says why.
	Spec *api.StackSpec
	Err  error
}

// Live is what the cluster runs of one stack.
type Live struct {
	// Spec is the stack's objects as stackstate.Stack reads them.
	Spec *api.StackSpec
	// Services holds the state of each of the stack's services, by name.
	Services map[string]LiveService
}

// LiveService is a running service's state as the reconciler judges it.
type LiveService struct {
	ID      string
	Version uint64
	// Running counts tasks that run; Desired those the service asks for.
	Running, Desired uint64
	// Dirty counts running tasks of an older spec.
	Dirty  uint64
	Update *swarm.UpdateStatus
	// Changed is when the service was last written, by anyone: for a
	// paused rollout, when it paused (nothing writes a paused service but
	// a spec change, which clears the status).
	Changed time.Time
	// By and At name the last attributed write to the service
	// (store.Writer); ByUs is set when that was the reconciler's.
	By   string
	At   time.Time
	ByUs bool
}

// Converged reports whether the service runs what it asks for and no
// rollout is under way.
func (s LiveService) Converged() bool {
	if s.Running != s.Desired || s.Dirty > 0 {
		return false
	}
	return s.Update == nil || !rollingOut(s.Update.State)
}

func rollingOut(st swarm.UpdateState) bool {
	return st == swarm.UpdateStateUpdating || st == swarm.UpdateStateRollbackStarted
}

// rolloutDone reports whether the service's last rollout (or rollback)
// completed: one that began after its spec was last written, which clears
// the status.
func rolloutDone(s LiveService) bool {
	return s.Update != nil && (s.Update.State == swarm.UpdateStateCompleted || s.Update.State == swarm.UpdateStateRollbackCompleted)
}

func rolledBack(st swarm.UpdateState) bool {
	return st == swarm.UpdateStateRollbackStarted || st == swarm.UpdateStateRollbackCompleted || st == swarm.UpdateStateRollbackPaused
}

// failedBack reports whether a service's update rolled back because it
// failed. A rollback an operator asked for (`docker service rollback`) is
// a hand change like any other: their request is the service's last
// attributed write, where an automatic rollback (the control loop's,
// unattributed) leaves the reconciler's. Without a record of writers, the
// rollback's message tells, until the rollback completes.
func failedBack(ls LiveService) bool {
	if ls.Update == nil || !rolledBack(ls.Update.State) {
		return false
	}
	if ls.By != "" {
		return ls.ByUs
	}
	return ls.Update.Message != deploy.MessageManualRollback
}

// StackInput is everything Decide knows of one stack.
type StackInput struct {
	Name string
	// Record is the stack's record; nil when the reconciler never saw it.
	Record *api.Stack
	// Desired is what the branch head renders; nil when the stack is not in
	// the repository (or no head is known yet).
	Desired *Rendered
	// Pinned renders Record.Pin's revision, LastGood Record.Applied's, and
	// InFlight the revision of the deployment in flight (the newest of
	// Record.History, not yet ended) while the head does not render, when
	// the shell could (nil otherwise).
	Pinned, LastGood, InFlight *Rendered
	Live                       Live
	// Head is the branch head commit ("" when unknown).
	Head string
	// Window is the sync windows' verdict now; Force overrides it (a
	// `swarmops sync --force`).
	Window WindowState
	Force  bool
	// PruneRefused is set when applying the head would remove every stack
	// and the repository does not allow it.
	PruneRefused bool
	Now          time.Time
}

// Action is what the shell does for one stack.
type Action struct {
	// Record is the stack's new record; nil leaves it as it is.
	Record *api.Stack
	// Apply, when set, is the rendering the shell converges the stack's
	// objects toward (in depends_on order, as far as the dependencies
	// allow this step).
	Apply *Rendered
	// Remove removes every object of the stack and its record.
	Remove bool
	// ResumeBefore, when set, has the services that already run Apply's
	// spec but whose rollout (or rollback) paused before that time written
	// again, which resumes them: the deployment in flight resumes pauses
	// older than itself once; one that pauses again under it is judged,
	// not written in a loop.
	ResumeBefore time.Time
	// Hold names services of Apply the shell leaves as they run: they
	// rolled back from Apply's own spec, which is not written again for
	// the same revision (a redeploy of the applied revision, to put back
	// services another revision left updated, leaves them so).
	Hold []string
}

// Decide is the reconciler's pure core for one stack: given its record,
// what git renders, what runs and the time, it says what to record and
// whether to apply, remove or wait. It never applies a stack that failed
// to render, a quarantined revision (unless retried), or outside a sync
// window (unless forced).
func Decide(in StackInput) Action {
	rec := cloneRecord(in.Record, in.Name)
	target, trigger := in.Desired, "git"
	if rec.Pin != nil {
		switch {
		case rec.Pin.BranchHead == "":
			rec.Pin.BranchHead = in.Head
		case in.Head != "" && in.Head != rec.Pin.BranchHead:
			rec.Pin = nil // the branch moved on: git leads again
		}
	}
	if rec.Pin != nil {
		target, trigger = in.Pinned, "rollback"
		if target == nil {
			return settle(in.Record, rec, api.StackSuspended, fmt.Sprintf("pinned at %s, which cannot be read from the repository; `swarmops stack resume %s` follows the branch again", short(rec.Pin.Revision.Commit), in.Name), nil)
		}
	}
	if target == nil {
		return removal(in, rec)
	}
	if target.Err != nil {
		if rec.LastAttempted == nil || rec.LastAttempted.Commit != target.Revision.Commit {
			rev := target.Revision
			rev.Time = in.Now
			rec.LastAttempted = &rev
		}
		msg := target.Err.Error()
		if dep := inFlight(rec); dep != nil && in.InFlight != nil && in.InFlight.Spec != nil && in.InFlight.Revision.Digest == dep.Digest {
			// The head broke while a deployment rolls out. Nothing more
			// is applied, but the rollout (the control loop's now) still
			// gets its verdict: a rollback quarantines its revision.
			if v := judge(in, rec, in.InFlight); v.ended {
				msg += fmt.Sprintf(" (meanwhile the deployment of %s ended: %s)", short(dep.Commit), orDone(v.msg))
			}
		}
		return settle(in.Record, rec, api.StackFailed, msg, nil)
	}
	rec.Source, rec.Files, rec.Options = target.Source.Dir, target.Source.Files, target.Source.Options
	rev := target.Revision
	if in.PruneRefused {
		return settle(in.Record, rec, api.StackOutOfSync, "the head removes every stack; nothing is applied until swarmops.yaml sets allow_prune_all: true", nil)
	}
	if dep := inFlight(rec); dep != nil && dep.Digest == rev.Digest {
		return follow(in, rec, target)
	}
	redeploy := rec.Applied != nil && rec.Applied.Digest == rev.Digest
	if redeploy && !unfinished(in, rec, target) {
		return steady(in, rec, target)
	}
	if isQuarantined(rec, rev.Digest) && rec.Retry != rev.Digest {
		q := quarantined(rec, rev.Digest)
		status, why := api.StackDegraded, "its rollout rolled back"
		switch d := deploymentOf(rec, rev.Digest); {
		case d != nil && d.Outcome == api.OutcomeFailed:
			status, why = api.StackFailed, "the cluster refused it ("+d.Detail+")"
		case d != nil && d.Outcome == api.OutcomePaused:
			why = "its rollout paused (" + d.Detail + ")"
		}
		msg := fmt.Sprintf("revision %s is quarantined: %s at %s; push a fix, or `swarmops stack retry %s`", short(rev.Commit), why, q.Time.UTC().Format(time.RFC3339), in.Name)
		var apply *Rendered
		if rec.Options.RollbackStack && in.LastGood != nil && in.LastGood.Spec != nil {
			if svc := revertedService(in, rec, in.LastGood); svc != "" {
				msg += fmt.Sprintf("; going back to %s rolled back too (service %s): the stack is left as it is", short(in.LastGood.Revision.Commit), svc)
			} else {
				apply = in.LastGood
			}
		}
		return settle(in.Record, rec, status, msg, apply)
	}
	if !in.Window.Open && !in.Force {
		return settle(in.Record, rec, api.StackOutOfSync, "waiting for a sync window: "+in.Window.Reason, nil)
	}
	act := start(in, rec, target, trigger)
	if redeploy {
		act.Hold = revertedServices(in, rec, target)
	}
	return act
}

// start begins a deployment of target.
func start(in StackInput, rec *api.Stack, target *Rendered, trigger string) Action {
	rev := target.Revision
	rev.Time = in.Now
	if rec.Retry == rev.Digest {
		trigger = "retry"
		rec.Quarantined = slices.DeleteFunc(rec.Quarantined, func(q api.Revision) bool { return q.Digest == rev.Digest })
	}
	rec.Retry = ""
	if len(rec.History) > 0 && rec.History[0].Outcome == api.OutcomeProgressing {
		rec.History[0].Outcome = api.OutcomeSuperseded
		rec.History[0].Finished = in.Now
		rec.History[0].Detail = "superseded by " + short(rev.Commit)
	}
	rec.History = append([]api.Deployment{{Revision: rev, Trigger: trigger, Outcome: api.OutcomeProgressing}}, rec.History...)
	if len(rec.History) > api.HistoryLimit {
		rec.History = rec.History[:api.HistoryLimit]
	}
	rec.LastAttempted = &rev
	rec.Inventory = inventoryOf(target.Spec)
	rec.Status = api.StackProgressing
	rec.Message = "applying " + short(rev.Commit)
	return Action{Record: rec, Apply: target, ResumeBefore: rev.Time}
}

// follow watches the deployment in flight: it goes on converging until
// every service runs the new spec, or records how the rollout failed.
func follow(in StackInput, rec *api.Stack, target *Rendered) Action {
	v := judge(in, rec, target)
	if !v.ended {
		rec.Message = v.msg
		return Action{Record: changed(in.Record, rec), Apply: target, ResumeBefore: inFlight(rec).Time}
	}
	return settle(in.Record, rec, v.status, v.msg, v.apply)
}

// verdict is how the deployment in flight stands.
type verdict struct {
	ended  bool
	status api.StackStatus
	msg    string
	// apply is what to converge toward after a rollback (the last good
	// revision, with rollback_stack).
	apply *Rendered
}

// inFlight is the deployment rolling out, if any: the newest of the
// history, not yet ended.
func inFlight(rec *api.Stack) *api.Deployment {
	if len(rec.History) == 0 || rec.History[0].Outcome != api.OutcomeProgressing {
		return nil
	}
	return &rec.History[0]
}

// judge decides whether the deployment in flight, whose rendering is
// target, has ended, and records its outcome on rec when it has: applied
// when every service runs its spec, quarantined when a service rolled back
// from it.
func judge(in StackInput, rec *api.Stack, target *Rendered) verdict {
	dep := inFlight(rec)
	if dep == nil {
		return verdict{ended: true, status: rec.Status, msg: rec.Message}
	}
	started := dep.Time
	for _, name := range sortedKeys(target.Spec.Services) {
		ls, ok := in.Live.Services[name]
		if !ok || ls.Update == nil {
			continue
		}
		// A rollback counts against this deployment when it undid the
		// spec this deployment asks for, whichever deployment wrote it
		// (one this one superseded may have); without a record of what
		// was written, when it began after this deployment did.
		recent := ls.Update.StartedAt != nil && !ls.Update.StartedAt.Before(started)
		switch st := ls.Update.State; {
		case failedBack(ls) && (revertedFrom(in, rec, name, target) || (rec.Written[name] == "" && recent)):
			msg := fmt.Sprintf("service %s rolled back: %s", name, ls.Update.Message)
			q := dep.Revision
			finish(rec, api.OutcomeRolledBack, msg, in.Now)
			if rec.Applied == nil || rec.Applied.Digest != q.Digest {
				// Going back to what is applied is no new revision to
				// hold back: it stays applied, the stack Degraded.
				quarantine(rec, q, in.Now)
			}
			v := verdict{ended: true, status: api.StackDegraded, msg: msg}
			if rec.Options.RollbackStack && in.LastGood != nil && in.LastGood.Spec != nil {
				if svc := revertedService(in, rec, in.LastGood); svc != "" {
					v.msg += fmt.Sprintf("; going back to %s rolled back too (service %s): the stack is left as it is", short(in.LastGood.Revision.Commit), svc)
				} else {
					v.apply = in.LastGood
					v.msg += "; the whole stack goes back to " + short(in.LastGood.Revision.Commit)
				}
			}
			return v
		case (st == swarm.UpdateStatePaused || st == swarm.UpdateStateRollbackPaused) && (recent || !ls.Changed.Before(started)):
			// Paused under this deployment: a rollout it began, or one
			// it resumed (whose start is older) that paused again.
			msg := fmt.Sprintf("the update of service %s is paused: %s", name, ls.Update.Message)
			q := dep.Revision
			finish(rec, api.OutcomePaused, msg, in.Now)
			if rec.Applied == nil || rec.Applied.Digest != q.Digest {
				// Applying it again would pause again: held back as a
				// rolled-back revision is.
				quarantine(rec, q, in.Now)
			}
			return verdict{ended: true, status: api.StackDegraded, msg: msg}
		}
	}
	pending := stackspec.Diff(target.Spec, in.Live.Spec)
	var waiting, unconverged []string
	for _, name := range sortedKeys(target.Spec.Services) {
		ls, ok := in.Live.Services[name]
		switch {
		case ok && ls.Converged():
		case ok && rolloutDone(ls):
			// The rollout engine is done with it (failures tolerated by
			// max_failure_ratio, or tasks lost since): its tasks are a
			// matter of convergence, drift that status shows, not of
			// this deployment, which would otherwise wait for ever.
			unconverged = append(unconverged, fmt.Sprintf("service %s: %d of %d tasks run the new spec", name, ls.Running-min(ls.Running, ls.Dirty), ls.Desired))
		default:
			waiting = append(waiting, name)
		}
	}
	if pending.Empty() && len(waiting) == 0 {
		rev := dep.Revision
		rec.Applied = &rev
		detail := ""
		if len(unconverged) > 0 {
			detail = "rolled out, not converged: " + strings.Join(unconverged, "; ")
		}
		finish(rec, api.OutcomeSucceeded, detail, in.Now)
		status := api.StackSynced
		if rec.Pin != nil {
			status = api.StackSuspended
		}
		return verdict{ended: true, status: status, msg: pinMessage(rec)}
	}
	msg := fmt.Sprintf("rolling out %s", short(dep.Commit))
	if len(waiting) > 0 {
		msg += "; waiting for " + strings.Join(waiting, ", ")
	}
	return verdict{status: api.StackProgressing, msg: msg}
}

// steady handles a stack whose target is what is applied: it records a
// newer commit that renders the same, heals hand changes when asked to,
// and clears a Degraded or Failed status left by an earlier revision.
func steady(in StackInput, rec *api.Stack, target *Rendered) Action {
	if rec.Applied.Commit != target.Revision.Commit {
		rev := *rec.Applied
		rev.Commit, rev.Message = target.Revision.Commit, target.Revision.Message
		rec.Applied = &rev
	}
	status, msg := api.StackSynced, pinMessage(rec)
	if rec.Pin != nil {
		status = api.StackSuspended
	}
	reverted := revertedService(in, rec, target)
	if reverted != "" {
		// Deploying what is applied again (after a revert) failed for
		// this service: it runs its previous spec, not the applied one.
		status = api.StackDegraded
		msg = fmt.Sprintf("service %s rolled back from the spec of %s and runs its previous one: %s; push a fix", reverted, short(target.Revision.Commit), in.Live.Services[reverted].Update.Message)
	}
	var apply *Rendered
	var hold []string
	diff := stackspec.Diff(target.Spec, in.Live.Spec)
	switch {
	case diff.Empty() || !(in.Window.Open || in.Force) || anyRollingOut(in.Live) || reverted != "":
	case rec.Options.SelfHeal:
		apply = target
	default:
		// Objects the stack no longer declares (a failed revision's
		// secrets, say, kept while its services went back) are pruned
		// as they would have been at the end of a deployment; services
		// changed by hand are held as they run.
		var removals bool
		hold, removals = handChanged(diff)
		if removals {
			apply = target
		}
	}
	act := settle(in.Record, rec, status, msg, apply)
	if apply != nil {
		act.Hold = hold
	}
	return act
}

// handChanged names the services a change set would create or update, and
// reports whether it removes anything.
func handChanged(cs api.ChangeSet) (services []string, removals bool) {
	for _, ch := range cs.Changes {
		switch {
		case ch.Action == api.ActionRemove:
			removals = true
		case ch.Kind == api.KindService:
			services = append(services, ch.Name)
		}
	}
	return services, removals
}

func orDone(msg string) string {
	if msg == "" {
		return "it succeeded"
	}
	return msg
}

// unfinished reports whether the cluster is not on target although target
// is what is applied, for a reason of the reconciler's making: a
// deployment of another revision began and did not end by going back (a
// revert pushed while it rolled out, an update left paused, a revision the
// API refused half-way), or a service runs what the reconciler last wrote
// it for another revision (one whose rollout rolled back for another
// service, leaving this one updated), or a service the reconciler removed
// for another revision is missing. Then target is deployed again rather
// than taken as running. A service an operator wrote since differs by
// hand, for self_heal; one that rolled back from target's own spec
// differs for a reason a redeploy cannot mend (steady says so).
func unfinished(in StackInput, rec *api.Stack, target *Rendered) bool {
	halfway := false
	if len(rec.History) > 0 {
		switch last := rec.History[0]; last.Outcome {
		case api.OutcomeProgressing, api.OutcomePaused, api.OutcomeFailed:
			halfway = last.Digest != target.Revision.Digest
		}
	}
	held := revertedServices(in, rec, target)
	for _, ch := range stackspec.Diff(target.Spec, in.Live.Spec).Changes {
		if ch.Kind != api.KindService {
			if halfway {
				return true
			}
			continue
		}
		// Whose change: an operator's write since the reconciler's, or a
		// service gone that the reconciler last wrote rather than removed.
		ls, running := in.Live.Services[ch.Name]
		byHand := (running && ls.By != "" && !ls.ByUs) || (!running && rec.Written[ch.Name] != "")
		if slices.Contains(held, ch.Name) || byHand {
			continue
		}
		if halfway {
			return true
		}
		want, declared := target.Spec.Services[ch.Name]
		if declared && !running {
			// Removed by the reconciler, for a revision without it whose
			// rollout then rolled back: removals are not rolled back.
			return true
		}
		if written := rec.Written[ch.Name]; running && declared && written != "" && written != stackspec.Digest(want) {
			return true
		}
	}
	return false
}

// revertedFrom reports whether service name's last update rolled back
// from the spec target asks for, as the reconciler recorded writing it.
func revertedFrom(in StackInput, rec *api.Stack, name string, target *Rendered) bool {
	ls, ok := in.Live.Services[name]
	want, declared := target.Spec.Services[name]
	if !ok || !declared || !failedBack(ls) {
		return false
	}
	written := rec.Written[name]
	return written != "" && written == stackspec.Digest(want) && written != stackspec.Digest(in.Live.Spec.Services[name])
}

// revertedService names a service of target whose update rolled back from
// the spec target asks for, or "".
func revertedService(in StackInput, rec *api.Stack, target *Rendered) string {
	if names := revertedServices(in, rec, target); len(names) > 0 {
		return names[0]
	}
	return ""
}

// revertedServices names, sorted, the services of target whose update
// rolled back from the spec target asks for.
func revertedServices(in StackInput, rec *api.Stack, target *Rendered) []string {
	var names []string
	for _, name := range sortedKeys(target.Spec.Services) {
		if revertedFrom(in, rec, name, target) {
			names = append(names, name)
		}
	}
	return names
}

// removal handles a stack the repository no longer has.
func removal(in StackInput, rec *api.Stack) Action {
	if in.Record == nil {
		return Action{}
	}
	switch {
	case in.PruneRefused:
		return settle(in.Record, rec, api.StackOutOfSync, "removed from the repository, as every other stack: not pruned unless swarmops.yaml sets allow_prune_all: true", nil)
	case !rec.Options.Prune:
		return settle(in.Record, rec, api.StackOutOfSync, fmt.Sprintf("removed from the repository; kept, since the stack was applied without prune: true (set it in swarmops.yaml before removing a stack, or remove it with `docker stack rm %s`)", in.Name), nil)
	case !in.Window.Open && !in.Force:
		return settle(in.Record, rec, api.StackOutOfSync, "removed from the repository; waiting for a sync window to prune it: "+in.Window.Reason, nil)
	}
	return Action{Remove: true}
}

// settle sets status and message and returns the record if it changed.
func settle(old, rec *api.Stack, status api.StackStatus, msg string, apply *Rendered) Action {
	rec.Status, rec.Message = status, msg
	return Action{Record: changed(old, rec), Apply: apply}
}

// finish closes the deployment in flight.
func finish(rec *api.Stack, outcome, msg string, now time.Time) {
	if len(rec.History) > 0 && rec.History[0].Outcome == api.OutcomeProgressing {
		rec.History[0].Outcome, rec.History[0].Detail, rec.History[0].Finished = outcome, msg, now
	}
}

// cloneRecord is a deep copy of rec to change, or a new record for name.
func cloneRecord(rec *api.Stack, name string) *api.Stack {
	if rec == nil {
		return &api.Stack{Name: name, Status: api.StackOutOfSync}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("reconciler: marshal stack record: %v", err))
	}
	out := new(api.Stack)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("reconciler: unmarshal stack record: %v", err))
	}
	return out
}

// changed is rec when it differs from old, else nil.
func changed(old, rec *api.Stack) *api.Stack {
	if old == nil {
		return rec
	}
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(rec)
	if bytes.Equal(a, b) {
		return nil
	}
	return rec
}

func anyRollingOut(l Live) bool {
	for _, s := range l.Services {
		if s.Update != nil && rollingOut(s.Update.State) {
			return true
		}
	}
	return false
}

func pinMessage(rec *api.Stack) string {
	if rec.Pin == nil {
		return ""
	}
	return fmt.Sprintf("held at %s by `swarmops stack rollback`; syncing resumes when the branch moves or with `swarmops stack resume %s`", short(rec.Pin.Revision.Commit), rec.Name)
}

// quarantine adds revision q to the quarantine.
func quarantine(rec *api.Stack, q api.Revision, now time.Time) {
	q.Time = now
	rec.Quarantined = append([]api.Revision{q}, slices.DeleteFunc(rec.Quarantined, func(r api.Revision) bool { return r.Digest == q.Digest })...)
	if len(rec.Quarantined) > api.HistoryLimit {
		rec.Quarantined = rec.Quarantined[:api.HistoryLimit]
	}
}

// deploymentOf is the newest deployment of digest in rec's history.
func deploymentOf(rec *api.Stack, digest string) *api.Deployment {
	for i := range rec.History {
		if rec.History[i].Digest == digest {
			return &rec.History[i]
		}
	}
	return nil
}

func isQuarantined(rec *api.Stack, digest string) bool { return quarantined(rec, digest) != nil }

func quarantined(rec *api.Stack, digest string) *api.Revision {
	for i := range rec.Quarantined {
		if rec.Quarantined[i].Digest == digest {
			return &rec.Quarantined[i]
		}
	}
	return nil
}

// short is a commit's abbreviation, as git prints it.
func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
