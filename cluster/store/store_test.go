package store

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// t0 is the time of the first log entry in tests; entry i is i seconds
// later, so times are predictable.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// harness applies batches to a store at increasing indexes, as Raft would.
type harness struct {
	t     *testing.T
	s     *Store
	index uint64
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	return &harness{t: t, s: New(opts...)}
}

func at(index uint64) time.Time { return t0.Add(time.Duration(index) * time.Second) }

// apply encodes muts as one log entry and applies it at the next index.
func (h *harness) apply(muts ...Mutation) error {
	h.t.Helper()
	data, err := EncodeBatch(muts...)
	if err != nil {
		h.t.Fatalf("EncodeBatch: %v", err)
	}
	h.index++
	return h.s.Apply(h.index, at(h.index), data)
}

func (h *harness) mustApply(muts ...Mutation) uint64 {
	h.t.Helper()
	if err := h.apply(muts...); err != nil {
		h.t.Fatalf("apply at %d: %v", h.index, err)
	}
	return h.index
}

func (h *harness) view(fn func(tx ReadTx) error) {
	h.t.Helper()
	if err := h.s.View(fn); err != nil {
		h.t.Fatal(err)
	}
}

func stackLabels(ns string) map[string]string {
	if ns == "" {
		return nil
	}
	return map[string]string{api.LabelNamespace: ns}
}

type svcOpts struct {
	stack    string
	secrets  []string
	configs  []string
	networks []string
	// oldNetworks go in the deprecated service-level list.
	oldNetworks []string
}

func service(id, name string, o svcOpts) *swarm.Service {
	s := &swarm.Service{ID: id}
	s.Spec.Name = name
	s.Spec.Labels = stackLabels(o.stack)
	cs := &swarm.ContainerSpec{Image: "nginx:1.27"}
	for _, sid := range o.secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: sid, SecretName: sid})
	}
	for _, cid := range o.configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigID: cid, ConfigName: cid})
	}
	s.Spec.TaskTemplate.ContainerSpec = cs
	for _, n := range o.networks {
		s.Spec.TaskTemplate.Networks = append(s.Spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n})
	}
	for _, n := range o.oldNetworks {
		//lint:ignore SA1019 the store must count uses from older clients too
		s.Spec.Networks = append(s.Spec.Networks, swarm.NetworkAttachmentConfig{Target: n})
	}
	return s
}

func task(id, serviceID string, slot int, nodeID string, desired swarm.TaskState) *swarm.Task {
	return &swarm.Task{ID: id, ServiceID: serviceID, Slot: slot, NodeID: nodeID, DesiredState: desired}
}

func node(id, hostname string) *swarm.Node {
	n := &swarm.Node{ID: id}
	n.Description.Hostname = hostname
	n.Spec.Role = swarm.NodeRoleWorker
	n.Spec.Availability = swarm.NodeAvailabilityActive
	return n
}

func secret(id, name, stack string) *swarm.Secret {
	s := &swarm.Secret{ID: id}
	s.Spec.Name = name
	s.Spec.Labels = stackLabels(stack)
	s.Spec.Data = []byte("c2VjcmV0")
	return s
}

func config(id, name, stack string) *swarm.Config {
	c := &swarm.Config{ID: id}
	c.Spec.Name = name
	c.Spec.Labels = stackLabels(stack)
	c.Spec.Data = []byte("listen 80;")
	return c
}

func netw(id, name, stack string) *network.Inspect {
	return &network.Inspect{ID: id, Name: name, Driver: "overlay", Scope: "swarm", Labels: stackLabels(stack)}
}

func stack(id, name string) *api.Stack {
	return &api.Stack{ID: id, Name: name, Source: "stacks/" + name, Status: api.StackSynced}
}

func cluster(id string) *api.Cluster {
	return &api.Cluster{ID: id, CADigest: "sha256:00", JoinTokens: swarm.JoinTokens{Worker: "w", Manager: "m"}}
}

func TestSchemaIsValid(t *testing.T) {
	if err := schema().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, name := range tableOrder {
		if _, ok := tables[name]; !ok {
			t.Errorf("table %s in tableOrder has no definition", name)
		}
	}
	if len(tables) != len(tableOrder) {
		t.Errorf("%d tables defined, %d listed in tableOrder", len(tables), len(tableOrder))
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) != 25 {
			t.Fatalf("NewID() = %q: %d characters, want 25", id, len(id))
		}
		for _, r := range id {
			if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z') {
				t.Fatalf("NewID() = %q: %q is not lowercase base36", id, r)
			}
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

// fixture fills a store with one object of every kind and the cross
// references the indexes are built from.
func fixture(t *testing.T) *harness {
	h := newHarness(t)
	h.mustApply(
		Create(cluster("c1")),
		Create(node("n1", "alpha")),
		Create(node("n2", "Beta")),
		Create(node("n3", "beta")), // hostnames need not be unique
		Create(netw("net1", "shop_default", "shop")),
		Create(netw("net2", "ingress", "")),
		Create(secret("sec1", "shop_db_password", "shop")),
		Create(secret("sec2", "tls_key", "")),
		Create(config("cfg1", "shop_nginx", "shop")),
		Create(config("cfg2", "blog_nginx", "blog")),
		Create(stack("stk1", "shop")),
		Create(stack("stk2", "blog")),
	)
	h.mustApply(
		Create(service("svc1", "shop_web", svcOpts{stack: "shop", secrets: []string{"sec1"}, configs: []string{"cfg1"}, networks: []string{"net1"}})),
		Create(service("svc2", "shop_db", svcOpts{stack: "shop", secrets: []string{"sec1", "sec2"}, oldNetworks: []string{"shop_default"}})),
		Create(service("svc3", "blog_web", svcOpts{stack: "blog", configs: []string{"cfg2"}})),
		Create(service("svc4", "adhoc", svcOpts{})),
	)
	h.mustApply(
		Create(task("t1", "svc1", 1, "n1", swarm.TaskStateRunning)),
		Create(task("t2", "svc1", 2, "n2", swarm.TaskStateRunning)),
		Create(task("t3", "svc1", 1, "n1", swarm.TaskStateShutdown)), // slot 1's dead predecessor
		Create(task("t4", "svc2", 1, "", swarm.TaskStateRunning)),    // pending: no node yet
		Create(task("t5", "svc3", 0, "n1", swarm.TaskStateRunning)),  // global
		Create(task("t6", "svc3", 0, "n2", swarm.TaskStateRunning)),
	)
	return h
}

func ids[T any](objs []*T, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, o := range objs {
		t, _, _ := tableFor(o)
		out = append(out, t.id(o))
	}
	return out, nil
}

func TestIndexes(t *testing.T) {
	h := fixture(t)
	cases := []struct {
		name  string
		query func(tx ReadTx) ([]string, error)
		want  []string
	}{
		{"nodes", func(tx ReadTx) ([]string, error) { return ids(tx.Nodes()) }, []string{"n1", "n2", "n3"}},
		{"nodes by hostname folds case", func(tx ReadTx) ([]string, error) { return ids(tx.NodesByHostname("BETA")) }, []string{"n2", "n3"}},
		{"nodes by unknown hostname", func(tx ReadTx) ([]string, error) { return ids(tx.NodesByHostname("gamma")) }, []string{}},
		{"services", func(tx ReadTx) ([]string, error) { return ids(tx.Services()) }, []string{"svc1", "svc2", "svc3", "svc4"}},
		{"services by stack", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesByStack("shop")) }, []string{"svc1", "svc2"}},
		{"services by stack is exact", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesByStack("sho")) }, []string{}},
		{"services using secret", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesUsingSecret("sec1")) }, []string{"svc1", "svc2"}},
		{"services using other secret", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesUsingSecret("sec2")) }, []string{"svc2"}},
		{"services using config", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesUsingConfig("cfg2")) }, []string{"svc3"}},
		{"services using network by ID", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesUsingNetwork("net1")) }, []string{"svc1"}},
		{"services using network by name, deprecated field", func(tx ReadTx) ([]string, error) { return ids(tx.ServicesUsingNetwork("shop_default")) }, []string{"svc2"}},
		{"tasks", func(tx ReadTx) ([]string, error) { return ids(tx.Tasks()) }, []string{"t1", "t2", "t3", "t4", "t5", "t6"}},
		{"tasks by service", func(tx ReadTx) ([]string, error) { return ids(tx.TasksByService("svc1")) }, []string{"t1", "t2", "t3"}},
		{"tasks by node", func(tx ReadTx) ([]string, error) { return ids(tx.TasksByNode("n1")) }, []string{"t1", "t3", "t5"}},
		{"tasks by desired state", func(tx ReadTx) ([]string, error) { return ids(tx.TasksByDesiredState(swarm.TaskStateShutdown)) }, []string{"t3"}},
		{"tasks by slot", func(tx ReadTx) ([]string, error) { return ids(tx.TasksBySlot("svc1", 1)) }, []string{"t1", "t3"}},
		{"tasks by other slot", func(tx ReadTx) ([]string, error) { return ids(tx.TasksBySlot("svc1", 2)) }, []string{"t2"}},
		{"tasks by slot of another service", func(tx ReadTx) ([]string, error) { return ids(tx.TasksBySlot("svc2", 2)) }, []string{}},
		{"tasks by service and node", func(tx ReadTx) ([]string, error) { return ids(tx.TasksByServiceNode("svc3", "n2")) }, []string{"t6"}},
		{"unassigned tasks are in no node index", func(tx ReadTx) ([]string, error) { return ids(tx.TasksByNode("")) }, []string{}},
		{"secrets", func(tx ReadTx) ([]string, error) { return ids(tx.Secrets()) }, []string{"sec1", "sec2"}},
		{"secrets by stack", func(tx ReadTx) ([]string, error) { return ids(tx.SecretsByStack("shop")) }, []string{"sec1"}},
		{"configs", func(tx ReadTx) ([]string, error) { return ids(tx.Configs()) }, []string{"cfg1", "cfg2"}},
		{"configs by stack", func(tx ReadTx) ([]string, error) { return ids(tx.ConfigsByStack("blog")) }, []string{"cfg2"}},
		{"networks", func(tx ReadTx) ([]string, error) { return ids(tx.Networks()) }, []string{"net1", "net2"}},
		{"networks by stack", func(tx ReadTx) ([]string, error) { return ids(tx.NetworksByStack("shop")) }, []string{"net1"}},
		{"stacks", func(tx ReadTx) ([]string, error) { return ids(tx.Stacks()) }, []string{"stk1", "stk2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.view(func(tx ReadTx) error {
				got, err := c.query(tx)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
				return nil
			})
		})
	}
}

func TestGetters(t *testing.T) {
	h := fixture(t)
	h.view(func(tx ReadTx) error {
		checks := []struct {
			name   string
			get    func() (string, error)
			wantID string
		}{
			{"cluster", func() (string, error) { c, err := tx.Cluster(); return idOf(c, err) }, "c1"},
			{"node", func() (string, error) { n, err := tx.Node("n2"); return idOf(n, err) }, "n2"},
			{"service", func() (string, error) { s, err := tx.Service("svc1"); return idOf(s, err) }, "svc1"},
			{"service by name folds case", func() (string, error) { s, err := tx.ServiceByName("SHOP_Web"); return idOf(s, err) }, "svc1"},
			{"task", func() (string, error) { x, err := tx.Task("t4"); return idOf(x, err) }, "t4"},
			{"secret", func() (string, error) { x, err := tx.Secret("sec2"); return idOf(x, err) }, "sec2"},
			{"secret by name", func() (string, error) { x, err := tx.SecretByName("tls_key"); return idOf(x, err) }, "sec2"},
			{"config", func() (string, error) { x, err := tx.Config("cfg1"); return idOf(x, err) }, "cfg1"},
			{"config by name", func() (string, error) { x, err := tx.ConfigByName("blog_nginx"); return idOf(x, err) }, "cfg2"},
			{"network", func() (string, error) { x, err := tx.Network("net2"); return idOf(x, err) }, "net2"},
			{"network by name", func() (string, error) { x, err := tx.NetworkByName("Ingress"); return idOf(x, err) }, "net2"},
			{"stack", func() (string, error) { x, err := tx.Stack("stk2"); return idOf(x, err) }, "stk2"},
			{"stack by name", func() (string, error) { x, err := tx.StackByName("shop"); return idOf(x, err) }, "stk1"},
		}
		for _, c := range checks {
			id, err := c.get()
			if err != nil || id != c.wantID {
				t.Errorf("%s: got %q, %v; want %q", c.name, id, err, c.wantID)
			}
		}
		missing := map[string]func() error{
			"node":            func() error { _, err := tx.Node("nope"); return err },
			"service":         func() error { _, err := tx.Service("nope"); return err },
			"service by name": func() error { _, err := tx.ServiceByName("shop"); return err },
			"task":            func() error { _, err := tx.Task("nope"); return err },
			"secret by name":  func() error { _, err := tx.SecretByName("nope"); return err },
			"config":          func() error { _, err := tx.Config("svc1"); return err },
			"network by name": func() error { _, err := tx.NetworkByName("shop"); return err },
			"stack":           func() error { _, err := tx.Stack("nope"); return err },
			"meta":            func() error { _, err := tx.Meta(TableTasks, "svc1"); return err },
		}
		for name, get := range missing {
			if err := get(); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of a missing object: %v, want ErrNotFound", name, err)
			}
		}
		return nil
	})
}

func idOf[T any](obj *T, err error) (string, error) {
	if err != nil {
		return "", err
	}
	t, _, _ := tableFor(obj)
	return t.id(obj), nil
}

func TestClusterMissingBeforeInit(t *testing.T) {
	s := New()
	err := s.View(func(tx ReadTx) error { _, err := tx.Cluster(); return err })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cluster() on an empty store: %v, want ErrNotFound", err)
	}
}

func TestResolve(t *testing.T) {
	h := fixture(t)
	h.mustApply(
		Create(service("abc123", "one", svcOpts{})),
		Create(service("abd456", "two", svcOpts{})),
		// A name that is another service's ID prefix: the name wins, as in Docker.
		Create(service("zzz999", "abc", svcOpts{})),
	)
	cases := []struct {
		table   Table
		ref     string
		want    string
		wantErr error
	}{
		{TableServices, "svc1", "svc1", nil},
		{TableServices, "shop_web", "svc1", nil},
		{TableServices, "SHOP_WEB", "svc1", nil},
		{TableServices, "abd", "abd456", nil},
		{TableServices, "abc", "zzz999", nil},
		{TableServices, "ab", "", ErrAmbiguous},
		{TableServices, "nothing", "", ErrNotFound},
		{TableServices, "", "", ErrNotFound},
		{TableNodes, "alpha", "n1", nil},
		{TableNodes, "beta", "", ErrAmbiguous},
		{TableNodes, "n3", "n3", nil},
		{TableTasks, "t4", "t4", nil},
		{TableTasks, "t", "", ErrAmbiguous},
		{TableNetworks, "shop_default", "net1", nil},
		{TableStacks, "blog", "stk2", nil},
		{TableSecrets, "sec", "", ErrAmbiguous},
		{TableConfigs, "cfg2", "cfg2", nil},
		{"volumes", "x", "", ErrInvalid},
	}
	for _, c := range cases {
		h.view(func(tx ReadTx) error {
			got, err := tx.Resolve(c.table, c.ref)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Errorf("Resolve(%s, %q) = %q, %v; want %v", c.table, c.ref, got, err, c.wantErr)
				}
				return nil
			}
			if err != nil || got != c.want {
				t.Errorf("Resolve(%s, %q) = %q, %v; want %q", c.table, c.ref, got, err, c.want)
			}
			return nil
		})
	}
}

func TestClone(t *testing.T) {
	h := fixture(t)
	h.view(func(tx ReadTx) error {
		orig, err := tx.Service("svc1")
		if err != nil {
			t.Fatal(err)
		}
		c, err := Clone(orig)
		if err != nil {
			t.Fatal(err)
		}
		c.Spec.Labels["changed"] = "yes"
		c.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretID = "other"
		if _, ok := orig.Spec.Labels["changed"]; ok {
			t.Error("changing the clone's labels changed the stored service")
		}
		if orig.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretID != "sec1" {
			t.Error("changing the clone's secret reference changed the stored service")
		}
		return nil
	})
}

// TestViewIsConsistentUnderWrites reads while entries are applied: every
// snapshot must hold exactly the objects of the entries up to its index.
func TestViewIsConsistentUnderWrites(t *testing.T) {
	h := newHarness(t)
	const entries = 300
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				err := h.s.View(func(tx ReadTx) error {
					nodes, err := tx.Nodes()
					if err != nil {
						return err
					}
					if uint64(len(nodes)) != tx.Index() {
						return fmt.Errorf("snapshot at index %d holds %d nodes", tx.Index(), len(nodes))
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range entries {
		data, err := EncodeBatch(Create(node(fmt.Sprintf("n%03d", i), "h")))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.s.Apply(uint64(i+1), at(uint64(i+1)), data); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// The Raft adapter (cluster/raftnode) takes the store through these
// interfaces; it cannot be imported here, so the shapes are repeated.
var (
	_ interface {
		Apply(index uint64, at time.Time, data []byte) error
		Save(w io.Writer) error
		Restore(r io.Reader) error
	} = (*Store)(nil)
	_ interface {
		Snapshot() (save func(w io.Writer) error, err error)
	} = (*Store)(nil)
)
