package store

import (
	"fmt"
	"sort"
)

// Event is one change a log entry made.
type Event struct {
	// Index is the log entry that made the change: the object's new
	// version, or for a delete the index it was deleted at.
	Index  uint64
	Table  Table
	Action Op
	ID     string
	// Object is the object after the change; for a delete, as it was last.
	Object any
	// Old is, for an update, the object before it; nil otherwise.
	Old any
	// By is the Mutation.By of the change: who asked for it, or empty
	// for the control loops' own writes.
	By string
}

// eventLog is the bounded, in-memory tail of the events, in index order.
type eventLog struct {
	events []Event
	// floor is the highest index whose events may have been dropped:
	// events after it are all present. A restore raises it to the
	// restored index, since the events that led there are unknown.
	floor uint64
	max   int
}

// append adds the events of one log entry and, when the log has grown a
// quarter past its bound, drops the oldest down to about the bound. Only
// whole entries are dropped, so that "every event after floor" stays true,
// and never the newest entry, so that a watcher that was up to date
// before one huge batch does not have to read the state again.
func (l *eventLog) append(events []Event) {
	l.events = append(l.events, events...)
	if len(l.events) <= l.max+l.max/4 {
		return
	}
	cut := len(l.events) - l.max
	for cut > 0 && l.events[cut-1].Index == l.events[cut].Index {
		cut--
	}
	if cut == 0 {
		return
	}
	l.floor = l.events[cut-1].Index
	// Copy, so the dropped events can be collected.
	l.events = append([]Event(nil), l.events[cut:]...)
}

func (l *eventLog) reset(floor uint64) {
	l.events, l.floor = nil, floor
}

// Events returns the events after index since, oldest first, and a channel
// closed as soon as the store's index moves past what the events cover (a
// new log entry applied, or a restore). A control loop handles the events,
// remembers the last one's Index as its next since, and waits on the
// channel:
//
//	for {
//		evs, changed, err := s.Events(since)
//		if errors.Is(err, store.ErrCompacted) { /* re-read with View, since = tx.Index() */ }
//		...
//		<-changed
//	}
//
// When the log no longer holds every event after since (the watcher fell
// more than the log's size behind, or the store was restored past it),
// Events returns ErrCompacted: the watcher must read the state again with
// View and watch from tx.Index(). The events' objects are shared: do not
// modify them.
func (s *Store) Events(since uint64) ([]Event, <-chan struct{}, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if since < s.log.floor {
		return nil, s.changed, fmt.Errorf("events after %d: %w (the oldest kept follow %d)", since, ErrCompacted, s.log.floor)
	}
	evs := s.log.events
	i := sort.Search(len(evs), func(i int) bool { return evs[i].Index > since })
	// The log only ever appends past len or is replaced by a new slice, so
	// the caller may keep this window without copying.
	return evs[i:len(evs):len(evs)], s.changed, nil
}
