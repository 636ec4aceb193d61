package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// writerAndMeta reads the writer and the versioning of an object from a
// manager's store.
func writerAndMeta(t *testing.T, m *manager, tb store.Table, id string) (store.Writer, swarm.Meta) {
	t.Helper()
	var w store.Writer
	var meta swarm.Meta
	if err := m.store.View(func(tx store.ReadTx) error {
		var err error
		if w, err = tx.Writer(tb, id); err != nil {
			return err
		}
		meta, err = tx.Meta(tb, id)
		return err
	}); err != nil {
		t.Fatalf("%s: read %s %s: %v", m.id, tb, id, err)
	}
	return w, meta
}

// wantWrittenBy checks, on every manager, that the object's writer is
// name at the write that left it at version.
func wantWrittenBy(t *testing.T, h *harness, tb store.Table, id, name string, version uint64) {
	t.Helper()
	for _, m := range h.managers {
		w, meta := writerAndMeta(t, m, tb, id)
		if w.By != name || w.Version != version {
			t.Errorf("%s: %s %s written by %q at version %d, want %q at %d", m.id, tb, id, w.By, w.Version, name, version)
		}
		if meta.Version.Index == version && !w.At.Equal(meta.UpdatedAt) {
			t.Errorf("%s: writer time %v, but the write updated the object at %v", m.id, w.At, meta.UpdatedAt)
		}
	}
}

func TestAPIWritesRecordTheCaller(t *testing.T) {
	h := newHarness(t, 2)
	leader, follower := h.managers[0], h.managers[1]
	cert := h.clientCert()
	const client = "cli0000000000000000000000"
	ctx := context.Background()

	// Created through the follower: the leader records the client, not
	// the manager that forwarded the request.
	created, err := h.docker(follower, cert).ServiceCreate(ctx, minimalSpec("shop_web", "nginx"), swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	_, meta := writerAndMeta(t, leader, store.TableServices, created.ID)
	wantWrittenBy(t, h, store.TableServices, created.ID, client, meta.Version.Index)
	createdAt := meta.Version.Index

	// A control loop's write (no caller) leaves the client as the writer.
	var svc *swarm.Service
	if err := leader.store.View(func(tx store.ReadTx) error {
		s, err := tx.Service(created.ID)
		if err == nil {
			svc, err = store.Clone(s)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, Message: "update completed"}
	loopAt := h.propose(store.Update(svc, svc.Version.Index))
	wantWrittenBy(t, h, store.TableServices, created.ID, client, createdAt)

	// A service update by another client replaces it.
	other := h.pki.cert(t, "ops0000000000000000000000", ca.RoleClient)
	spec := svc.Spec
	spec.TaskTemplate.ContainerSpec.Image = "nginx:1.27"
	if _, err := h.docker(leader, other).ServiceUpdate(ctx, created.ID, swarm.Version{Index: loopAt}, spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	_, meta = writerAndMeta(t, leader, store.TableServices, created.ID)
	if meta.Version.Index <= loopAt {
		t.Fatalf("the update did not move the version: %d", meta.Version.Index)
	}
	wantWrittenBy(t, h, store.TableServices, created.ID, "ops0000000000000000000000", meta.Version.Index)
}

func TestInProcessCallersAreRecorded(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	var nodeVersion uint64
	var node *swarm.Node
	if err := m.store.View(func(tx store.ReadTx) error {
		n, err := tx.Node(m.id)
		if err == nil {
			node, err = store.Clone(n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	nodeVersion = node.Version.Index
	node.Spec.Labels = map[string]string{"zone": "a"}

	ctx := WithCaller(context.Background(), Caller{NodeID: "swarmops-reconciler", Role: ca.RoleManager})
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/nodes/"+m.id+"/update", nil)
	w := httptest.NewRecorder()
	index, err := m.srv.propose(w, r, store.Update(node, nodeVersion))
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	wantWrittenBy(t, h, store.TableNodes, m.id, "swarmops-reconciler", index)
}

func TestCallerName(t *testing.T) {
	for _, tc := range []struct {
		c    Caller
		want string
	}{
		{Caller{NodeID: "cli1", Role: ca.RoleClient}, "cli1"},
		{Caller{NodeID: "cli1", Role: ca.RoleClient, Via: "mgr1"}, "cli1"},
		{Caller{Join: true}, "join"},
		{Caller{}, ""},
	} {
		if got := tc.c.Name(); got != tc.want {
			t.Errorf("%+v.Name() = %q, want %q", tc.c, got, tc.want)
		}
	}
	c := Caller{NodeID: "swarmops-reconciler", Role: ca.RoleManager}
	if got, ok := CallerFromContext(WithCaller(context.Background(), c)); !ok || got != c {
		t.Errorf("CallerFromContext(WithCaller(c)) = %+v, %v; want %+v", got, ok, c)
	}
	if _, ok := CallerFromContext(context.Background()); ok {
		t.Error("a bare context has a caller")
	}
}
