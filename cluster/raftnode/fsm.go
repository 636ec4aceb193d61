package raftnode

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Applier is the replicated state machine behind the node (the store).
// Apply must be deterministic: every replica calls it with the same
// arguments in the same order, and its error is the proposer's result.
// Restore replaces all state with what Save wrote.
type Applier interface {
	Apply(index uint64, at time.Time, data []byte) error
	Save(w io.Writer) error
	Restore(r io.Reader) error
}

// Snapshotter may be implemented by an Applier that can capture a
// point-in-time view cheaply (an immutable tree, a read transaction). Raft
// calls Snapshot between two Applies and then runs the returned save
// concurrently with later Applies; save must write the state as it was
// when Snapshot returned. Appliers without it are saved into memory while
// Apply waits, which is correct but holds a copy of the whole state.
type Snapshotter interface {
	Snapshot() (save func(w io.Writer) error, err error)
}

// fsm adapts an Applier to raft.FSM without looking inside entries.
type fsm struct {
	applier Applier
}

// Apply passes the leader's append time in UTC without its monotonic
// reading, so it is the same value on the leader (which applies its own
// in-memory entry) and on followers (which decode it).
func (f *fsm) Apply(l *raft.Log) any {
	return f.applier.Apply(l.Index, l.AppendedAt.UTC(), l.Data)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if s, ok := f.applier.(Snapshotter); ok {
		save, err := s.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot state: %w", err)
		}
		return fsmSnapshot(save), nil
	}
	var buf bytes.Buffer
	if err := f.applier.Save(&buf); err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	return fsmSnapshot(func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	}), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.applier.Restore(rc); err != nil {
		return fmt.Errorf("restore state from snapshot: %w", err)
	}
	return nil
}

type fsmSnapshot func(w io.Writer) error

func (save fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := save(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

func (fsmSnapshot) Release() {}
