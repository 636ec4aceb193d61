package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func save(t *testing.T, s *Store) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Save(&b); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return b.String()
}

// stripHeader drops the header line, which carries the index, to compare
// the objects alone.
func stripHeader(snap string) string {
	_, rest, _ := strings.Cut(snap, "\n")
	return rest
}

func TestSaveRestoreRoundTrip(t *testing.T) {
	h := fixture(t)
	h.mustApply(Update(task("t1", "svc1", 1, "n1", swarm.TaskStateShutdown), 3))
	snap := save(t, h.s)

	r := New()
	if err := r.Restore(strings.NewReader(snap)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := save(t, r); got != snap {
		t.Errorf("Save after Restore differs:\n%s\nwant\n%s", got, snap)
	}
	if r.LastIndex() != h.s.LastIndex() {
		t.Errorf("LastIndex after Restore = %d, want %d", r.LastIndex(), h.s.LastIndex())
	}
	// The indexes are rebuilt, and the objects carry their meta.
	_ = r.View(func(tx ReadTx) error {
		if got, err := ids(tx.ServicesUsingSecret("sec1")); err != nil || strings.Join(got, ",") != "svc1,svc2" {
			t.Errorf("services using sec1 after restore: %v, %v", got, err)
		}
		if got, err := ids(tx.TasksByDesiredState(swarm.TaskStateShutdown)); err != nil || strings.Join(got, ",") != "t1,t3" {
			t.Errorf("shut down tasks after restore: %v, %v", got, err)
		}
		task, err := tx.Task("t1")
		if err != nil {
			t.Fatal(err)
		}
		if task.Version.Index != 4 || !task.CreatedAt.Equal(at(3)) || !task.UpdatedAt.Equal(at(4)) {
			t.Errorf("t1 meta after restore = %+v", task.Meta)
		}
		if m, err := tx.Meta(TableNetworks, "net1"); err != nil || m.Version.Index != 1 || !m.CreatedAt.Equal(at(1)) {
			t.Errorf("net1 meta after restore = %+v, %v; want version 1", m, err)
		}
		if _, err := tx.ServiceByName("SHOP_DB"); err != nil {
			t.Errorf("name index after restore: %v", err)
		}
		return nil
	})

	// The restored store goes on applying the log after the snapshot's
	// index, and ignores what the snapshot already holds.
	data, err := EncodeBatch(Create(service("svc9", "later", svcOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(r.LastIndex(), at(r.LastIndex()), data); err != nil {
		t.Fatalf("replayed entry: %v", err)
	}
	if got := save(t, r); got != snap {
		t.Error("an entry at the snapshot's index was applied again")
	}
	if err := r.Apply(r.LastIndex()+1, at(r.LastIndex()+1), data); err != nil {
		t.Fatalf("next entry: %v", err)
	}
	if err := r.View(func(tx ReadTx) error { _, err := tx.ServiceByName("later"); return err }); err != nil {
		t.Error(err)
	}
}

func TestRestoreReplacesEverything(t *testing.T) {
	src := newHarness(t)
	src.mustApply(Create(service("a", "alpha", svcOpts{})))
	snap := save(t, src.s)

	dst := fixture(t)
	if err := dst.s.Restore(strings.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if got := save(t, dst.s); got != snap {
		t.Errorf("restored store saves\n%s\nwant\n%s", got, snap)
	}
	dst.view(func(tx ReadTx) error {
		if _, err := tx.ServiceByName("shop_web"); !errors.Is(err, ErrNotFound) {
			t.Errorf("an object from before the restore survived it: %v", err)
		}
		return nil
	})
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	h := fixture(t)
	good := save(t, h.s)
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	header, records, trailer := lines[0], lines[1:len(lines)-1], lines[len(lines)-1]
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	svcLine := func(id, name string, version uint64) string {
		return fmt.Sprintf(`{"table":"services","id":%q,"version":%d,"created":"2025-03-01T12:00:01Z","updated":"2025-03-01T12:00:01Z","object":{"ID":%q,"Spec":{"Name":%q}}}`, id, version, id, name)
	}
	withRecord := func(extra string) string {
		ls := append([]string{header}, records...)
		ls = append(ls, extra, fmt.Sprintf(`{"end":true,"count":%d}`, len(records)+1))
		return join(ls...)
	}
	cases := map[string]string{
		"empty":                 "",
		"not JSON":              "hello\n",
		"other format":          strings.Replace(good, "swarmops-store/2", "swarmops-store/9", 1),
		"no trailer":            join(append([]string{header}, records...)...),
		"trailer miscounts":     join(append(append([]string{header}, records[1:]...), trailer)...),
		"data after trailer":    good + `{"table":"nodes"}` + "\n",
		"unknown table":         withRecord(`{"table":"volumes","id":"v","version":1,"object":{}}`),
		"duplicate ID":          withRecord(svcLine("svc1", "another", 1)),
		"name conflict":         withRecord(svcLine("svc9", "SHOP_WEB", 1)),
		"version after index":   withRecord(svcLine("svc9", "x", 99)),
		"version zero":          withRecord(svcLine("svc9", "x", 0)),
		"object ID differs":     withRecord(`{"table":"nodes","id":"n9","version":1,"object":{"ID":"n8"}}`),
		"second cluster record": withRecord(`{"table":"cluster","id":"c9","version":1,"object":{"id":"c9"}}`),
		"bad object":            withRecord(`{"table":"tasks","id":"t9","version":1,"object":{"Slot":"one"}}`),
	}
	for name, snap := range cases {
		t.Run(name, func(t *testing.T) {
			s := fixture(t)
			before := save(t, s.s)
			if err := s.s.Restore(strings.NewReader(snap)); err == nil {
				t.Fatal("Restore accepted it")
			}
			if save(t, s.s) != before {
				t.Error("a refused snapshot changed the store")
			}
		})
	}
}

// TestSaveIsAPointInTime applies entries while a Save is half written: what
// it writes must be the state when it started.
func TestSaveIsAPointInTime(t *testing.T) {
	h := fixture(t)
	var muts []Mutation
	for i := range 300 { // enough to overflow Save's buffer many times over
		muts = append(muts, Create(task(fmt.Sprintf("x%03d", i), "svc1", i+10, "n1", swarm.TaskStateRunning)))
	}
	h.mustApply(muts...)
	want := save(t, h.s)

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := h.s.Save(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	br := bufio.NewReader(pr)
	first, err := br.ReadByte() // Save has begun: its snapshot is taken
	if err != nil {
		t.Fatal(err)
	}
	h.mustApply(Delete(TableStacks, "stk2", 0), Create(task("y", "svc2", 1, "", swarm.TaskStateRunning)))
	for i := range 300 {
		h.mustApply(Delete(TableTasks, fmt.Sprintf("x%03d", i), 0))
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := string(first) + string(rest); got != want {
		t.Error("Save wrote changes applied after it began")
	}
}

// TestSnapshotWritesTheStateWhenTaken: the save function Snapshot returns
// writes the state as it was then, whatever is applied before it runs.
func TestSnapshotWritesTheStateWhenTaken(t *testing.T) {
	h := fixture(t)
	want := save(t, h.s)
	saveThen, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.mustApply(Delete(TableServices, "svc4", 0), Create(node("n9", "late")))
	var b bytes.Buffer
	if err := saveThen(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Error("the snapshot's save wrote entries applied after Snapshot")
	}
	if save(t, h.s) == want {
		t.Error("Save did not move with the store")
	}
}
