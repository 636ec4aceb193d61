package store

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxByLength bounds Mutation.By. Certificate names are far shorter; the
// bound keeps a log entry from carrying an arbitrary blob into every
// record and snapshot.
const maxByLength = 256

// Writer is who last changed an object on someone's behalf: the By of the
// last mutation that carried one, with that entry's time and index (the
// object's version right after it). Writes without a By (control loops,
// status reports) leave it as it was, so a status update does not hide
// who changed the spec. The zero Writer means no attributed write since
// the object was created.
type Writer struct {
	By      string
	At      time.Time
	Version uint64
}

// Writer returns who last changed the object on someone's behalf; the
// zero Writer when nobody did. It returns ErrNotFound (wrapped) when there
// is no such object.
func (tx ReadTx) Writer(t Table, id string) (Writer, error) {
	rec, err := tx.record(t, id)
	if err != nil {
		return Writer{}, err
	}
	return rec.writer, nil
}

// nextWriter is the writer of an object after m, applied at index and at,
// changed it; old is its record before (nil for a create).
func nextWriter(old *record, m Mutation, index uint64, at time.Time) Writer {
	if m.By != "" {
		return Writer{By: m.By, At: at, Version: index}
	}
	if old == nil {
		return Writer{}
	}
	return old.writer
}

// checkBy refuses a By that status output could not show as it is:
// invalid UTF-8, control characters, or too long.
func checkBy(by string) error {
	if len(by) > maxByLength || !utf8.ValidString(by) {
		return fmt.Errorf("%w: by %.40q: at most %d bytes of UTF-8", ErrInvalid, by, maxByLength)
	}
	for _, r := range by {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: by %q: control characters are not allowed", ErrInvalid, by)
		}
	}
	return nil
}

// snapWriter is a record's writer in a snapshot line.
type snapWriter struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Version uint64    `json:"version"`
}

// toSnap is w as Save writes it; nil, and so left out, when nobody wrote
// the object on someone's behalf.
func (w Writer) toSnap() *snapWriter {
	if w.By == "" {
		return nil
	}
	return &snapWriter{By: w.By, At: w.At, Version: w.Version}
}

// restoreWriter checks a snapshot line's writer against its record's
// version, as Apply would have set it, and returns it.
func restoreWriter(sw *snapWriter, version uint64) (Writer, error) {
	if sw == nil {
		return Writer{}, nil
	}
	if sw.By == "" {
		return Writer{}, fmt.Errorf("%w: writer with no name", ErrMalformed)
	}
	if err := checkBy(sw.By); err != nil {
		return Writer{}, fmt.Errorf("%w: writer: %v", ErrMalformed, err)
	}
	if sw.Version == 0 || sw.Version > version {
		return Writer{}, fmt.Errorf("%w: writer version %d outside 1..%d", ErrMalformed, sw.Version, version)
	}
	return Writer{By: sw.By, At: sw.At.UTC(), Version: sw.Version}, nil
}
