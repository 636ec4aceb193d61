package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-memdb"
)

// snapshotFormat names the encoding Save writes, so that a later format can
// be told apart (and refused by an older binary) rather than misread.
// Format 2 added each record's writer; Restore still reads format 1, whose
// records have none. An older binary refuses format 2 rather than restore
// a state without writers that its peers hold with them.
const (
	snapshotFormat   = "swarmops-store/2"
	snapshotFormatV1 = "swarmops-store/1"
)

// A snapshot is a stream of JSON values, one a line: a header, one line per
// object (tables in a fixed order, objects in ID order) and a trailer with
// the count, so that a truncated stream is refused rather than restored as
// a smaller state.
type snapHeader struct {
	Format string `json:"format"`
	Index  uint64 `json:"index"`
}

type snapRecord struct {
	Table   Table     `json:"table"`
	ID      string    `json:"id"`
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Object  any       `json:"object"`
	// Writer is left out for objects nobody wrote on someone's behalf.
	Writer *snapWriter `json:"writer,omitempty"`
}

// snapLine is how Restore reads the lines after the header: a record, or
// the trailer.
type snapLine struct {
	Table   Table           `json:"table"`
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	Object  json.RawMessage `json:"object"`
	Writer  *snapWriter     `json:"writer"`
	End     bool            `json:"end"`
	Count   int             `json:"count"`
}

type snapTrailer struct {
	End   bool `json:"end"`
	Count int  `json:"count"`
}

// Save writes the whole state at one point (a consistent snapshot, like
// View's) to w. The encoding is deterministic: two stores that applied the
// same entries write the same bytes.
func (s *Store) Save(w io.Writer) error {
	save, err := s.Snapshot()
	if err != nil {
		return err
	}
	return save(w)
}

// Snapshot captures the state as it is now, cheaply (memdb's read
// transactions are immutable trees), and returns a function that writes it
// as Save does, however many entries are applied meanwhile. The Raft
// adapter calls Snapshot between two Applies and the save function
// concurrently with later ones.
func (s *Store) Snapshot() (save func(w io.Writer) error, err error) {
	s.mu.RLock()
	txn, index := s.db.Txn(false), s.lastIndex
	s.mu.RUnlock()
	return func(w io.Writer) error { return writeSnapshot(w, txn, index) }, nil
}

func writeSnapshot(w io.Writer, txn *memdb.Txn, index uint64) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapHeader{Format: snapshotFormat, Index: index}); err != nil {
		return fmt.Errorf("save store: %w", err)
	}
	count := 0
	for _, t := range tableOrder {
		it, err := txn.Get(string(t), idxID)
		if err != nil {
			return fmt.Errorf("save store: %s: %w", t, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			r := raw.(*record)
			line := snapRecord{Table: t, ID: r.id, Version: r.version, Created: r.created, Updated: r.updated, Object: r.obj, Writer: r.writer.toSnap()}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("save store: %s %s: %w", kind(t), r.id, err)
			}
			count++
		}
	}
	if err := enc.Encode(snapTrailer{End: true, Count: count}); err != nil {
		return fmt.Errorf("save store: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("save store: %w", err)
	}
	return nil
}

// Restore replaces the whole state with a snapshot Save wrote. It reads
// and checks the snapshot completely before touching the store: on error
// the store is unchanged. Watchers of indexes below the snapshot's get
// ErrCompacted, since the events that led to it are unknown.
func (s *Store) Restore(r io.Reader) error {
	db, index, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("restore store: %w", err)
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db, s.lastIndex = db, index
	s.log.reset(index)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func readSnapshot(r io.Reader) (*memdb.MemDB, uint64, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var h snapHeader
	if err := dec.Decode(&h); err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Format != snapshotFormat && h.Format != snapshotFormatV1 {
		return nil, 0, fmt.Errorf("%w: format %q, want %q or %q", ErrMalformed, h.Format, snapshotFormat, snapshotFormatV1)
	}
	db := newDB()
	txn := db.Txn(true)
	defer txn.Abort()
	count := 0
	for {
		var line snapLine
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, 0, fmt.Errorf("%w: truncated after %d objects", ErrMalformed, count)
			}
			return nil, 0, fmt.Errorf("%w: after %d objects: %v", ErrMalformed, count, err)
		}
		if line.End {
			if line.Count != count {
				return nil, 0, fmt.Errorf("%w: trailer counts %d objects, read %d", ErrMalformed, line.Count, count)
			}
			break
		}
		if err := restoreRecord(txn, h.Index, line); err != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", line.Table, line.ID, err)
		}
		count++
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%w: data after the trailer", ErrMalformed)
	}
	txn.Commit()
	return db, h.Index, nil
}

// restoreRecord checks one object of a snapshot as Apply would have and
// inserts it.
func restoreRecord(txn *memdb.Txn, index uint64, line snapLine) error {
	t, err := lookupTable(line.Table)
	if err != nil {
		return err
	}
	if err := checkID(line.ID); err != nil {
		return err
	}
	if line.Version == 0 || line.Version > index {
		return fmt.Errorf("%w: version %d outside 1..%d", ErrMalformed, line.Version, index)
	}
	obj, err := t.decode(line.Object)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if id := t.id(obj); id != line.ID {
		return fmt.Errorf("%w: object has ID %q", ErrMalformed, id)
	}
	if old, err := getRecord(txn, t.name, line.ID); err != nil {
		return err
	} else if old != nil {
		return fmt.Errorf("%w: listed twice", ErrMalformed)
	}
	if t.name == TableCluster {
		if other, err := txn.First(string(TableCluster), idxID); err != nil {
			return err
		} else if other != nil {
			return fmt.Errorf("%w: a second cluster record", ErrMalformed)
		}
	}
	if err := checkName(txn, t, line.ID, obj); err != nil {
		return err
	}
	writer, err := restoreWriter(line.Writer, line.Version)
	if err != nil {
		return err
	}
	created, updated := line.Created.UTC(), line.Updated.UTC()
	t.stamp(obj, line.Version, created, updated)
	return txn.Insert(string(t.name), &record{id: line.ID, version: line.Version, created: created, updated: updated, obj: obj, writer: writer})
}
