package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
)

// DefaultEventLogSize is how many events the store keeps for watchers by
// default: enough for a control loop to fall a few large batches behind
// without having to read the whole state again.
const DefaultEventLogSize = 4096

// Store is the replicated state. Apply and Restore change it (Raft calls
// them from one goroutine; the store also serialises them itself); View,
// Events, Save and LastIndex may be called from any goroutine.
type Store struct {
	// applyMu serialises the writers, Apply and Restore.
	applyMu sync.Mutex

	// mu guards what readers take together: the database, the index it
	// reflects and the event log, so a reader never sees a state and an
	// index (or events) that disagree.
	mu        sync.RWMutex
	db        *memdb.MemDB
	lastIndex uint64
	log       eventLog
	// changed is closed, and replaced, whenever lastIndex moves.
	changed chan struct{}
}

// Option configures a Store.
type Option func(*Store)

// WithEventLogSize bounds the event log to about n events (at least one
// log entry's worth is always kept).
func WithEventLogSize(n int) Option {
	return func(s *Store) { s.log.max = max(n, 1) }
}

// New returns an empty store at index 0.
func New(opts ...Option) *Store {
	s := &Store{db: newDB(), changed: make(chan struct{})}
	s.log.max = DefaultEventLogSize
	for _, o := range opts {
		o(s)
	}
	return s
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant of this package; a test covers it.
		panic(fmt.Sprintf("store: invalid schema: %v", err))
	}
	return db
}

// LastIndex is the index of the last log entry applied (or restored),
// whether its batch succeeded or not.
func (s *Store) LastIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastIndex
}

// Apply applies the log entry at index, appended at time at, whose data
// EncodeBatch made. Its mutations are applied in order in one transaction:
// the first that fails (ErrVersionConflict, ErrNameConflict, ErrNotFound,
// ErrExists, ErrInUse, ErrInvalid, ErrMalformed, wrapped with the object)
// discards the whole batch. Either way the store's index moves to index,
// as Raft's applied index does.
//
// An index at or below LastIndex is ignored and returns nil: that entry is
// already in the state. This happens when Raft replays the log after
// restoring a snapshot saved a little later than the index Raft recorded
// for it.
func (s *Store) Apply(index uint64, at time.Time, data []byte) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if index <= s.LastIndex() {
		return nil
	}
	// Replicas decode the leader's time with their own location (and
	// AppendedAt may carry a monotonic reading); UTC makes every replica
	// store, and Save, the same instant the same way.
	at = at.UTC()

	muts, err := decodeCommand(data)
	if err != nil {
		s.advance(index, nil, nil)
		return fmt.Errorf("apply log entry %d: %w", index, err)
	}
	txn := s.db.Txn(true)
	events, err := applyBatch(txn, index, at, muts)
	if err != nil {
		txn.Abort()
		s.advance(index, nil, nil)
		return fmt.Errorf("apply log entry %d: %w", index, err)
	}
	s.advance(index, txn, events)
	return nil
}

// advance commits txn (when there is one), records events and moves the
// index, all under one lock so readers see them together.
func (s *Store) advance(index uint64, txn *memdb.Txn, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if txn != nil {
		txn.Commit()
	}
	s.lastIndex = index
	s.log.append(events)
	close(s.changed)
	s.changed = make(chan struct{})
}

// View calls fn with a read transaction on a consistent snapshot of the
// state. The snapshot does not move while fn runs, however many entries are
// applied meanwhile; tx.Index() says which entry it reflects.
func (s *Store) View(fn func(tx ReadTx) error) error {
	s.mu.RLock()
	tx := ReadTx{txn: s.db.Txn(false), index: s.lastIndex}
	s.mu.RUnlock()
	return fn(tx)
}
