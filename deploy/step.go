package deploy

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Messages of the UpdateStatus, as SwarmKit's updater words them: the
// docker CLI prints them ("service update paused: update paused due to
// failure or early termination of task ...").
const (
	MessageUpdating          = "update in progress"
	MessageCompleted         = "update completed"
	MessageRollbackCompleted = "rollback completed"
	// MessageManualRollback is what the API writes for `docker service
	// rollback`.
	MessageManualRollback = "manually requested rollback"
)

// Step decides the next move of in.Service's rollout. It is a pure
// function of in: everything it remembers between calls is in the service
// (UpdateStatus, Spec, PreviousSpec) and the tasks (their specs, statuses
// and the labels the orchestrator sets as Decisions ask), so any leader
// reaches the same decision.
//
// A rollout starts when a live task is out of date (Dirty) and no rollout
// is paused: Step first writes UpdateStatus "updating", and replaces
// tasks from the next call on, parallelism slots at a time, each slot's
// worker waiting for its replacement to count as updated (running, for
// min_healthy_time when set) or to fail, then for delay, before it takes
// the next slot. A replacement that fails before it counts as updated, or
// within monitor after, counts as a failure; once the failures exceed
// max_failure_ratio of the rollout's slots, failure_action (or
// auto_rollback) decides: pause, roll back (the spec goes back to
// PreviousSpec and rollback_config rolls it), or continue. A failing
// rollback pauses, never rolls back. After the last slot the rollout
// waits for delay and monitor once more, then completes. Jobs are not
// rolled: each update of a job starts a new run of it.
func Step(in Input) Decision {
	svc := in.Service
	if svc == nil || isJob(svc) {
		return Decision{}
	}
	var state swarm.UpdateState
	if svc.UpdateStatus != nil {
		state = svc.UpdateStatus.State
	}
	switch state {
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused, swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
	default:
		// No rollout in progress: the common case, every pass, for every
		// service, so it is one scan without allocations.
		if !anyDirty(svc, in.Tasks, in.PausedNodes) {
			return Decision{}
		}
	}
	r := newRollout(in)
	switch state {
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		r.finishOverlaps()
	case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
		r.active(state == swarm.UpdateStateRollbackStarted)
	default:
		r.idle()
	}
	return r.d
}

// anyDirty reports whether a live task that fills a place of svc, one a
// rollout may replace, is out of date.
func anyDirty(svc *swarm.Service, tasks []*swarm.Task, paused map[string]bool) bool {
	for _, t := range tasks {
		if key, _ := slotKey(svc, t); key != "" && live(t) && Dirty(svc, t) && !held(svc, t, paused) {
			return true
		}
	}
	return false
}

// rollout is one Step call's working state.
type rollout struct {
	svc   *swarm.Service
	now   time.Time
	tasks []*swarm.Task // oldest first
	slots []*slot
	gates gates
	cfg   config
	// id names the rollout in progress; repls are the replacements it
	// made that are of the current spec, dead ones included, oldest first.
	id    string
	repls []*swarm.Task
	// failedNow are the replacements this call fails, and when.
	failedNow map[string]time.Time
	d         Decision
}

func newRollout(in Input) *rollout {
	r := &rollout{
		svc:       in.Service,
		now:       in.Now,
		tasks:     sortedTasks(in.Tasks),
		gates:     gatesOf(in.Service.Spec.Labels),
		failedNow: map[string]time.Time{},
	}
	r.slots = slotsOf(r.svc, r.tasks, in.PausedNodes)
	if st := r.svc.UpdateStatus; st != nil {
		r.id = rolloutID(st)
	}
	for _, t := range r.tasks {
		if key, _ := slotKey(r.svc, t); key != "" && r.isReplacement(t) {
			r.repls = append(r.repls, t)
		}
	}
	return r
}

// isReplacement reports whether the rollout in progress made t, and t is
// of the spec it rolls out (after an automatic rollback, which keeps the
// rollout's start time, the update's replacements are not the rollback's).
func (r *rollout) isReplacement(t *swarm.Task) bool {
	return r.id != "" && t.Labels[LabelUpdateOf] != "" && t.Labels[LabelRollout] == r.id && !Dirty(r.svc, t)
}

// Keep reports whether t is a replacement made by svc's rollout in
// progress: the rollout counts its failure, so the task reaper must not
// delete it yet.
func Keep(svc *swarm.Service, t *swarm.Task) bool {
	if svc == nil || svc.UpdateStatus == nil || t.Labels[LabelUpdateOf] == "" {
		return false
	}
	switch svc.UpdateStatus.State {
	case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
	default:
		return false
	}
	r := rollout{svc: svc, id: rolloutID(svc.UpdateStatus)}
	return r.isReplacement(t)
}

// rolloutID names the rollout an update status describes: its start.
func rolloutID(st *swarm.UpdateStatus) string {
	var started time.Time
	if st.StartedAt != nil {
		started = *st.StartedAt
	}
	return formatTime(started)
}

func (r *rollout) wakeAt(at time.Time) {
	if at.After(r.now) && (r.d.Wake.IsZero() || at.Before(r.d.Wake)) {
		r.d.Wake = at
	}
}

// idle starts a rollout when a live task is out of date. The status is
// written alone: replacements are labelled with the rollout's start, so
// they are made once it is in the store.
func (r *rollout) idle() {
	// A start-first overlap left when a rollout ended (its replacement
	// failed, and the restart made beside the old task now counts as
	// updated) ends as a new rollout of that slot would end it.
	r.finishOverlaps()
	if len(r.d.Shutdown) > 0 {
		return
	}
	completed := r.svc.UpdateStatus != nil && r.svc.UpdateStatus.State == swarm.UpdateStateCompleted
	for _, s := range r.slots {
		// A rollout that completed under failure_action continue leaves
		// the slots it failed to update as they were; they wait for the
		// next spec change rather than being tried again and again.
		if len(s.dirty) > 0 && !(completed && r.failedIn(s)) {
			now := r.now
			r.d.Status = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &now, Message: MessageUpdating}
			return
		}
	}
}

// active moves a rollout in progress on.
func (r *rollout) active(rollingBack bool) {
	if rollingBack {
		r.cfg = configOf(r.svc.Spec.RollbackConfig)
	} else {
		r.cfg = configOf(r.svc.Spec.UpdateConfig)
	}
	r.d.Rollout = r.id
	inProgress := r.checkReplacements()
	r.finishOverlaps()
	if r.failureAction(rollingBack) {
		return
	}
	var pending []*slot
	overlapping := false
	for _, s := range r.slots {
		switch {
		case len(s.dirty) == 0:
		case len(s.clean) == 0:
			// A slot this rollout tried and whose replacement failed is
			// done with, as SwarmKit's updater dispatches each slot once:
			// under failure_action continue it keeps its old task.
			if !r.failedIn(s) {
				pending = append(pending, s)
			}
		default:
			overlapping = true
			if !r.cfg.startFirst {
				r.stopBeside(s)
			}
		}
	}
	if len(pending) == 0 && !inProgress && !overlapping {
		r.complete(rollingBack)
		return
	}
	if r.stalled(rollingBack) {
		return
	}
	r.replace(pending)
	if !r.cfg.startFirst {
		for _, s := range pending {
			if !r.replacing(s) {
				r.endAbandoned(s)
			}
		}
	}
}

// replacing reports whether this step replaces slot s.
func (r *rollout) replacing(s *slot) bool {
	for _, rp := range r.d.Replace {
		for _, t := range s.dirty {
			if rp.TaskID == t.ID || slices.Contains(rp.Stop, t.ID) {
				return true
			}
		}
	}
	return false
}

// checkReplacements records the replacements that came to count as
// updated, fails those past the healthy deadline, and reports whether one
// is still on its way.
func (r *rollout) checkReplacements() (inProgress bool) {
	for _, t := range r.repls {
		if !live(t) {
			continue
		}
		if at, ok := r.updatedAt(t); ok {
			if _, stamped := t.Labels[LabelUpdatedAt]; !stamped {
				r.d.Updated = append(r.d.Updated, Updated{TaskID: t.ID, At: at})
			}
			continue
		}
		if dl := r.gates.healthyDeadline; dl > 0 {
			at := taskTime(t).Add(dl)
			if !r.now.Before(at) {
				r.failedNow[t.ID] = at
				r.d.Fail = append(r.d.Fail, Failure{TaskID: t.ID, Err: fmt.Sprintf(
					"not running and healthy within the healthy deadline of %s (label %s)", dl, LabelHealthyDeadline)})
				continue
			}
			r.wakeAt(at)
		}
		inProgress = true
	}
	return inProgress
}

// updatedAt is when t came to count as updated: running, and healthy if it
// has a healthcheck (the agent holds such a task in starting until then),
// for min_healthy_time. ok is false when it does not count yet.
func (r *rollout) updatedAt(t *swarm.Task) (at time.Time, ok bool) {
	if at, ok := labelTime(t, LabelUpdatedAt); ok {
		return at, true
	}
	if !live(t) || t.Status.State != swarm.TaskStateRunning {
		return time.Time{}, false
	}
	at = t.Status.Timestamp.Add(r.gates.minHealthy)
	if r.now.Before(at) {
		r.wakeAt(at)
		return time.Time{}, false
	}
	return at, true
}

// failedAt is when replacement t failed, if it did.
func (r *rollout) failedAt(t *swarm.Task) (time.Time, bool) {
	if at, ok := r.failedNow[t.ID]; ok {
		return at, true
	}
	if t.Labels[LabelFailed] != "" {
		if dl := r.gates.healthyDeadline; dl > 0 {
			return taskTime(t).Add(dl), true
		}
		return t.Status.Timestamp, true
	}
	if ended(t) {
		return t.Status.Timestamp, true
	}
	return time.Time{}, false
}

// finish is when the worker of replacement t was done with it: when t came
// to count as updated or failed; the zero time when t was told to stop for
// another reason (scaled away, node lost). ok is false while it is on its
// way.
func (r *rollout) finish(t *swarm.Task) (time.Time, bool) {
	if at, ok := labelTime(t, LabelUpdatedAt); ok {
		return at, true
	}
	if at, ok := r.failedAt(t); ok {
		return at, true
	}
	if !live(t) {
		return time.Time{}, true
	}
	if at, ok := r.updatedAt(t); ok {
		return at, true
	}
	return time.Time{}, false
}

// finishOverlaps ends start-first overlaps: once a slot's newest task of
// the current spec counts as updated, the older tasks beside it are told
// to stop. A paused rollout still lets a slot it started finish, as
// SwarmKit's workers do.
func (r *rollout) finishOverlaps() {
	for _, s := range r.slots {
		if len(s.dirty) == 0 {
			continue
		}
		if len(s.clean) > 0 {
			if _, ok := r.updatedAt(s.clean[len(s.clean)-1]); ok {
				for _, t := range s.dirty {
					r.shutdown(t.ID)
				}
				continue
			}
		}
		// An overlap an earlier rollout began, whose replacement (or the
		// restart of a replacement that failed) a newer spec has since
		// made out of date too, ends as that rollout's worker would have
		// ended it: once the newest task counts as updated, the older
		// ones beside it stop. (Only a start-first overlap puts two live
		// tasks in one slot; tasks are oldest first.)
		if n := len(s.dirty); n > 1 {
			if _, ok := r.updatedAt(s.dirty[n-1]); ok {
				for _, t := range s.dirty[:n-1] {
					r.shutdown(t.ID)
				}
			}
		}
	}
}

// shutdown tells task id to stop, once.
func (r *rollout) shutdown(id string) {
	if !slices.Contains(r.d.Shutdown, id) {
		r.d.Shutdown = append(r.d.Shutdown, id)
	}
}

// stopBeside ends, under stop-first, an overlap the rollout did not make:
// out-of-date tasks beside a task of the current spec still on its way
// (an earlier start-first rollout's replacement, now out of date, beside
// a restart of the task it replaced). They are told to stop, as stop-first
// stops a slot's old task before its new one runs; waiting for the new
// task to count as updated first, as a start-first overlap does, could
// wait forever, when the old task holds what the new one needs (a host
// port, the node's room).
func (r *rollout) stopBeside(s *slot) {
	for _, t := range s.dirty {
		if !slices.Contains(r.d.Shutdown, t.ID) {
			r.d.Shutdown = append(r.d.Shutdown, t.ID)
		}
	}
}

// failedIn reports whether the rollout of the current status tried slot s
// and its replacement failed.
func (r *rollout) failedIn(s *slot) bool {
	for _, t := range r.repls {
		if key, _ := slotKey(r.svc, t); key != s.key {
			continue
		}
		if _, ok := r.failedAt(t); ok {
			return true
		}
	}
	return false
}

// endAbandoned ends, under stop-first, a start-first overlap an earlier
// rollout began and a newer spec cut short (both tasks now out of date),
// in a slot this step does not replace: the older tasks stop, so the slot
// holds one task meant to run (the replacement, or the restart of one
// that failed) until this rollout gets to it, as stop-first wants (when
// it does, the replacement stops them together). Waiting for the newest
// to run first could wait for ever when the older holds what it needs (a
// host port, the node's room). Tasks are oldest first.
func (r *rollout) endAbandoned(s *slot) {
	for _, t := range s.dirty[:max(len(s.dirty)-1, 0)] {
		r.shutdown(t.ID)
	}
}

// failureAction applies failure_action (or auto_rollback) once the
// counted failures exceed max_failure_ratio of the rollout's slots, and
// reports whether it did.
func (r *rollout) failureAction(rollingBack bool) bool {
	action := r.cfg.failureAction
	if !rollingBack && r.gates.autoRollback {
		action = swarm.UpdateFailureActionRollback
	}
	if action == swarm.UpdateFailureActionContinue {
		return false
	}
	type failure struct {
		id string
		at time.Time
	}
	var failures []failure
	for _, t := range r.repls {
		at, ok := r.failedAt(t)
		if !ok {
			continue
		}
		// A replacement counts until monitor after it came to count as
		// updated; one that never did counts whenever it fails.
		if up, stamped := labelTime(t, LabelUpdatedAt); stamped && at.After(up.Add(r.cfg.monitor)) {
			continue
		}
		failures = append(failures, failure{t.ID, at})
	}
	sort.SliceStable(failures, func(i, j int) bool { return failures[i].at.Before(failures[j].at) })
	total := r.rolloutSlots()
	for i, f := range failures {
		if float32(i+1)/float32(total) > r.cfg.maxFailureRatio {
			r.act(rollingBack, action, "failure or early termination of task "+f.id)
			return true
		}
	}
	return false
}

// rolloutSlots counts the slots the rollout covers, as SwarmKit counts
// the dirty slots an update starts with: those still out of date and those
// it replaced.
func (r *rollout) rolloutSlots() int {
	keys := map[string]bool{}
	for _, s := range r.slots {
		if len(s.dirty) > 0 {
			keys[s.key] = true
		}
	}
	for _, t := range r.repls {
		key, _ := slotKey(r.svc, t)
		keys[key] = true
	}
	return max(len(keys), 1)
}

// act ends the rollout's progress for why: it pauses, or rolls back. A
// rollback is never rolled back; an update with no previous spec to go
// back to pauses.
func (r *rollout) act(rollingBack bool, action, why string) {
	st := r.status()
	switch {
	case rollingBack && action == swarm.UpdateFailureActionPause:
		// SwarmKit's wording: the pause branch names an update.
		st.State, st.Message = swarm.UpdateStateRollbackPaused, "update paused due to "+why
	case rollingBack:
		st.State, st.Message = swarm.UpdateStateRollbackPaused, "rollback paused due to "+why
	case action == swarm.UpdateFailureActionRollback && r.svc.PreviousSpec != nil:
		st.State, st.Message = swarm.UpdateStateRollbackStarted, "update rolled back due to "+why
		r.d.Rollback = true
	default:
		st.State, st.Message = swarm.UpdateStatePaused, "update paused due to "+why
	}
	r.d.Status = st
}

// status is a copy of the current UpdateStatus to change.
func (r *rollout) status() *swarm.UpdateStatus {
	st := &swarm.UpdateStatus{}
	if cur := r.svc.UpdateStatus; cur != nil {
		*st = *cur
	}
	st.CompletedAt = nil
	return st
}

// stalled fails the rollout when no slot came to count as updated within
// the progress deadline: whatever the failure ratio, since a rollout that
// does not move cannot continue, failure_action continue pauses too. The
// deadline runs from the rollout's start, or from the service's last
// write if later: an automatic rollback keeps the update's StartedAt, as
// in Swarm, and starts when its status was written (nothing else writes a
// service during a rollout: the API's updates reset the status).
func (r *rollout) stalled(rollingBack bool) bool {
	dl := r.gates.progressDeadline
	if dl <= 0 {
		return false
	}
	last := r.svc.UpdatedAt
	if st := r.svc.UpdateStatus; st.StartedAt != nil && st.StartedAt.After(last) {
		last = *st.StartedAt
	}
	for _, t := range r.repls {
		if at, ok := labelTime(t, LabelUpdatedAt); ok && at.After(last) {
			last = at
		} else if !ok && live(t) {
			if at, ok := r.updatedAt(t); ok && at.After(last) {
				last = at
			}
		}
	}
	if r.now.Before(last.Add(dl)) {
		r.wakeAt(last.Add(dl))
		return false
	}
	action := swarm.UpdateFailureActionPause
	if r.gates.autoRollback || r.cfg.failureAction == swarm.UpdateFailureActionRollback {
		action = swarm.UpdateFailureActionRollback
	}
	if rollingBack {
		action = swarm.UpdateFailureActionRollback // "rollback paused"
	}
	r.act(rollingBack, action, fmt.Sprintf("no progress within the progress deadline of %s", dl))
	return true
}

// replace gives the free workers the next out-of-date slots. A worker is
// busy from the replacement it made until delay after that replacement
// came to count as updated or failed.
func (r *rollout) replace(pending []*slot) {
	busy := 0
	for _, t := range r.repls {
		end, ok := r.finish(t)
		if !ok {
			busy++
			continue
		}
		if free := end.Add(r.cfg.delay); r.now.Before(free) {
			busy++
			r.wakeAt(free)
		}
	}
	workers := r.cfg.parallelism
	if workers == 0 {
		workers = len(pending)
	}
	n := min(max(workers-busy, 0), len(pending))
	for _, s := range pending[:n] {
		dirty := s.dirty
		// Two old tasks in a slot (a start-first replacement of an earlier
		// rollout that never started, beside the task it was to replace):
		// the one furthest along is replaced, so that a stop-first
		// replacement waits for it; the others stop with it.
		old := dirty[0]
		for _, t := range dirty[1:] {
			if rank(t.Status.State) >= rank(old.Status.State) {
				old = t
			}
		}
		rp := Replacement{TaskID: old.ID, StartFirst: r.cfg.startFirst}
		for _, t := range dirty {
			if t != old {
				rp.Stop = append(rp.Stop, t.ID)
			}
		}
		r.d.Replace = append(r.d.Replace, rp)
	}
}

// complete ends a rollout with nothing left to replace once its last
// worker is done: delay after its last replacement, then the final
// monitor window.
func (r *rollout) complete(rollingBack bool) {
	var end time.Time
	for _, t := range r.repls {
		if at, ok := r.finish(t); ok && at.After(end) {
			end = at
		}
	}
	if !end.IsZero() {
		at := end.Add(r.cfg.delay).Add(r.cfg.finalMonitor())
		if r.now.Before(at) {
			r.wakeAt(at)
			return
		}
	}
	st := r.status()
	now := r.now
	st.CompletedAt = &now
	if rollingBack {
		st.State, st.Message = swarm.UpdateStateRollbackCompleted, MessageRollbackCompleted
	} else {
		st.State, st.Message = swarm.UpdateStateCompleted, MessageCompleted
	}
	r.d.Status = st
}
