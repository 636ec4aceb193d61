package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/api/types/swarm"
)

// by attributes m to name, as the API server does.
func by(name string, m Mutation) Mutation {
	m.By = name
	return m
}

func writerOf(t *testing.T, s *Store, tb Table, id string) Writer {
	t.Helper()
	var w Writer
	if err := s.View(func(tx ReadTx) error {
		var err error
		w, err = tx.Writer(tb, id)
		return err
	}); err != nil {
		t.Fatalf("Writer(%s, %s): %v", tb, id, err)
	}
	return w
}

func wantWriter(t *testing.T, got Writer, name string, index uint64) {
	t.Helper()
	want := Writer{By: name, At: at(index), Version: index}
	if name == "" {
		want = Writer{}
	}
	if got != want {
		t.Errorf("writer = %+v, want %+v", got, want)
	}
}

func TestWriterFollowsAttributedWritesOnly(t *testing.T) {
	h := fixture(t)
	wantWriter(t, writerOf(t, h.s, TableServices, "svc1"), "", 0)

	// A create by someone records them.
	created := h.mustApply(by("alice", Create(service("svc9", "shop_api", svcOpts{}))))
	wantWriter(t, writerOf(t, h.s, TableServices, "svc9"), "alice", created)

	// A control loop's update keeps them, though the version moves on.
	loop := h.mustApply(Update(service("svc9", "shop_api", svcOpts{networks: []string{"net1"}}), created))
	wantWriter(t, writerOf(t, h.s, TableServices, "svc9"), "alice", created)
	h.view(func(tx ReadTx) error {
		if m, err := tx.Meta(TableServices, "svc9"); err != nil || m.Version.Index != loop {
			t.Errorf("meta after the loop's update = %+v, %v; want version %d", m, err, loop)
		}
		return nil
	})

	// An update by someone else replaces them.
	edited := h.mustApply(by("bob", Update(service("svc9", "shop_api", svcOpts{}), loop)))
	wantWriter(t, writerOf(t, h.s, TableServices, "svc9"), "bob", edited)

	// A failed batch changes no writer.
	if err := h.apply(by("carol", Update(service("svc9", "shop_api", svcOpts{}), loop))); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("stale update: %v", err)
	}
	wantWriter(t, writerOf(t, h.s, TableServices, "svc9"), "bob", edited)

	// Deleting the object forgets its writer: a new object of the same ID
	// created by a control loop has none.
	h.mustApply(by("bob", Delete(TableServices, "svc9", 0)))
	h.view(func(tx ReadTx) error {
		if _, err := tx.Writer(TableServices, "svc9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Writer of a deleted service: %v, want ErrNotFound", err)
		}
		return nil
	})
	h.mustApply(Create(service("svc9", "shop_api", svcOpts{})))
	wantWriter(t, writerOf(t, h.s, TableServices, "svc9"), "", 0)
}

func TestStatusReportsKeepTheWriter(t *testing.T) {
	h := fixture(t)
	tk := task("t1", "svc1", 1, "n1", swarm.TaskStateShutdown)
	tk.Status = swarm.TaskStatus{State: swarm.TaskStateAssigned, Timestamp: at(1)}
	edited := h.mustApply(by("alice", Update(tk, 3)))
	h.mustApply(SetTaskStatus("t1", "n1", swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: at(2)}))
	if got := readTask(t, h.s, "t1"); got.Status.State != swarm.TaskStateRunning {
		t.Fatalf("the report was not applied: %+v", got.Status)
	}
	wantWriter(t, writerOf(t, h.s, TableTasks, "t1"), "alice", edited)
}

func TestWriterOfUnknownObjects(t *testing.T) {
	h := fixture(t)
	h.view(func(tx ReadTx) error {
		if _, err := tx.Writer(TableServices, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Writer of a missing service: %v, want ErrNotFound", err)
		}
		if _, err := tx.Writer("volumes", "v1"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Writer in an unknown table: %v, want ErrInvalid", err)
		}
		return nil
	})
}

func TestEventsCarryBy(t *testing.T) {
	h := fixture(t)
	from := h.index
	h.mustApply(by("alice", Update(service("svc4", "adhoc", svcOpts{}), 2)), Delete(TableStacks, "stk2", 0))
	evs, _, err := h.s.Events(from)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s %s %q", ev.Action, ev.ID, ev.By))
	}
	if want := `update svc4 "alice"|delete stk2 ""`; strings.Join(got, "|") != want {
		t.Errorf("events = %s, want %s", strings.Join(got, "|"), want)
	}
}

func TestByOnTheWire(t *testing.T) {
	data, err := EncodeBatch(by("alice", Delete(TableServices, "svc1", 0)), Delete(TableServices, "svc2", 0))
	if err != nil {
		t.Fatal(err)
	}
	// Unattributed mutations encode as before.
	if want := `[{"op":"delete","table":"services","id":"svc1","by":"alice"},{"op":"delete","table":"services","id":"svc2"}]`; string(data[1:]) != want {
		t.Errorf("encoded %s, want %s", data[1:], want)
	}
	muts, err := decodeCommand(data)
	if err != nil {
		t.Fatal(err)
	}
	if muts[0].By != "alice" || muts[1].By != "" {
		t.Errorf("decoded By = %q, %q", muts[0].By, muts[1].By)
	}

	for name, bad := range map[string]string{
		"control character": "alice\nbob",
		"too long":          strings.Repeat("a", maxByLength+1),
		"not UTF-8":         "al\xffice",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := EncodeBatch(by(bad, Delete(TableServices, "svc1", 0))); !errors.Is(err, ErrInvalid) {
				t.Errorf("EncodeBatch: %v, want ErrInvalid", err)
			}
			// A proposer that skipped the check gets the entry refused
			// on every replica alike. (JSON cannot carry invalid UTF-8:
			// decoding makes it U+FFFD.)
			if !utf8.ValidString(bad) {
				return
			}
			h := fixture(t)
			js, err := json.Marshal(bad)
			if err != nil {
				t.Fatal(err)
			}
			raw := `[{"op":"delete","table":"services","id":"svc4","by":` + string(js) + `}]`
			if err := h.s.Apply(h.index+1, at(h.index+1), batchJSON(raw)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Apply: %v, want ErrInvalid", err)
			}
		})
	}
	// A name with spaces and non-ASCII letters is fine.
	if _, err := EncodeBatch(by("Zoë Smith", Delete(TableServices, "svc1", 0))); err != nil {
		t.Errorf("EncodeBatch: %v", err)
	}
}

func TestWriterSurvivesSaveAndRestore(t *testing.T) {
	h := fixture(t)
	edited := h.mustApply(by("alice", Update(service("svc1", "shop_web", svcOpts{}), 2)))
	h.mustApply(Update(service("svc1", "shop_web", svcOpts{stack: "shop"}), edited))
	netEdit := h.mustApply(by("bob", Update(netw("net2", "ingress", ""), 1)))
	snap := save(t, h.s)
	if !strings.HasPrefix(snap, `{"format":"swarmops-store/2",`) {
		t.Errorf("snapshot header: %.60s", snap)
	}

	r := New()
	if err := r.Restore(strings.NewReader(snap)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := save(t, r); got != snap {
		t.Errorf("Save after Restore differs:\n%s\nwant\n%s", got, snap)
	}
	wantWriter(t, writerOf(t, r, TableServices, "svc1"), "alice", edited)
	wantWriter(t, writerOf(t, r, TableNetworks, "net2"), "bob", netEdit)
	wantWriter(t, writerOf(t, r, TableServices, "svc2"), "", 0)
}

// v1Snapshot is what Save wrote before records carried their writer.
const v1Snapshot = `{"format":"swarmops-store/1","index":7}
{"table":"secrets","id":"sec1","version":3,"created":"2025-03-01T12:00:03Z","updated":"2025-03-01T12:00:03Z","object":{"ID":"sec1","Version":{"Index":3},"CreatedAt":"2025-03-01T12:00:03Z","UpdatedAt":"2025-03-01T12:00:03Z","Spec":{"Name":"db_password","Data":"c2VjcmV0"}}}
{"table":"services","id":"svc1","version":7,"created":"2025-03-01T12:00:05Z","updated":"2025-03-01T12:00:07Z","object":{"ID":"svc1","Version":{"Index":7},"CreatedAt":"2025-03-01T12:00:05Z","UpdatedAt":"2025-03-01T12:00:07Z","Spec":{"Name":"shop_web","TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.27","Secrets":[{"SecretID":"sec1","SecretName":"db_password"}]}}}}}
{"end":true,"count":2}
`

func TestRestoreReadsFormat1(t *testing.T) {
	s := New()
	if err := s.Restore(strings.NewReader(v1Snapshot)); err != nil {
		t.Fatalf("Restore of a format 1 snapshot: %v", err)
	}
	if s.LastIndex() != 7 {
		t.Errorf("LastIndex = %d, want 7", s.LastIndex())
	}
	err := s.View(func(tx ReadTx) error {
		svc, err := tx.ServiceByName("shop_web")
		if err != nil {
			return err
		}
		if svc.Version.Index != 7 || !svc.UpdatedAt.Equal(at(7)) {
			t.Errorf("service meta = %+v", svc.Meta)
		}
		if got, err := ids(tx.ServicesUsingSecret("sec1")); err != nil || strings.Join(got, ",") != "svc1" {
			t.Errorf("services using sec1: %v, %v", got, err)
		}
		if w, err := tx.Writer(TableServices, "svc1"); err != nil || w != (Writer{}) {
			t.Errorf("writer of a format 1 record = %+v, %v; want none", w, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The store goes on from there and saves in the current format.
	data, err := EncodeBatch(by("alice", Delete(TableServices, "svc1", 7)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(8, at(8), data); err != nil {
		t.Fatal(err)
	}
	if snap := save(t, s); !strings.HasPrefix(snap, `{"format":"swarmops-store/2",`) || !strings.Contains(snap, `"id":"sec1"`) {
		t.Errorf("saved after a format 1 restore:\n%s", snap)
	}
}

func TestRestoreRefusesBadWriters(t *testing.T) {
	line := func(writer string) string {
		return `{"format":"swarmops-store/2","index":9}
{"table":"stacks","id":"stk1","version":5,"created":"2025-03-01T12:00:01Z","updated":"2025-03-01T12:00:05Z","object":{"id":"stk1","name":"shop"},"writer":` + writer + `}
{"end":true,"count":1}
`
	}
	good := line(`{"by":"alice","at":"2025-03-01T12:00:04+01:00","version":4}`)
	s := New()
	if err := s.Restore(strings.NewReader(good)); err != nil {
		t.Fatalf("a good writer is refused: %v", err)
	}
	got := writerOf(t, s, TableStacks, "stk1")
	if got.By != "alice" || got.Version != 4 || got.At.Location() != time.UTC || !got.At.Equal(t0.Add(-time.Hour+4*time.Second)) {
		t.Errorf("restored writer = %+v", got)
	}
	for name, w := range map[string]string{
		"no name":            `{"by":"","at":"2025-03-01T12:00:04Z","version":4}`,
		"version zero":       `{"by":"alice","at":"2025-03-01T12:00:04Z","version":0}`,
		"after the record's": `{"by":"alice","at":"2025-03-01T12:00:04Z","version":6}`,
		"control character":  `{"by":"al\u0007ice","at":"2025-03-01T12:00:04Z","version":4}`,
		"not an object":      `"alice"`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := New().Restore(strings.NewReader(line(w))); !errors.Is(err, ErrMalformed) {
				t.Errorf("Restore: %v, want ErrMalformed", err)
			}
		})
	}
}
