package sim

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
)

// history is what the simulation remembers of the cluster's past, which
// the store forgets (the task reaper deletes old tasks): the restarts of
// every slot, and the completions of every job run. It backs the
// invariants on max_attempts and total_completions.
type history struct {
	// restarts are the replacements made in each instance of a service
	// (a slot, or a node for global services) since a task was last
	// created there afresh; allRestarts all of them. The orchestrator
	// counts from the tasks the store still holds, which lie in between:
	// a replacement made beyond max_attempts within restarts is surely
	// wrong, and a slot given up on with fewer than max_attempts within
	// allRestarts is too.
	restarts, allRestarts map[instance][]restart
	// completed are the tasks that completed, by service and job
	// iteration.
	completed map[string]map[uint64]map[string]bool
	// endedAt is, for each replacement, the status time of the task it
	// replaces when it was created: when that task ended, as the
	// orchestrator saw it.
	endedAt map[string]time.Time
	// endedSpec is, for each replacement, the spec of the task it replaces.
	endedSpec map[string]string
}

type instance struct {
	service string
	slot    int
	node    string
}

type restart struct {
	task    string
	spec    string
	created time.Time
}

func newHistory() *history {
	return &history{restarts: map[instance][]restart{}, allRestarts: map[instance][]restart{}, completed: map[string]map[uint64]map[string]bool{}, endedAt: map[string]time.Time{}, endedSpec: map[string]string{}}
}

func instanceOf(t *swarm.Task, global bool) instance {
	if global {
		return instance{service: t.ServiceID, node: t.NodeID}
	}
	return instance{service: t.ServiceID, slot: t.Slot}
}

func specKey(t *swarm.Task) string {
	b, err := json.Marshal(t.Spec)
	if err != nil {
		panic(fmt.Sprintf("sim: task spec does not encode: %v", err))
	}
	return string(b)
}

// observe records what the store shows after a step and checks that no
// replacement went past its restart policy's max_attempts within its
// window, counting as the policy says: the replacements of the same
// instance under the same spec created within the window before the
// replaced task ended. globalSvc says which services are global; tasks
// of removed services are skipped.
func (h *history) observe(st state, fresh map[string]bool, globalSvc map[string]bool) error {
	for _, t := range st.tasks {
		g, known := globalSvc[t.ServiceID]
		if !known || !fresh[t.ID] {
			continue
		}
		key := instanceOf(t, g)
		of := t.Labels[orchestrator.LabelRestartOf]
		if of == "" {
			delete(h.restarts, key) // a fresh start: the policy counts anew
			continue
		}
		if p := t.Spec.RestartPolicy; p != nil && p.MaxAttempts != nil && *p.MaxAttempts > 0 {
			ended, ok := h.endedAt[t.ID]
			if !ok {
				// Its restarts are counted from the tasks of the slot: the
				// one it replaces must be kept.
				return fmt.Errorf("task %s replaces %s, which was not in the store when it was created", t.ID, of)
			}
			// A restart of a task of another spec (an update's old task
			// ended) is not limited by the new spec's max_attempts: the
			// policy counts the restarts made under the ended task's spec,
			// as SwarmKit's supervisor lets any task of another spec
			// version restart.
			if h.endedSpec[t.ID] == specKey(t) {
				if err := h.checkRestart(t, key, ended); err != nil {
					return err
				}
			}
		}
		r := restart{task: t.ID, spec: specKey(t), created: t.CreatedAt}
		h.restarts[key] = append(h.restarts[key], r)
		h.allRestarts[key] = append(h.allRestarts[key], r)
	}
	for _, t := range st.tasks {
		if t.Status.State == swarm.TaskStateComplete && t.JobIteration != nil {
			byIt := h.completed[t.ServiceID]
			if byIt == nil {
				byIt = map[uint64]map[string]bool{}
				h.completed[t.ServiceID] = byIt
			}
			if byIt[t.JobIteration.Index] == nil {
				byIt[t.JobIteration.Index] = map[string]bool{}
			}
			byIt[t.JobIteration.Index][t.ID] = true
		}
	}
	return nil
}

// created records a replacement as the store creates it, with the status
// time of the task it replaces at that moment.
func (h *history) created(t *swarm.Task, st state) {
	of := t.Labels[orchestrator.LabelRestartOf]
	if of == "" {
		return
	}
	for _, old := range st.tasks {
		if old.ID == of {
			h.endedAt[t.ID] = old.Status.Timestamp
			h.endedSpec[t.ID] = specKey(old)
		}
	}
}

func (h *history) checkRestart(t *swarm.Task, key instance, ended time.Time) error {
	p := t.Spec.RestartPolicy
	n := restartsBefore(h.restarts[key], specKey(t), ended, p.Window)
	if n >= *p.MaxAttempts {
		return fmt.Errorf("task %s (%s slot %d node %q) is restart %d within the window before %s, max_attempts is %d",
			t.ID, t.ServiceID, t.Slot, t.NodeID, n+1, ended.Format(time.TimeOnly), *p.MaxAttempts)
	}
	return nil
}

// restartsBefore counts the replacements under spec made within window
// before ended (all of them when there is no window).
func restartsBefore(restarts []restart, spec string, ended time.Time, window *time.Duration) uint64 {
	var n uint64
	for _, r := range restarts {
		if r.spec != spec {
			continue
		}
		if window != nil && *window > 0 && (!r.created.After(ended.Add(-*window)) || !r.created.Before(ended)) {
			continue
		}
		n++
	}
	return n
}

// gaveUp reports whether the restart policy of t, a task that ended,
// allows no replacement: the condition excludes how it ended, or
// max_attempts restarts were made within the window.
func (h *history) gaveUp(t *swarm.Task, global bool) bool {
	p := t.Spec.RestartPolicy
	switch {
	case p == nil:
		return false
	case p.Condition == swarm.RestartPolicyConditionNone:
		return true
	case t.Status.State == swarm.TaskStateComplete && (p.Condition == swarm.RestartPolicyConditionOnFailure || t.JobIteration != nil):
		return true
	case p.MaxAttempts == nil || *p.MaxAttempts == 0:
		return false
	}
	return restartsBefore(h.allRestarts[instanceOf(t, global)], specKey(t), t.Status.Timestamp, p.Window) >= *p.MaxAttempts
}
