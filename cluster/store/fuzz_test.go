package store

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// FuzzApply feeds arbitrary log entries to a populated store. Whatever the
// entry, Apply must not panic, must leave the state untouched when it
// fails, and must leave a state that Save and Restore carry over exactly
// (Restore re-checks names, IDs and versions, so a state Apply should never
// reach is refused there).
func FuzzApply(f *testing.F) {
	seeds := [][]Mutation{
		{Create(service("svc9", "new", svcOpts{secrets: []string{"sec2"}}))},
		{Update(service("svc1", "renamed", svcOpts{}), 2), Delete(TableSecrets, "sec1", 0)},
		{Delete(TableServices, "svc2", 0), Delete(TableSecrets, "sec2", 0)},
		{Update(task("t1", "svc1", 1, "n2", swarm.TaskStateShutdown), 3)},
		{Create(netw("net9", "SHOP_DEFAULT", "x"))},
		{Create(stack("stk9", "third")), Create(cluster("c2"))},
		{by("alice", Update(service("svc1", "shop_web", svcOpts{}), 2)), by("join", Create(node("n9", "gamma")))},
		{SetTaskStatus("t1", "n1", swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started"}), SetTaskStatus("t2", "n1", swarm.TaskStatus{State: swarm.TaskStateFailed})},
	}
	for _, muts := range seeds {
		data, err := EncodeBatch(muts...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{CommandBatch})
	f.Add(batchJSON(`[{"op":"set_task_status","table":"tasks","id":"t3","object":{"node_id":"n1","status":{"State":"orphaned","Timestamp":"2025-03-01T12:00:00+02:00"}}}]`))
	f.Add(batchJSON(`[{"op":"create","table":"nodes","id":"n9","object":{"ID":"","Description":{"Hostname":"ALPHA"}}}]`))
	f.Add(batchJSON(`[{"op":"delete","table":"tasks","id":"t1","by":"bob\u0000"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := fixture(t)
		before := save(t, h.s)
		err := h.s.Apply(h.index+1, at(h.index+1), data)
		after := save(t, h.s)
		if err != nil && stripHeader(after) != stripHeader(before) {
			t.Fatalf("a failed entry (%v) changed the state", err)
		}
		r := New()
		if err := r.Restore(strings.NewReader(after)); err != nil {
			t.Fatalf("the state after applying the entry does not restore: %v", err)
		}
		if save(t, r) != after {
			t.Fatal("Save after Restore differs")
		}
	})
}
