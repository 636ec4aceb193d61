package store

import "errors"

// Errors Apply returns (wrapped, with the object they concern), and reads
// return. Apply fails the whole batch on the first of them; the API maps
// ErrNotFound to 404, ErrNameConflict, ErrExists, ErrVersionConflict and
// ErrInUse to 409, ErrInvalid to 400.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNameConflict: another object of the table has the name (names
	// compare case-insensitively, as in Swarm).
	ErrNameConflict = errors.New("name conflicts with an existing object")
	// ErrExists: a create names an ID already in use, or a second cluster
	// record.
	ErrExists = errors.New("object already exists")
	// ErrVersionConflict: an update or delete expected another version; the
	// object changed since the proposer read it ("update out of sequence").
	ErrVersionConflict = errors.New("update out of sequence")
	// ErrInUse: a secret, config or network a service still refers to.
	ErrInUse = errors.New("in use")
	// ErrInvalid: a mutation no store accepts (no ID, no name, an object of
	// the wrong table).
	ErrInvalid = errors.New("invalid mutation")
	// ErrMalformed: a log entry or snapshot that does not decode.
	ErrMalformed = errors.New("malformed data")
	// ErrAmbiguous: a reference (ID prefix or node hostname) that matches
	// more than one object.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrCompacted: a watcher asked for events the bounded event log no
	// longer holds; it must read the state again and watch from there.
	ErrCompacted = errors.New("events compacted")
)
