package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-memdb"
)

// TaskStatusReport is the object of an OpSetTaskStatus mutation: the node
// that reports, and the status it reports.
type TaskStatusReport struct {
	NodeID string           `json:"node_id"`
	Status swarm.TaskStatus `json:"status"`
}

// taskStateOrder is SwarmKit's order of task states: a task's observed
// state only ever moves along it.
var taskStateOrder = map[swarm.TaskState]int{
	swarm.TaskStateNew:       0,
	swarm.TaskStateAllocated: 1,
	swarm.TaskStatePending:   2,
	swarm.TaskStateAssigned:  3,
	swarm.TaskStateAccepted:  4,
	swarm.TaskStatePreparing: 5,
	swarm.TaskStateReady:     6,
	swarm.TaskStateStarting:  7,
	swarm.TaskStateRunning:   8,
	swarm.TaskStateComplete:  9,
	swarm.TaskStateShutdown:  10,
	swarm.TaskStateFailed:    11,
	swarm.TaskStateRejected:  12,
	swarm.TaskStateRemove:    13,
	swarm.TaskStateOrphaned:  14,
}

// TaskStateRank is the position of a task state in the order states move
// along (new first, orphaned last); ok is false for a state Docker does
// not define. The empty state counts as new.
func TaskStateRank(s swarm.TaskState) (rank int, ok bool) {
	if s == "" {
		return 0, true
	}
	rank, ok = taskStateOrder[s]
	return rank, ok
}

// StatusAdvances reports whether next may replace cur as a task's
// observed status: its state is later, or it is the same state with news
// (another message, exit code or ports) reported no earlier than cur.
// Anything else is a stale or repeated report.
func StatusAdvances(cur, next swarm.TaskStatus) bool {
	rc, okc := TaskStateRank(cur.State)
	rn, okn := TaskStateRank(next.State)
	switch {
	case !okc || !okn || rn < rc:
		return false
	case rn > rc:
		return true
	case next.Timestamp.Before(cur.Timestamp):
		return false
	}
	a, errA := json.Marshal(cur)
	b, errB := json.Marshal(next)
	return errA == nil && errB == nil && !bytes.Equal(a, b)
}

// encodeStatusReport checks and encodes the object of an OpSetTaskStatus
// mutation.
func encodeStatusReport(m Mutation) (json.RawMessage, error) {
	var rep *TaskStatusReport
	switch o := m.Object.(type) {
	case *TaskStatusReport:
		rep = o
	case TaskStatusReport:
		rep = &o
	}
	if rep == nil {
		return nil, fmt.Errorf("%w: %s %s: object is a %T, not a *TaskStatusReport", ErrInvalid, m.Op, m.ID, m.Object)
	}
	if err := checkStatusReport(m.Table, m.ID, rep); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", m.Op, m.ID, err)
	}
	return raw, nil
}

func decodeStatusReport(w wireMutation) (*TaskStatusReport, error) {
	if len(w.Object) == 0 {
		return nil, fmt.Errorf("%w: %s %s: no status", ErrInvalid, w.Op, w.ID)
	}
	rep := new(TaskStatusReport)
	if err := json.Unmarshal(w.Object, rep); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrMalformed, w.Op, w.ID, err)
	}
	if err := checkStatusReport(w.Table, w.ID, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkStatusReport refuses what no state makes sensible: a report on
// another table, from no node, or of a state Docker does not define.
func checkStatusReport(t Table, taskID string, rep *TaskStatusReport) error {
	if t != TableTasks {
		return fmt.Errorf("%w: %s applies to tasks, not %s", ErrInvalid, OpSetTaskStatus, t)
	}
	if rep.NodeID == "" {
		return fmt.Errorf("%w: status of task %s: no reporting node", ErrInvalid, taskID)
	}
	if _, ok := TaskStateRank(rep.Status.State); !ok {
		return fmt.Errorf("%w: status of task %s: unknown state %q", ErrInvalid, taskID, rep.Status.State)
	}
	return nil
}

// setTaskStatus applies an OpSetTaskStatus mutation to the task's current
// record old (nil when there is none). It returns the new record, or nil
// when the report changes nothing.
func setTaskStatus(txn *memdb.Txn, t *table, index uint64, at time.Time, m Mutation, old *record) (*record, error) {
	rep := m.Object.(*TaskStatusReport) // decodeStatusReport made it
	if old == nil {
		return nil, nil
	}
	cur := old.obj.(*swarm.Task)
	if cur.NodeID != rep.NodeID || !StatusAdvances(cur.Status, rep.Status) {
		return nil, nil
	}
	// A shallow copy: the fields it shares with cur are never changed in
	// place, as for every object the store holds.
	next := *cur
	next.Status = rep.Status
	rec := &record{id: old.id, version: index, created: old.created, updated: at, obj: &next}
	t.stamp(&next, rec.version, rec.created, rec.updated)
	if err := txn.Insert(string(t.name), rec); err != nil {
		return nil, err
	}
	return rec, nil
}
