package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestVersionsAndTimesComeFromTheLog(t *testing.T) {
	h := newHarness(t)
	created := h.mustApply(Create(service("svc1", "web", svcOpts{})), Create(netw("net1", "front", "")))
	h.mustApply(Create(node("n1", "alpha"))) // an unrelated entry in between
	var v uint64
	h.view(func(tx ReadTx) error {
		s, err := tx.Service("svc1")
		if err != nil {
			return err
		}
		if s.Version.Index != created || !s.CreatedAt.Equal(at(created)) || !s.UpdatedAt.Equal(at(created)) {
			t.Errorf("created service meta = %+v, want version %d at %v", s.Meta, created, at(created))
		}
		v = s.Version.Index
		n, err := tx.Network("net1")
		if err != nil {
			return err
		}
		if !n.Created.Equal(at(created)) {
			t.Errorf("network Created = %v, want %v", n.Created, at(created))
		}
		if m, err := tx.Meta(TableNetworks, "net1"); err != nil || m.Version.Index != created || !m.UpdatedAt.Equal(at(created)) {
			t.Errorf("network meta = %+v, %v; want version %d", m, err, created)
		}
		return nil
	})

	upd := service("svc1", "web", svcOpts{})
	upd.Spec.Labels = map[string]string{"tier": "front"}
	// Whatever meta the proposer sends is replaced.
	upd.Meta = swarm.Meta{Version: swarm.Version{Index: 999}, CreatedAt: time.Unix(1, 0)}
	updated := h.mustApply(Update(upd, v))
	h.view(func(tx ReadTx) error {
		s, err := tx.Service("svc1")
		if err != nil {
			return err
		}
		if s.Version.Index != updated || !s.CreatedAt.Equal(at(created)) || !s.UpdatedAt.Equal(at(updated)) {
			t.Errorf("updated service meta = %+v, want version %d, created %v, updated %v", s.Meta, updated, at(created), at(updated))
		}
		if s.Spec.Labels["tier"] != "front" {
			t.Errorf("update lost the new labels: %v", s.Spec.Labels)
		}
		return nil
	})
}

func TestApplyStoresTimesInUTC(t *testing.T) {
	s := New()
	data, err := EncodeBatch(Create(stack("stk1", "shop")), Create(cluster("c1")))
	if err != nil {
		t.Fatal(err)
	}
	local := time.Date(2025, 3, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	if err := s.Apply(1, local, data); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx ReadTx) error {
		c, err := tx.Cluster()
		if err != nil {
			t.Fatal(err)
		}
		if c.CreatedAt.Location() != time.UTC || !c.CreatedAt.Equal(local) {
			t.Errorf("CreatedAt = %v, want %v in UTC", c.CreatedAt, local)
		}
		if c.Version.Index != 1 {
			t.Errorf("cluster version = %d, want 1", c.Version.Index)
		}
		return nil
	})
}

func TestConflicts(t *testing.T) {
	cases := []struct {
		name    string
		muts    func(v map[string]uint64) []Mutation
		wantErr error
		// wantMsg is a fragment the error must carry, naming the object.
		wantMsg string
	}{
		{"service name in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(service("svc9", "shop_web", svcOpts{}))}
		}, ErrNameConflict, `service "shop_web" (svc1)`},
		{"service name in use, other case", func(map[string]uint64) []Mutation {
			return []Mutation{Create(service("svc9", "Shop_Web", svcOpts{}))}
		}, ErrNameConflict, "svc1"},
		{"rename onto another service", func(v map[string]uint64) []Mutation {
			return []Mutation{Update(service("svc2", "shop_web", svcOpts{}), v["svc2"])}
		}, ErrNameConflict, "svc1"},
		{"secret name in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(secret("sec9", "tls_key", ""))}
		}, ErrNameConflict, "sec2"},
		{"config name in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(config("cfg9", "shop_nginx", ""))}
		}, ErrNameConflict, "cfg1"},
		{"network name in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(netw("net9", "ingress", ""))}
		}, ErrNameConflict, "net2"},
		{"stack name in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(stack("stk9", "blog"))}
		}, ErrNameConflict, "stk2"},
		{"ID in use", func(map[string]uint64) []Mutation {
			return []Mutation{Create(service("svc1", "other", svcOpts{}))}
		}, ErrExists, "svc1"},
		{"second cluster record", func(map[string]uint64) []Mutation {
			return []Mutation{Create(cluster("c2"))}
		}, ErrExists, "c1"},
		{"stale version", func(v map[string]uint64) []Mutation {
			return []Mutation{Update(service("svc1", "shop_web", svcOpts{}), v["svc1"]-1)}
		}, ErrVersionConflict, "svc1"},
		{"update without a version", func(map[string]uint64) []Mutation {
			return []Mutation{Update(service("svc1", "shop_web", svcOpts{}), 0)}
		}, ErrVersionConflict, "svc1"},
		{"update of a missing object", func(map[string]uint64) []Mutation {
			return []Mutation{Update(task("t9", "svc1", 1, "", swarm.TaskStateRunning), 1)}
		}, ErrNotFound, "t9"},
		{"delete of a missing object", func(map[string]uint64) []Mutation {
			return []Mutation{Delete(TableNodes, "n9", 0)}
		}, ErrNotFound, "n9"},
		{"delete at a stale version", func(v map[string]uint64) []Mutation {
			return []Mutation{Delete(TableTasks, "t1", v["t1"]+1)}
		}, ErrVersionConflict, "t1"},
		{"delete of a secret in use", func(map[string]uint64) []Mutation {
			return []Mutation{Delete(TableSecrets, "sec2", 0)}
		}, ErrInUse, `service "shop_db"`},
		{"delete of a config in use", func(map[string]uint64) []Mutation {
			return []Mutation{Delete(TableConfigs, "cfg1", 0)}
		}, ErrInUse, `service "shop_web"`},
		{"delete of a network used by ID", func(map[string]uint64) []Mutation {
			return []Mutation{Delete(TableNetworks, "net1", 0)}
		}, ErrInUse, "shop_web"},
		{"service without a name", func(map[string]uint64) []Mutation {
			return []Mutation{Create(service("svc9", "", svcOpts{}))}
		}, ErrInvalid, "needs a name"},
		{"object without an ID takes the mutation's", func(map[string]uint64) []Mutation {
			return []Mutation{{Op: OpCreate, Table: TableNodes, ID: "n9", Object: node("", "x")}, Create(node("n9", "y"))}
		}, ErrExists, "n9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := fixture(t)
			before := save(t, h.s)
			versions := map[string]uint64{}
			h.view(func(tx ReadTx) error {
				for _, id := range []string{"svc1", "svc2", "t1"} {
					tb := TableServices
					if strings.HasPrefix(id, "t") {
						tb = TableTasks
					}
					m, err := tx.Meta(tb, id)
					if err != nil {
						return err
					}
					versions[id] = m.Version.Index
				}
				return nil
			})
			muts := c.muts(versions)
			data, err := EncodeBatch(muts...)
			if err != nil {
				t.Fatal(err)
			}
			err = h.s.Apply(h.index+1, at(h.index+1), data)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Apply: %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not mention %q", err, c.wantMsg)
			}
			if got := h.s.LastIndex(); got != h.index+1 {
				t.Errorf("LastIndex after a failed batch = %d, want %d", got, h.index+1)
			}
			if after := save(t, h.s); stripHeader(after) != stripHeader(before) {
				t.Errorf("a failed batch changed the state")
			}
		})
	}
}

func TestBatchesAreAtomic(t *testing.T) {
	h := fixture(t)
	before := save(t, h.s)
	evsBefore, _, err := h.s.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	// Three good mutations, then one that fails: none may stick.
	err = h.apply(
		Create(service("svc9", "new_web", svcOpts{})),
		Delete(TableTasks, "t1", 0),
		Create(secret("sec9", "fresh", "")),
		Create(secret("sec8", "FRESH", "")), // conflicts with the create before it in the batch
	)
	if !errors.Is(err, ErrNameConflict) {
		t.Fatalf("Apply: %v, want ErrNameConflict", err)
	}
	if !strings.Contains(err.Error(), "mutation 4 of 4") {
		t.Errorf("error %q does not say which mutation failed", err)
	}
	if stripHeader(save(t, h.s)) != stripHeader(before) {
		t.Error("a failed batch left some of its mutations applied")
	}
	evs, _, err := h.s.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(evsBefore) {
		t.Errorf("a failed batch added %d events", len(evs)-len(evsBefore))
	}
}

func TestBatchSeesItsOwnMutations(t *testing.T) {
	h := fixture(t)
	// Freeing a name and taking it in one batch, removing a service and
	// then the secret only it used, updating an object created in the same
	// entry at the entry's index: all as if applied one after another.
	idx := h.index + 1
	h.mustApply(
		Delete(TableServices, "svc1", 0),
		Create(service("svc9", "shop_web", svcOpts{})),
		Delete(TableConfigs, "cfg1", 0),
		Create(stack("stk9", "extra")),
		Update(stack("stk9", "extra2"), idx),
	)
	h.view(func(tx ReadTx) error {
		if s, err := tx.ServiceByName("shop_web"); err != nil || s.ID != "svc9" {
			t.Errorf("shop_web = %v, %v; want svc9", s, err)
		}
		if _, err := tx.Config("cfg1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("cfg1 still there: %v", err)
		}
		if s, err := tx.StackByName("extra2"); err != nil || s.Version.Index != idx {
			t.Errorf("stack extra2 = %v, %v; want version %d", s, err, idx)
		}
		return nil
	})
}

func TestDeleteFreesAName(t *testing.T) {
	h := fixture(t)
	h.mustApply(Delete(TableServices, "svc4", 0))
	h.mustApply(Create(service("svc5", "ADHOC", svcOpts{})))
	h.view(func(tx ReadTx) error {
		s, err := tx.ServiceByName("adhoc")
		if err != nil || s.ID != "svc5" {
			t.Errorf("adhoc = %v, %v; want svc5", s, err)
		}
		return nil
	})
}

func TestReplayedIndexIsIgnored(t *testing.T) {
	h := fixture(t)
	before := save(t, h.s)
	data, err := EncodeBatch(Create(service("svc9", "late", svcOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{h.index, h.index - 1} {
		if err := h.s.Apply(idx, at(idx), data); err != nil {
			t.Errorf("Apply at applied index %d: %v, want nil", idx, err)
		}
	}
	if save(t, h.s) != before {
		t.Error("an entry at an already applied index changed the store")
	}
}

func TestMalformedEntries(t *testing.T) {
	good, err := EncodeBatch(Create(node("n1", "a")))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		want error
	}{
		"empty":                 {nil, ErrMalformed},
		"unknown command":       {append([]byte{99}, good[1:]...), ErrMalformed},
		"not JSON":              {[]byte{CommandBatch, '{'}, ErrMalformed},
		"empty batch":           {[]byte{CommandBatch, '[', ']'}, ErrInvalid},
		"unknown table":         {batchJSON(`[{"op":"create","table":"volumes","id":"v1","object":{}}]`), ErrInvalid},
		"unknown op":            {batchJSON(`[{"op":"upsert","table":"nodes","id":"n1","object":{}}]`), ErrInvalid},
		"no ID":                 {batchJSON(`[{"op":"create","table":"nodes","id":"","object":{}}]`), ErrInvalid},
		"ID with a space":       {batchJSON(`[{"op":"create","table":"nodes","id":"a b","object":{}}]`), ErrInvalid},
		"no object":             {batchJSON(`[{"op":"create","table":"nodes","id":"n1"}]`), ErrInvalid},
		"object of wrong shape": {batchJSON(`[{"op":"create","table":"services","id":"s1","object":{"Spec":[]}}]`), ErrMalformed},
		"object ID differs":     {batchJSON(`[{"op":"create","table":"nodes","id":"n8","object":{"ID":"n7"}}]`), ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := New()
			err := s.Apply(1, t0, c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("Apply: %v, want %v", err, c.want)
			}
			if s.LastIndex() != 1 {
				t.Errorf("LastIndex = %d, want 1: a bad entry is still applied (as a no-op)", s.LastIndex())
			}
		})
	}
}

func batchJSON(s string) []byte { return append([]byte{CommandBatch}, s...) }

func TestEncodeBatchRejects(t *testing.T) {
	cases := map[string][]Mutation{
		"nothing":               nil,
		"unknown object type":   {Create(struct{ ID string }{"x"})},
		"nil object":            {Create((*swarm.Service)(nil))},
		"wrong type for table":  {{Op: OpCreate, Table: TableTasks, ID: "t1", Object: node("t1", "a")}},
		"object ID differs":     {{Op: OpUpdate, Table: TableNodes, ID: "n1", Version: 1, Object: node("n2", "a")}},
		"create without ID":     {Create(node("", "a"))},
		"delete with an object": {{Op: OpDelete, Table: TableNodes, ID: "n1", Object: node("n1", "a")}},
		"unknown op":            {{Op: "patch", Table: TableNodes, ID: "n1"}},
	}
	for name, muts := range cases {
		if _, err := EncodeBatch(muts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeBatch: %v, want ErrInvalid", name, err)
		}
	}
}

func TestMutationConstructors(t *testing.T) {
	cases := []struct {
		m     Mutation
		table Table
		id    string
	}{
		{Create(node("n1", "a")), TableNodes, "n1"},
		{Create(*node("n1", "a")), TableNodes, "n1"},
		{Create(netw("x", "front", "")), TableNetworks, "x"},
		{Create(stack("s", "shop")), TableStacks, "s"},
		{Create(cluster("c")), TableCluster, "c"},
		{Update(secret("sec", "n", ""), 3), TableSecrets, "sec"},
		{Update(config("cfg", "n", ""), 3), TableConfigs, "cfg"},
		{Update(task("t", "s", 1, "", ""), 3), TableTasks, "t"},
		{Delete(TableServices, "svc", 0), TableServices, "svc"},
	}
	for _, c := range cases {
		if c.m.Table != c.table || c.m.ID != c.id {
			t.Errorf("%s of %T: table %q, ID %q; want %q, %q", c.m.Op, c.m.Object, c.m.Table, c.m.ID, c.table, c.id)
		}
	}
}
