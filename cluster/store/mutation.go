package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
)

// Op is what a mutation does.
type Op string

// Mutation operations; events carry the same values as their Action.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	// OpSetTaskStatus records a task's status as its node reports it (see
	// SetTaskStatus). Its event, when it changes anything, is an OpUpdate.
	OpSetTaskStatus Op = "set_task_status"
)

// Command types: the first byte of every log entry Apply accepts.
const (
	// CommandBatch is a JSON list of mutations applied in one transaction.
	CommandBatch byte = 1
)

// Mutation is one change of a batch.
type Mutation struct {
	Op    Op
	Table Table
	// ID names the object; for a create the proposer chose it (NewID).
	ID string
	// Version is, for an update, the version the proposer read: the update
	// fails with ErrVersionConflict unless the object is still at it. For a
	// delete, zero deletes whatever version is current (Docker's removals
	// carry no version); non-zero is checked like an update's.
	Version uint64
	// Object is the new object for a create or update: a value of, or a
	// pointer to, the table's type (swarm.Node, swarm.Service, swarm.Task,
	// swarm.Secret, swarm.Config, network.Inspect, api.Stack, api.Cluster).
	// Its ID, version and times are set by the store. For OpSetTaskStatus
	// it is a *TaskStatusReport.
	Object any
	// By is who asked for the change: the API caller's certificate name,
	// "join" for a join connection. Empty for the leader's own control
	// loops and for status reports, which keep the object's last writer
	// (see Writer). At most 256 bytes of printable UTF-8.
	By string
}

// Create is a mutation creating obj in the table of its type, under the
// ID obj carries.
func Create(obj any) Mutation {
	return objectMutation(OpCreate, obj, 0)
}

// Update is a mutation replacing the object with obj's ID by obj, provided
// it is still at version.
func Update(obj any, version uint64) Mutation {
	return objectMutation(OpUpdate, obj, version)
}

// Delete is a mutation deleting an object; version 0 deletes whatever
// version is current.
func Delete(t Table, id string, version uint64) Mutation {
	return Mutation{Op: OpDelete, Table: t, ID: id, Version: version}
}

// SetTaskStatus is a mutation recording st as the observed status of the
// task taskID, reported by the node nodeID. Unlike an update it is
// conditional and never fails: it changes the task's Status (and nothing
// else) only when the task exists, is assigned to nodeID and st moves its
// state forward (see StatusAdvances); otherwise it does nothing. Reports
// from many nodes can so share one batch without a stale or late one
// failing the others.
func SetTaskStatus(taskID, nodeID string, st swarm.TaskStatus) Mutation {
	return Mutation{Op: OpSetTaskStatus, Table: TableTasks, ID: taskID, Object: &TaskStatusReport{NodeID: nodeID, Status: st}}
}

func objectMutation(op Op, obj any, version uint64) Mutation {
	m := Mutation{Op: op, Version: version, Object: obj}
	if t, o, ok := tableFor(obj); ok {
		m.Table, m.ID = t.name, t.id(o)
	}
	return m
}

// wireMutation is a mutation as a log entry holds it.
type wireMutation struct {
	Op      Op              `json:"op"`
	Table   Table           `json:"table"`
	ID      string          `json:"id"`
	Version uint64          `json:"version,omitempty"`
	Object  json.RawMessage `json:"object,omitempty"`
	By      string          `json:"by,omitempty"`
}

// EncodeBatch encodes mutations as the data of one log entry for Apply. It
// checks what the proposer can get wrong alone (unknown tables and ops,
// objects of the wrong type, missing IDs); what depends on the state
// (versions, names, existence) only Apply can decide.
func EncodeBatch(muts ...Mutation) ([]byte, error) {
	if len(muts) == 0 {
		return nil, fmt.Errorf("encode batch: %w: no mutations", ErrInvalid)
	}
	wire := make([]wireMutation, len(muts))
	for i, m := range muts {
		w, err := encodeMutation(m)
		if err != nil {
			return nil, fmt.Errorf("encode batch: mutation %d: %w", i, err)
		}
		wire[i] = w
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	return append([]byte{CommandBatch}, body...), nil
}

func encodeMutation(m Mutation) (wireMutation, error) {
	if m.Table == "" && m.Object != nil {
		return wireMutation{}, fmt.Errorf("%w: no table holds a %T", ErrInvalid, m.Object)
	}
	t, err := lookupTable(m.Table)
	if err != nil {
		return wireMutation{}, err
	}
	if err := checkID(m.ID); err != nil {
		return wireMutation{}, err
	}
	if err := checkBy(m.By); err != nil {
		return wireMutation{}, err
	}
	w := wireMutation{Op: m.Op, Table: m.Table, ID: m.ID, Version: m.Version, By: m.By}
	switch m.Op {
	case OpDelete:
		if m.Object != nil {
			return wireMutation{}, fmt.Errorf("%w: a delete carries no object", ErrInvalid)
		}
		return w, nil
	case OpSetTaskStatus:
		raw, err := encodeStatusReport(m)
		if err != nil {
			return wireMutation{}, err
		}
		w.Object = raw
		return w, nil
	case OpCreate, OpUpdate:
	default:
		return wireMutation{}, fmt.Errorf("%w: unknown op %q", ErrInvalid, m.Op)
	}
	obj, ok := t.accepts(m.Object)
	if !ok {
		return wireMutation{}, fmt.Errorf("%w: %s %s: object is a %T, not of the table's type", ErrInvalid, m.Op, m.Table, m.Object)
	}
	if id := t.id(obj); id != "" && id != m.ID {
		return wireMutation{}, fmt.Errorf("%w: %s %s %s: object has ID %q", ErrInvalid, m.Op, m.Table, m.ID, id)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return wireMutation{}, fmt.Errorf("%s %s %s: %w", m.Op, m.Table, m.ID, err)
	}
	w.Object = raw
	return w, nil
}

// decodeCommand decodes a log entry's data into mutations with decoded
// objects.
func decodeCommand(data []byte) ([]Mutation, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty log entry", ErrMalformed)
	}
	if data[0] != CommandBatch {
		return nil, fmt.Errorf("%w: unknown command type %d", ErrMalformed, data[0])
	}
	var wire []wireMutation
	if err := json.Unmarshal(data[1:], &wire); err != nil {
		return nil, fmt.Errorf("%w: batch: %v", ErrMalformed, err)
	}
	if len(wire) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalid)
	}
	muts := make([]Mutation, len(wire))
	for i, w := range wire {
		m, err := decodeMutation(w)
		if err != nil {
			return nil, fmt.Errorf("mutation %d: %w", i, err)
		}
		muts[i] = m
	}
	return muts, nil
}

func decodeMutation(w wireMutation) (Mutation, error) {
	m := Mutation{Op: w.Op, Table: w.Table, ID: w.ID, Version: w.Version, By: w.By}
	t, err := lookupTable(w.Table)
	if err != nil {
		return m, err
	}
	if err := checkID(w.ID); err != nil {
		return m, err
	}
	if err := checkBy(w.By); err != nil {
		return m, err
	}
	switch w.Op {
	case OpDelete:
		return m, nil
	case OpSetTaskStatus:
		rep, err := decodeStatusReport(w)
		m.Object = rep
		return m, err
	case OpCreate, OpUpdate:
	default:
		return m, fmt.Errorf("%w: unknown op %q", ErrInvalid, w.Op)
	}
	if len(w.Object) == 0 {
		return m, fmt.Errorf("%w: %s %s %s: no object", ErrInvalid, w.Op, w.Table, w.ID)
	}
	obj, err := t.decode(w.Object)
	if err != nil {
		return m, fmt.Errorf("%w: %s %s %s: %v", ErrMalformed, w.Op, w.Table, w.ID, err)
	}
	m.Object = obj
	return m, nil
}

var errBadID = errors.New("IDs are 1 to 128 printable characters without spaces")

func checkID(id string) error {
	if id == "" || len(id) > maxIDLength {
		return fmt.Errorf("%w: ID %q: %w", ErrInvalid, id, errBadID)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%w: ID %q: %w", ErrInvalid, id, errBadID)
		}
	}
	return nil
}
