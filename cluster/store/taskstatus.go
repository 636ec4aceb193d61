package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-memdb"
	"github.com/swarmops/swarmops/api"
)

// TaskStatusReport is the object of an OpSetTaskStatus mutation: the node
// that reports, and the status it reports.
type TaskStatusReport struct {
	NodeID string           `json:"node_id"`
	Status swarm.TaskStatus `json:"status"`
}

// StatusAdvances reports whether next may replace cur as a task's
// observed status: its state is later, or it is the same state with news
// (another message, exit code or ports) reported no earlier than cur.
// Anything else is a stale or repeated report.
func StatusAdvances(cur, next swarm.TaskStatus) bool {
	rc, okc := api.TaskStateRank(cur.State)
	rn, okn := api.TaskStateRank(next.State)
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
	if _, ok := api.TaskStateRank(rep.Status.State); !ok {
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
	rec := &record{id: old.id, version: index, created: old.created, updated: at, obj: &next, writer: nextWriter(old, m, index, at)}
	t.stamp(&next, rec.version, rec.created, rec.updated)
	if err := txn.Insert(string(t.name), rec); err != nil {
		return nil, err
	}
	return rec, nil
}
