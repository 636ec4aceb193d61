package raftnode

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// cheapSnapshots is a memApplier that also captures point-in-time views.
type cheapSnapshots struct{ *memApplier }

func (c cheapSnapshots) Snapshot() (func(io.Writer) error, error) {
	frozen := &memApplier{}
	entries, _, _ := c.snapshot()
	frozen.entries = entries
	return frozen.Save, nil
}

// Raft persists a snapshot while later entries apply; what it persists
// must be the state at Snapshot time, with or without a Snapshotter.
func TestSnapshotIsPointInTime(t *testing.T) {
	for name, applier := range map[string]Applier{
		"Save into memory": &memApplier{},
		"Snapshotter":      cheapSnapshots{&memApplier{}},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fsm{applier: applier}
			at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
			if resp := f.Apply(&raft.Log{Index: 1, AppendedAt: at, Data: []byte("one")}); resp != nil {
				t.Fatalf("apply: %v", resp)
			}
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			f.Apply(&raft.Log{Index: 2, AppendedAt: at, Data: []byte("two")})
			var sink memSink
			if err := snap.Persist(&sink); err != nil || !sink.closed {
				t.Fatalf("persist: %v (closed %v)", err, sink.closed)
			}
			snap.Release()

			restored := &memApplier{}
			if err := (&fsm{applier: restored}).Restore(io.NopCloser(&sink)); err != nil {
				t.Fatal(err)
			}
			entries, restores, _ := restored.snapshot()
			if restores != 1 || len(entries) != 1 || entries[0].Data != "one" {
				t.Fatalf("restored %v, want only the entry applied before Snapshot", entries)
			}
			if !entries[0].At.Equal(at) || entries[0].At.Location() != time.UTC {
				t.Errorf("append time %v, want %v in UTC", entries[0].At, at)
			}
		})
	}
}

func TestFSMPassesApplierErrorsThrough(t *testing.T) {
	f := &fsm{applier: &memApplier{}}
	if resp := f.Apply(&raft.Log{Index: 1, Data: []byte("fail")}); !errors.Is(resp.(error), errRejected) {
		t.Errorf("response %v, want errRejected", resp)
	}
	// A snapshot that cannot be written is cancelled, not closed.
	var sink memSink
	failing := fsmSnapshot(func(io.Writer) error { return errRejected })
	if err := failing.Persist(&sink); !errors.Is(err, errRejected) || !sink.cancelled || sink.closed {
		t.Errorf("persist of a failing save: %v, cancelled %v, closed %v", err, sink.cancelled, sink.closed)
	}
	if err := f.Restore(io.NopCloser(bytes.NewBufferString("not json"))); err == nil {
		t.Error("restore of garbage succeeded")
	}
}
