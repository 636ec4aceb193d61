package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// The GitOps invariants, judged from the store before and after each step
// of the reconciler (nothing else writes in between, so every change then
// is the reconciler's) and from what the simulation itself pushed and did:
//
//   - A broken commit never changes the cluster. While the head breaks a
//     stack's files, the reconciler changes none of that stack's objects
//     (not even a write that leaves a spec as it was) and records the
//     stack Failed at the head. While the head breaks swarmops.yaml, it
//     may only go on toward the revision the stack's record last
//     attempted or applied: every object it writes is as that rendering
//     has it, and every object it removes is not in it.
//   - No revision is applied twice in a row after a rollback. A
//     deployment of a quarantined digest starts only when the operator
//     asked to retry it; when a service the reconciler rolled out for
//     the stack's latest deployment rolls back by itself (the simulation
//     sees it, whatever the record says), the stack's next deployment is
//     not of that digest again, unless retried; and a spec a service
//     rolled back by itself is not written to it again while the head is
//     the same, unless retried (a stack rolled back to its last good
//     revision included).
//   - The applied revision is never one the record quarantines.
//   - Once the cluster is quiet, each stack is where its head says: a
//     head that renders a digest not quarantined is Synced, applied, and
//     runs exactly that rendering (but for services changed by hand since,
//     when the stack does not self-heal), and `swarmops status` shows it
//     healthy when nothing was changed by hand; a quarantined head leaves
//     the stack Degraded (Failed, when the cluster refused it), with
//     rollback_stack back on its applied revision exactly (unless going
//     back rolled back too: then as it is), without it as
//     its latest deployment left it (all of it, if that succeeded; each
//     service as it has it or rolled back, if it rolled back); a broken
//     head leaves it Failed.
//     The applied revision that rolled back when applied again (after a
//     revert mid-rollout, or going back to it) is not quarantined, nor
//     tried again: the stack is Degraded, each service as the head has it
//     or rolled back. While swarmops.yaml is broken, the revision the
//     record last attempted stands in for the head, as the reconciler
//     follows it.

// checkReconcilerStep checks one step of the reconciler: before and after
// are every stack as the store had it around the step.
func (s *Sim) checkReconcilerStep(head *commit, before, after map[string]stackState) error {
	for _, name := range slices.Sorted(maps.Keys(after)) {
		b, a := before[name], after[name]
		var err error
		switch rr := head.snap.Stacks[name]; {
		case head.snap.Err != nil:
			err = s.checkRepoBroken(name, b, a)
		case rr != nil && rr.Err != nil:
			err = s.checkStackBroken(name, head, b, a)
		}
		if err == nil {
			err = s.checkStart(name, b, a)
		}
		if err == nil && a.rec != nil && a.rec.Applied != nil && quarantinedIn(a.rec, a.rec.Applied.Digest) {
			err = fmt.Errorf("the applied revision %s is quarantined: %s", short(a.rec.Applied.Commit), describeRecord(a.rec))
		}
		if err == nil {
			err = s.noteWrites(name, b, a)
		}
		if err != nil {
			return fmt.Errorf("stack %s: %w", name, err)
		}
	}
	return nil
}

// changes names the objects whose ID or version differ between b and a.
func changes(b, a stackState) []string {
	var out []string
	for k, v := range a.objects {
		if b.objects[k] != v {
			out = append(out, k)
		}
	}
	for k := range b.objects {
		if _, ok := a.objects[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// checkStackBroken: a head that breaks the stack's files changes none of
// its objects and is recorded as the stack's failure.
func (s *Sim) checkStackBroken(name string, head *commit, b, a stackState) error {
	if ch := changes(b, a); len(ch) > 0 {
		return fmt.Errorf("head %s does not render the stack (%v), yet the reconciler changed %s", short(head.id), head.snap.Stacks[name].Err, strings.Join(ch, ", "))
	}
	if a.rec == nil || a.rec.Status != api.StackFailed || a.rec.LastAttempted == nil || a.rec.LastAttempted.Commit != head.id {
		return fmt.Errorf("head %s does not render the stack, yet the record is not Failed at it: %s", short(head.id), describeRecord(a.rec))
	}
	// Once recorded, the failure is not written again for nothing: every
	// write of the record is a Raft entry, and a store change wakes the
	// reconciler, which would write it again.
	if b.rec != nil && a.rec.Version.Index != b.rec.Version.Index && sameFailure(b.rec, a.rec) {
		return fmt.Errorf("head %s was already recorded as the stack's failure, yet the record was written again with nothing new but the time of the attempt (%s, was %s)",
			short(head.id), a.rec.LastAttempted.Time.Sub(epoch), b.rec.LastAttempted.Time.Sub(epoch))
	}
	s.git.count("broken head held")
	return nil
}

// sameFailure reports whether a says what b says, but for its version
// and the time of the last attempt.
func sameFailure(b, a *api.Stack) bool {
	strip := func(rec *api.Stack) string {
		c := *rec
		c.Version = swarm.Version{}
		if c.LastAttempted != nil {
			la := *c.LastAttempted
			la.Time = time.Time{}
			c.LastAttempted = &la
		}
		j, err := json.Marshal(c)
		if err != nil {
			panic(fmt.Sprintf("sim: stack record does not encode: %v", err))
		}
		return string(j)
	}
	return strip(b) == strip(a)
}

// checkRepoBroken: while swarmops.yaml is broken, every change moves the
// stack toward the rendering of what its record last attempted or
// applied, and no record goes.
func (s *Sim) checkRepoBroken(name string, b, a stackState) error {
	if b.rec != nil && a.rec == nil {
		return fmt.Errorf("swarmops.yaml is broken, yet the stack's record was removed")
	}
	var targets []*api.StackSpec
	if b.rec != nil {
		for _, rev := range []*api.Revision{b.rec.LastAttempted, b.rec.Applied} {
			if rev != nil {
				if spec := s.git.repo.rendered(rev.Commit, name); spec != nil {
					targets = append(targets, spec)
				}
			}
		}
	}
	for _, obj := range changes(b, a) {
		kind, objName, _ := strings.Cut(obj, " ")
		_, present := a.objects[obj]
		if !slices.ContainsFunc(targets, func(t *api.StackSpec) bool { return agrees(t, a.spec, kind, objName, present) }) {
			return fmt.Errorf("swarmops.yaml is broken, yet the reconciler changed %s (present after: %v) away from what the record attempted or applied: %s", obj, present, describeRecord(b.rec))
		}
	}
	s.git.count("broken swarmops.yaml held")
	return nil
}

// agrees reports whether the object of kind and name, present or not in
// live, is as target has it.
func agrees(target, live *api.StackSpec, kind, name string, present bool) bool {
	var inTarget bool
	switch kind {
	case "service":
		_, inTarget = target.Services[name]
		if present && inTarget {
			return serviceDigest(target, name) == serviceDigest(live, name)
		}
	case "secret":
		_, inTarget = target.Secrets[name]
	case "config":
		_, inTarget = target.Configs[name]
	case "network":
		_, inTarget = target.Networks[name]
	}
	return present == inTarget
}

// checkStart checks a deployment the step started: not of a quarantined
// digest without a retry, nor of the digest whose rollout just rolled
// back.
func (s *Sim) checkStart(name string, b, a stackState) error {
	g := s.git
	if a.rec == nil || len(a.rec.History) == 0 {
		return nil
	}
	d := a.rec.History[0]
	if !d.Time.Equal(s.now) || b.rec != nil && len(b.rec.History) > 0 && b.rec.History[0].Time.Equal(d.Time) {
		return nil
	}
	g.count("deployment started")
	retried := b.rec != nil && b.rec.Retry == d.Digest && g.retried[name] == d.Digest
	if b.rec != nil && quarantinedIn(b.rec, d.Digest) {
		if !retried {
			return fmt.Errorf("started a deployment of %s (%s), which is quarantined, without a retry: before %s", short(d.Commit), shortDigest(d.Digest), describeRecord(b.rec))
		}
		if d.Trigger != "retry" {
			return fmt.Errorf("the retry of %s is recorded as triggered by %q", shortDigest(d.Digest), d.Trigger)
		}
		g.count("retry started")
	}
	if g.rolledBack[name] == d.Digest && !retried {
		return fmt.Errorf("started a deployment of %s (%s) again right after it rolled back, without a retry: before %s", short(d.Commit), shortDigest(d.Digest), describeRecord(b.rec))
	}
	if g.retried[name] == d.Digest {
		delete(g.retried, name)
	}
	g.latest[name], g.rolledBack[name] = d.Digest, ""
	return nil
}

// noteWrites checks and remembers the services the reconciler wrote in
// the step: they are git's again, not the operator's. A spec the service
// just rolled back by itself is not written again under the same head,
// unless the operator asked for a retry since: that is a revision
// applied twice in a row after a rollback, one service at a time.
func (s *Sim) noteWrites(name string, b, a stackState) error {
	g := s.git
	head := g.repo.head().id
	for _, obj := range changes(b, a) {
		kind, svcName, _ := strings.Cut(obj, " ")
		sv := a.services[svcName]
		if kind != "service" || sv == nil {
			continue
		}
		delete(g.handEdited, svcName)
		if h, ok := g.handAt[svcName]; ok {
			delete(g.handAt, svcName)
			// Without self_heal, a hand change stands until a commit
			// (or the operator's retry) asks for something else; only
			// a deployment in flight goes on converging over it, and
			// rollback_stack holds a stack whose head is quarantined at
			// its last good revision.
			following := b.rec != nil && len(b.rec.History) > 0 && b.rec.History[0].Outcome == api.OutcomeProgressing
			heldBack := a.rec != nil && a.rec.Options.RollbackStack && len(a.rec.Quarantined) > 0 &&
				(a.rec.Status == api.StackDegraded || a.rec.Status == api.StackFailed)
			if h.head == head && !following && !heldBack && a.rec != nil && !a.rec.Options.SelfHeal && g.retriedAt[name] < h.step {
				return fmt.Errorf("service %s was changed by hand at step %d, and the reconciler wrote over it with the head still at %s, without self_heal: %s",
					svcName, h.step, short(head), describeRecord(a.rec))
			}
		}
		w := write{stack: name, spec: serviceDigest(a.spec, svcName), at: s.now}
		if u, ok := g.undone[sv.ID]; ok && u.spec == w.spec && u.head == head && g.retriedAt[name] < u.step {
			return fmt.Errorf("service %s rolled back (at step %d) the spec the reconciler wrote at +%s, and the reconciler wrote it again with the head still at %s: %s",
				svcName, u.step, u.written.Sub(epoch), short(head), describeRecord(a.rec))
		}
		delete(g.undone, sv.ID)
		delete(g.goingBackFailed, sv.ID)
		if rec := a.rec; rec != nil && rec.Status == api.StackProgressing && rec.LastAttempted != nil &&
			serviceDigest(g.repo.rendered(rec.LastAttempted.Commit, name), svcName) == w.spec {
			w.deployment = rec.LastAttempted.Digest
		}
		g.written[sv.ID] = w
	}
	return nil
}

// watchRollbacks notes, after the control loop ran, the services that
// rolled back by themselves a spec the reconciler wrote; when it was
// written for the stack's latest deployment, that deployment rolled
// back.
func (s *Sim) watchRollbacks() error {
	g := s.git
	st, err := s.read()
	if err != nil {
		return err
	}
	for _, sv := range st.services {
		w, ok := g.written[sv.ID]
		u := sv.UpdateStatus
		// An operator's rollback forgets the write (handWrite): a rollback
		// of a spec the reconciler wrote is the rollout engine's, which
		// keeps the update's start.
		if !ok || u == nil || u.StartedAt == nil || u.StartedAt.Before(w.at) {
			continue
		}
		switch u.State {
		case swarm.UpdateStateRollbackStarted, swarm.UpdateStateRollbackPaused, swarm.UpdateStateRollbackCompleted:
		default:
			continue
		}
		delete(g.written, sv.ID)
		g.undone[sv.ID] = undo{spec: w.spec, head: g.repo.head().id, written: w.at, step: s.step}
		g.count("rollback seen")
		s.logf("git: %s rolled back the spec the reconciler wrote at +%s", sv.Spec.Name, w.at.Sub(epoch))
		switch {
		case w.deployment == "":
			g.goingBackFailed[sv.ID] = w.stack
			g.count("going back rolled back")
		case g.latest[w.stack] == w.deployment:
			g.rolledBack[w.stack] = w.deployment
			g.count("deployment rolled back")
		}
	}
	return nil
}

// checkGitOpsEnd checks, once the cluster is quiet, that every stack is
// where its head says.
func (s *Sim) checkGitOpsEnd() error {
	g := s.git
	states, err := s.readStacks()
	if err != nil {
		return err
	}
	reports := map[string]api.StackReport{}
	for _, r := range g.reports {
		reports[r.Name] = r
	}
	for _, name := range slices.Sorted(maps.Keys(g.repo.options)) {
		if err := s.checkStackEnd(name, states[name], reports[name]); err != nil {
			return fmt.Errorf("gitops: stack %s at the end: %w", name, err)
		}
	}
	return nil
}

func (s *Sim) checkStackEnd(name string, st stackState, rep api.StackReport) error {
	g := s.git
	head := g.repo.head()
	rec := st.rec
	if rec == nil {
		return fmt.Errorf("no record")
	}
	rr := head.snap.Stacks[name]
	if head.snap.Err != nil {
		g.count("end: swarmops.yaml broken")
		rr = nil
		if rec.LastAttempted != nil {
			rr = g.repo.render(rec.LastAttempted.Commit, name)
		}
		if rr == nil {
			return nil
		}
	}
	opts := g.repo.options[name]
	switch {
	case rr.Err != nil:
		g.count("end: Failed")
		if rec.Status != api.StackFailed {
			return fmt.Errorf("the head does not render it, yet %s", describeRecord(rec))
		}
	case !quarantinedIn(rec, rr.Revision.Digest) && rec.Status != api.StackSynced &&
		(redeployRolledBack(rec, rr.Revision.Digest) || g.cannotGoBack(name, st, rr.Spec)):
		// The applied revision rolled back when deployed again, or when
		// going back to it: it is not quarantined (it is what was good),
		// nor tried once more.
		g.count("end: Degraded, applied revision rolled back")
		if rec.Status != api.StackDegraded {
			return fmt.Errorf("the head renders %s, which rolled back when applied again, yet %s", shortDigest(rr.Revision.Digest), describeRecord(rec))
		}
		return g.rolledBackAlone(rr.Spec, st, g.byHand(name))
	case !quarantinedIn(rec, rr.Revision.Digest):
		g.count("end: Synced")
		if rec.Status != api.StackSynced || rec.Applied == nil || rec.Applied.Digest != rr.Revision.Digest {
			return fmt.Errorf("the head renders %s, not quarantined, yet %s", shortDigest(rr.Revision.Digest), describeRecord(rec))
		}
		byHand := map[string]bool{}
		if !opts.SelfHeal {
			byHand = g.byHand(name)
		}
		if err := matches(rr.Spec, st, byHand, false); err != nil {
			return fmt.Errorf("the stack is Synced at %s, but %w", shortDigest(rr.Revision.Digest), err)
		}
		// Tasks are the control loop's: a rollout may leave a slot it
		// failed to update until the next change, as Swarm does, and
		// the simulation's own convergence check judges the tasks.
		var drift []api.Drift
		for _, d := range rep.Drift {
			if d.Kind != api.DriftNotConverged {
				drift = append(drift, d)
			}
		}
		if len(byHand) == 0 && (rep.Status != api.StackSynced || len(drift) > 0) {
			return fmt.Errorf("the stack is Synced and as git has it, but `swarmops status` shows %s %q with drift %+v", rep.Status, rep.Message, drift)
		}
	default:
		// A revision quarantined because its rollout rolled back leaves the
		// stack Degraded; one the cluster refused leaves it Failed.
		want := api.StackDegraded
		if d := deploymentOf(rec, rr.Revision.Digest); d != nil && d.Outcome == api.OutcomeFailed {
			want = api.StackFailed
		}
		g.count("end: " + string(want) + ", head quarantined")
		if rec.Status != want {
			return fmt.Errorf("the head renders %s, which is quarantined, yet %s", shortDigest(rr.Revision.Digest), describeRecord(rec))
		}
		if opts.RollbackStack && rec.Applied != nil && g.cannotGoBack(name, st, g.repo.rendered(rec.Applied.Commit, name)) {
			// Going back rolled back too, or would write again a spec that
			// just rolled back: the stack is left as it is.
			g.count("end: going back failed")
			return nil
		}
		if opts.RollbackStack && rec.Applied != nil {
			g.count("end: back on the last good revision")
			if err := matches(g.repo.rendered(rec.Applied.Commit, name), st, nil, true); err != nil {
				return fmt.Errorf("%s with rollback_stack, but %w", want, err)
			}
			return nil
		}
		return lastDeployment(g, name, rec, st)
	}
	return nil
}

// lastDeployment checks a stack the reconciler applies nothing to: the
// cluster is as the stack's latest deployment left it — all of it, when
// it succeeded; each service as it has it or rolled back, when it rolled
// back; what the cluster took of it, when the cluster refused it — but
// for the services changed by hand since.
func lastDeployment(g *gitops, name string, rec *api.Stack, st stackState) error {
	if len(rec.History) == 0 {
		return fmt.Errorf("quarantined, yet no deployment is recorded: %s", describeRecord(rec))
	}
	d := rec.History[0]
	target := g.repo.rendered(d.Commit, name)
	switch d.Outcome {
	case api.OutcomeSucceeded:
		if err := matches(target, st, g.byHand(name), true); err != nil {
			return fmt.Errorf("the last deployment, of %s, succeeded, but %w", short(d.Commit), err)
		}
	case api.OutcomeRolledBack:
		if err := g.rolledBackAlone(target, st, g.byHand(name)); err != nil {
			return fmt.Errorf("the last deployment, of %s, rolled back, but %w", short(d.Commit), err)
		}
	}
	return nil
}

// redeployRolledBack reports whether rec's latest deployment, of digest,
// the applied revision, rolled back.
func redeployRolledBack(rec *api.Stack, digest string) bool {
	return rec.Applied != nil && rec.Applied.Digest == digest && len(rec.History) > 0 &&
		rec.History[0].Digest == digest && rec.History[0].Outcome == api.OutcomeRolledBack
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

// cannotGoBack reports whether, for stack st, a spec the reconciler
// wrote to go back to lastGood rolled back, or a service rolled back the
// very spec lastGood asks of it.
func (g *gitops) cannotGoBack(stack string, st stackState, lastGood *api.StackSpec) bool {
	if slices.Contains(slices.Collect(maps.Values(g.goingBackFailed)), stack) {
		return true
	}
	for name, sv := range st.services {
		if u, ok := g.undone[sv.ID]; ok && lastGood != nil && u.spec == serviceDigest(lastGood, name) {
			return true
		}
	}
	return false
}

// byHand is the services of stack changed by hand since the reconciler
// last wrote them.
func (g *gitops) byHand(stack string) map[string]bool {
	out := map[string]bool{}
	for name := range g.handEdited {
		if strings.HasPrefix(name, stack+"_") {
			out[name] = true
		}
	}
	return out
}

// matches checks that the stack runs target, but for the services in
// byHand (changed by hand, any way). leftovers allows objects target no
// longer has to stay while a service has not converged (a paused
// rollback holds the removals back).
func matches(target *api.StackSpec, st stackState, byHand map[string]bool, leftovers bool) error {
	if target == nil {
		return fmt.Errorf("its revision does not render")
	}
	unsettled := false
	for _, sv := range st.services {
		if u := sv.UpdateStatus; u != nil && (u.State == swarm.UpdateStatePaused || u.State == swarm.UpdateStateRollbackPaused) {
			unsettled = true
		}
	}
	var off []string
	for _, ch := range stackspec.Diff(target, st.spec).Changes {
		switch {
		case ch.Kind == api.KindService && byHand[ch.Name]:
		case leftovers && unsettled && ch.Kind != api.KindService && ch.Action == api.ActionRemove:
		default:
			off = append(off, fmt.Sprintf("%s %s %s %v", ch.Action, ch.Kind, ch.Name, ch.Fields))
		}
	}
	if len(off) > 0 {
		return fmt.Errorf("the cluster differs from it: %s", strings.Join(off, "; "))
	}
	return nil
}

// rolledBackAlone checks a stack whose last deployment rolled back
// without a stack rollback: each of the deployment's services runs as it
// has it, or rolled back (as its update status says, or as the
// simulation saw it: a later rollout of the tasks left behind may have
// replaced the status since).
func (g *gitops) rolledBackAlone(target *api.StackSpec, st stackState, byHand map[string]bool) error {
	if target == nil {
		return fmt.Errorf("its revision does not render")
	}
	for _, name := range slices.Sorted(maps.Keys(target.Services)) {
		sv := st.services[name]
		if byHand[name] || sv != nil && serviceDigest(target, name) == serviceDigest(st.spec, name) {
			continue
		}
		if sv == nil {
			return fmt.Errorf("service %s is missing", name)
		}
		if _, seen := g.undone[sv.ID]; seen {
			continue
		}
		switch u := sv.UpdateStatus; {
		case u != nil && (u.State == swarm.UpdateStateRollbackStarted || u.State == swarm.UpdateStateRollbackPaused || u.State == swarm.UpdateStateRollbackCompleted):
		default:
			return fmt.Errorf("service %s runs neither the deployment's spec nor a rollback: %s", name, describeService(sv))
		}
	}
	return nil
}

func quarantinedIn(rec *api.Stack, digest string) bool {
	return slices.ContainsFunc(rec.Quarantined, func(r api.Revision) bool { return r.Digest == digest })
}

// describeRecord is a stack record in one line, for errors.
func describeRecord(rec *api.Stack) string {
	if rec == nil {
		return "no record"
	}
	rev := func(r *api.Revision) string {
		if r == nil {
			return "-"
		}
		return short(r.Commit) + "/" + shortDigest(r.Digest)
	}
	var q []string
	for _, r := range rec.Quarantined {
		q = append(q, shortDigest(r.Digest))
	}
	return fmt.Sprintf("%s %q applied=%s attempted=%s quarantined=%v retry=%s", rec.Status, rec.Message, rev(rec.Applied), rev(rec.LastAttempted), q, shortDigest(rec.Retry))
}
