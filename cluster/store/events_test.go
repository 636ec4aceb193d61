package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	created := h.mustApply(Create(service("svc1", "web", svcOpts{})), Create(task("t1", "svc1", 1, "", swarm.TaskStateRunning)))

	evs, changed, err := h.s.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := describeEvents(evs); got != "1 create services svc1; 1 create tasks t1" {
		t.Errorf("events = %s", got)
	}
	if closed(changed) {
		t.Fatal("changed is closed before anything changed")
	}

	assigned := task("t1", "svc1", 1, "n1", swarm.TaskStateRunning)
	updated := h.mustApply(Update(assigned, created))
	if !closed(changed) {
		t.Fatal("changed is still open after an entry was applied")
	}
	evs, changed, err = h.s.Events(created)
	if err != nil {
		t.Fatal(err)
	}
	if got := describeEvents(evs); got != fmt.Sprintf("%d update tasks t1", updated) {
		t.Fatalf("events since %d = %s", created, got)
	}
	newT, oldT := evs[0].Object.(*swarm.Task), evs[0].Old.(*swarm.Task)
	if newT.NodeID != "n1" || oldT.NodeID != "" || newT.Version.Index != updated || oldT.Version.Index != created {
		t.Errorf("update event: new %+v, old %+v", newT, oldT)
	}

	deleted := h.mustApply(Delete(TableTasks, "t1", 0))
	evs, _, err = h.s.Events(updated)
	if err != nil {
		t.Fatal(err)
	}
	if got := describeEvents(evs); got != fmt.Sprintf("%d delete tasks t1", deleted) {
		t.Fatalf("events since %d = %s", updated, got)
	}
	if last := evs[0].Object.(*swarm.Task); last.NodeID != "n1" {
		t.Errorf("a delete event carries the object as it was last; got %+v", last)
	}
	if !closed(changed) {
		t.Error("changed not closed")
	}

	// A failed batch makes no events but still moves the index, waking
	// watchers that wait for it.
	evs, changed, _ = h.s.Events(deleted)
	if len(evs) != 0 {
		t.Fatalf("events after the last one: %s", describeEvents(evs))
	}
	if err := h.apply(Delete(TableTasks, "t1", 0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if !closed(changed) {
		t.Error("changed not closed by a failed entry")
	}
	if evs, _, _ := h.s.Events(deleted); len(evs) != 0 {
		t.Errorf("a failed entry made events: %s", describeEvents(evs))
	}
}

func describeEvents(evs []Event) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%d %s %s %s", e.Index, e.Action, e.Table, e.ID))
	}
	return strings.Join(parts, "; ")
}

func TestEventLogCompaction(t *testing.T) {
	h := newHarness(t, WithEventLogSize(4))
	for i := range 20 {
		h.mustApply(Create(node(fmt.Sprintf("n%02d", i), "h")))
		// Whatever has been dropped, every since at or above the floor gets
		// exactly the entries after it; below the floor, ErrCompacted.
		for since := uint64(0); since <= h.index; since++ {
			evs, _, err := h.s.Events(since)
			if errors.Is(err, ErrCompacted) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := int(h.index - since); len(evs) != want {
				t.Fatalf("at %d, Events(%d) returned %d events, want %d", h.index, since, len(evs), want)
			}
		}
	}
	if _, _, err := h.s.Events(0); !errors.Is(err, ErrCompacted) {
		t.Errorf("Events(0) after 20 entries with a log of 4: %v, want ErrCompacted", err)
	}
	evs, _, err := h.s.Events(h.index - 4)
	if err != nil || len(evs) != 4 {
		t.Errorf("the last 4 entries: %d events, %v", len(evs), err)
	}
}

func TestEventLogKeepsBatchesWhole(t *testing.T) {
	h := newHarness(t, WithEventLogSize(3))
	first := h.mustApply(Create(node("a", "a")))
	var muts []Mutation
	for i := range 5 {
		muts = append(muts, Create(node(fmt.Sprintf("b%d", i), "b")))
	}
	big := h.mustApply(muts...)
	// The big entry alone overflows the log; its events are kept whole.
	evs, _, err := h.s.Events(first)
	if err != nil {
		t.Fatalf("Events(%d): %v", first, err)
	}
	if len(evs) != 5 {
		t.Errorf("Events(%d) = %d events, want the big entry's 5", first, len(evs))
	}
	var last uint64
	for _, id := range []string{"c", "d", "e"} {
		last = h.mustApply(Create(node(id, id)))
	}
	if _, _, err := h.s.Events(first); !errors.Is(err, ErrCompacted) {
		t.Errorf("Events(%d) once the big entry is dropped: %v, want ErrCompacted", first, err)
	}
	evs, _, err = h.s.Events(big)
	if err != nil || len(evs) != 3 {
		t.Errorf("Events(%d) = %d events, %v; want 3", big, len(evs), err)
	}
	if evs, _, err := h.s.Events(last); err != nil || len(evs) != 0 {
		t.Errorf("Events(%d) = %d events, %v; want none", last, len(evs), err)
	}
}

func TestRestoreCompactsTheEventLog(t *testing.T) {
	src := fixture(t)
	snap := save(t, src.s)

	h := newHarness(t)
	h.mustApply(Create(node("n1", "a")))
	_, changed, err := h.s.Events(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.Restore(strings.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if !closed(changed) {
		t.Error("Restore did not wake watchers")
	}
	if _, _, err := h.s.Events(1); !errors.Is(err, ErrCompacted) {
		t.Errorf("Events(1) after restoring index %d: %v, want ErrCompacted", src.index, err)
	}
	evs, _, err := h.s.Events(src.index)
	if err != nil || len(evs) != 0 {
		t.Errorf("Events(restored index) = %v, %v; want none", evs, err)
	}
}
