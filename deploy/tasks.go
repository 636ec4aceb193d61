package deploy

import (
	"sort"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/api"
)

// rank places a state in the order task states move along; an unknown
// state ranks past every known one, so a task in it counts as gone.
func rank(s swarm.TaskState) int {
	if r, ok := api.TaskStateRank(s); ok {
		return r
	}
	return orphanedRank + 1
}

var orphanedRank, _ = api.TaskStateRank(swarm.TaskStateOrphaned)

// live reports whether t is meant to run and has not ended: the task that
// fills its slot, or one of the two of a start-first overlap.
func live(t *swarm.Task) bool {
	return rank(t.DesiredState) <= rank(swarm.TaskStateRunning) && rank(t.Status.State) <= rank(swarm.TaskStateRunning)
}

// ended reports whether t ended by itself in a way that counts as a
// failure of its update, "failure or early termination" in Swarm's words:
// it failed, was rejected, or exited although a service task should not.
// A task that was told to stop (shutdown) or whose node was lost has not.
func ended(t *swarm.Task) bool {
	switch t.Status.State {
	case swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateComplete:
		return true
	}
	return false
}

// taskTime is when a task was created.
func taskTime(t *swarm.Task) time.Time {
	if !t.CreatedAt.IsZero() {
		return t.CreatedAt
	}
	return t.Status.Timestamp
}

func labelTime(t *swarm.Task, key string) (time.Time, bool) {
	v, ok := t.Labels[key]
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	return at, err == nil
}

// formatTime is how times are written into labels.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// slot is one place of the service: a slot number of a replicated service,
// a node of a global one.
type slot struct {
	key   string
	order int // the slot number; 0 for global services, ordered by key
	// clean and dirty are its tasks meant to run and not ended, of the
	// current spec and of an older one, oldest first.
	clean, dirty []*swarm.Task
}

func isGlobal(svc *swarm.Service) bool {
	return svc.Spec.Mode.Global != nil || svc.Spec.Mode.GlobalJob != nil
}

func isJob(svc *swarm.Service) bool {
	return svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil
}

// slotKey names t's place, or "" when it has none (a replicated task left
// from global mode, a global task not yet on a node).
func slotKey(svc *swarm.Service, t *swarm.Task) (key string, order int) {
	if isGlobal(svc) {
		return t.NodeID, 0
	}
	if t.Slot < 1 {
		return "", 0
	}
	return strconv.Itoa(t.Slot), t.Slot
}

// sortedTasks copies tasks, oldest first.
func sortedTasks(tasks []*swarm.Task) []*swarm.Task {
	out := append([]*swarm.Task(nil), tasks...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := taskTime(out[i]), taskTime(out[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// held reports whether the rollout leaves t's place alone: a global
// service's place on a paused node.
func held(svc *swarm.Service, t *swarm.Task, paused map[string]bool) bool {
	return isGlobal(svc) && paused[t.NodeID]
}

// slotsOf groups the live tasks by place, in slot (or node ID) order,
// leaving out the places the rollout leaves alone (held).
func slotsOf(svc *swarm.Service, tasks []*swarm.Task, paused map[string]bool) []*slot {
	byKey := map[string]*slot{}
	var slots []*slot
	for _, t := range tasks {
		key, order := slotKey(svc, t)
		if key == "" || !live(t) || held(svc, t, paused) {
			continue
		}
		s := byKey[key]
		if s == nil {
			s = &slot{key: key, order: order}
			byKey[key] = s
			slots = append(slots, s)
		}
		if Dirty(svc, t) {
			s.dirty = append(s.dirty, t)
		} else {
			s.clean = append(s.clean, t)
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		if slots[i].order != slots[j].order {
			return slots[i].order < slots[j].order
		}
		return slots[i].key < slots[j].key
	})
	return slots
}
