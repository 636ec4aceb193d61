package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-memdb"
)

// applyBatch applies muts in order inside txn and returns their events.
// Mutations see the effects of the ones before them in the batch.
func applyBatch(txn *memdb.Txn, index uint64, at time.Time, muts []Mutation) ([]Event, error) {
	events := make([]Event, 0, len(muts))
	for i, m := range muts {
		ev, changed, err := applyOne(txn, index, at, m)
		if err != nil {
			if len(muts) > 1 {
				return nil, fmt.Errorf("mutation %d of %d: %w", i+1, len(muts), err)
			}
			return nil, err
		}
		if changed {
			events = append(events, ev)
		}
	}
	return events, nil
}

// applyOne applies one mutation; changed is false when it was a
// conditional one whose condition did not hold.
func applyOne(txn *memdb.Txn, index uint64, at time.Time, m Mutation) (ev Event, changed bool, err error) {
	t := tables[m.Table] // decodeMutation checked the table
	old, err := getRecord(txn, t.name, m.ID)
	if err != nil {
		return Event{}, false, err
	}
	ev = Event{Index: index, Table: t.name, Action: m.Op, ID: m.ID, By: m.By}
	switch m.Op {
	case OpSetTaskStatus:
		rec, err := setTaskStatus(txn, t, index, at, m, old)
		if err != nil || rec == nil {
			return Event{}, false, err
		}
		ev.Action, ev.Object, ev.Old = OpUpdate, rec.obj, old.obj
	case OpCreate, OpUpdate:
		rec, err := write(txn, t, index, at, m, old)
		if err != nil {
			return Event{}, false, fmt.Errorf("%s %s: %w", m.Op, describe(t, m.ID, m.Object), err)
		}
		ev.Object = rec.obj
		if old != nil {
			ev.Old = old.obj
		}
	case OpDelete:
		if err := remove(txn, t, m, old); err != nil {
			return Event{}, false, fmt.Errorf("delete %s: %w", describe(t, m.ID, objOf(old)), err)
		}
		ev.Object = old.obj
	}
	return ev, true, nil
}

func objOf(r *record) any {
	if r == nil {
		return nil
	}
	return r.obj
}

// write creates or updates the object of m and returns its new record.
func write(txn *memdb.Txn, t *table, index uint64, at time.Time, m Mutation, old *record) (*record, error) {
	obj := m.Object
	if id := t.id(obj); id != "" && id != m.ID {
		return nil, fmt.Errorf("%w: the object has ID %q", ErrInvalid, id)
	}
	t.setID(obj, m.ID)

	rec := &record{id: m.ID, version: index, created: at, updated: at, obj: obj, writer: nextWriter(old, m, index, at)}
	switch {
	case m.Op == OpCreate && old != nil:
		return nil, ErrExists
	case m.Op == OpCreate && t.name == TableCluster:
		if other, err := txn.First(string(TableCluster), idxID); err != nil {
			return nil, err
		} else if other != nil {
			return nil, fmt.Errorf("%w: the cluster record is %s", ErrExists, other.(*record).id)
		}
	case m.Op == OpUpdate && old == nil:
		return nil, ErrNotFound
	case m.Op == OpUpdate && old.version != m.Version:
		return nil, fmt.Errorf("%w: at version %d, not %d", ErrVersionConflict, old.version, m.Version)
	case m.Op == OpUpdate:
		rec.created = old.created
	}
	if err := checkName(txn, t, m.ID, obj); err != nil {
		return nil, err
	}
	t.stamp(obj, rec.version, rec.created, rec.updated)
	if err := txn.Insert(string(t.name), rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkName fails when another object of the table has obj's name.
func checkName(txn *memdb.Txn, t *table, id string, obj any) error {
	if t.objName == nil {
		return nil
	}
	name := t.objName(obj)
	if name == "" {
		return fmt.Errorf("%w: a %s needs a name", ErrInvalid, kind(t.name))
	}
	it, err := txn.Get(string(t.name), idxName, name)
	if err != nil {
		return err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if other := raw.(*record); other.id != id {
			return fmt.Errorf("%w: %s", ErrNameConflict, describe(t, other.id, other.obj))
		}
	}
	return nil
}

func remove(txn *memdb.Txn, t *table, m Mutation, old *record) error {
	if old == nil {
		return ErrNotFound
	}
	if m.Version != 0 && old.version != m.Version {
		return fmt.Errorf("%w: at version %d, not %d", ErrVersionConflict, old.version, m.Version)
	}
	if err := checkUnused(txn, t, old); err != nil {
		return err
	}
	return txn.Delete(string(t.name), old)
}

// checkUnused refuses to delete a secret, config or network a service
// still refers to, as Swarm does. Doing it here rather than only in the API
// makes the check atomic with the delete: no service can start using the
// object between the check and the commit.
func checkUnused(txn *memdb.Txn, t *table, rec *record) error {
	var refs []string
	var idx string
	switch t.name {
	case TableSecrets:
		idx, refs = idxSecret, []string{rec.id}
	case TableConfigs:
		idx, refs = idxConfig, []string{rec.id}
	case TableNetworks:
		// Specs may name a network by ID or by name.
		idx, refs = idxNetwork, []string{rec.id, rec.obj.(*network.Inspect).Name}
	default:
		return nil
	}
	for _, ref := range refs {
		raw, err := txn.First(string(TableServices), idx, ref)
		if err != nil {
			return err
		}
		if raw != nil {
			svc := raw.(*record).obj.(*swarm.Service)
			return fmt.Errorf("%w by service %q", ErrInUse, svc.Spec.Name)
		}
	}
	return nil
}

func getRecord(txn *memdb.Txn, t Table, id string) (*record, error) {
	raw, err := txn.First(string(t), idxID, id)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*record), nil
}

// kind is the singular of a table name, for messages.
func kind(t Table) string {
	return strings.TrimSuffix(string(t), "s")
}

// describe names an object in messages: `service "web" (3x9…)`.
func describe(t *table, id string, obj any) string {
	if obj != nil && t.objName != nil {
		if name := t.objName(obj); name != "" {
			return fmt.Sprintf("%s %q (%s)", kind(t.name), name, id)
		}
	}
	return kind(t.name) + " " + id
}
