package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// t0 is when every test's clock starts.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeRaft commits every proposal at once into one store, at increasing
// indexes, and records them. Raft itself is tested in cluster/raftnode.
type fakeRaft struct {
	mu        sync.Mutex
	s         *store.Store
	index     uint64
	proposals [][]byte
	// fail, when set, refuses proposals as a leader that lost its term
	// would.
	fail error
}

var errLostLeadership = errors.New("fake raft: leadership lost")

func (f *fakeRaft) Propose(_ context.Context, data []byte) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	f.index++
	f.proposals = append(f.proposals, bytes.Clone(data))
	return f.index, f.s.Apply(f.index, t0.Add(time.Duration(f.index)*time.Millisecond), data)
}

func (f *fakeRaft) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.proposals)
}

func (f *fakeRaft) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// sealPrefix marks test "ciphertext": open strips it, and refuses data
// without it as the real sealer refuses foreign data.
const sealPrefix = "sealed:"

func sealed(plain string) []byte { return []byte(sealPrefix + plain) }

var errNotSealed = errors.New("not sealed")

func open(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(sealPrefix)) {
		return nil, errNotSealed
	}
	return bytes.TrimPrefix(data, []byte(sealPrefix)), nil
}

var testManagers = []string{"10.0.0.1:4243", "10.0.0.2:4243"}

type harness struct {
	t     *testing.T
	s     *store.Store
	raft  *fakeRaft
	clock *fakeClock
	d     *Dispatcher
}

// newHarness makes a store holding the given objects, then the
// dispatcher of a new term over it.
func newHarness(t *testing.T, tune func(*Config), objects ...any) *harness {
	t.Helper()
	s := store.New()
	h := &harness{t: t, s: s, raft: &fakeRaft{s: s}, clock: &fakeClock{now: t0}}
	if len(objects) > 0 {
		var muts []store.Mutation
		for _, o := range objects {
			muts = append(muts, store.Create(o))
		}
		h.propose(muts...)
	}
	cfg := Config{
		Store:           s,
		Propose:         h.raft.Propose,
		Open:            open,
		Now:             h.clock.Now,
		HeartbeatPeriod: 5 * time.Second,
		Managers:        func() []string { return slices.Clone(testManagers) },
	}
	if tune != nil {
		tune(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

func (h *harness) propose(muts ...store.Mutation) {
	h.t.Helper()
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.raft.Propose(context.Background(), data); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) node(id string) *swarm.Node {
	h.t.Helper()
	var n *swarm.Node
	if err := h.s.View(func(tx store.ReadTx) error {
		var err error
		n, err = tx.Node(id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) task(id string) *swarm.Task {
	h.t.Helper()
	var task *swarm.Task
	if err := h.s.View(func(tx store.ReadTx) error {
		var err error
		task, err = tx.Task(id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return task
}

// register opens a session for the node and fails the test otherwise.
func (h *harness) register(nodeID string) api.SessionReply {
	h.t.Helper()
	r, err := h.d.Register(context.Background(), nodeID, "10.0.0.9:50000", api.SessionRequest{Description: describe(nodeID), Addr: ":4244"})
	if err != nil {
		h.t.Fatalf("register %s: %v", nodeID, err)
	}
	return r
}

// poll asks for the node's set at once.
func (h *harness) poll(nodeID, session string) api.Assignments {
	h.t.Helper()
	asg, err := h.d.Assignments(context.Background(), nodeID, api.AssignmentsRequest{SessionID: session})
	if err != nil {
		h.t.Fatalf("assignments of %s: %v", nodeID, err)
	}
	return asg
}

func describe(nodeID string) swarm.NodeDescription {
	return swarm.NodeDescription{
		Hostname:  "host-" + nodeID,
		Platform:  swarm.Platform{Architecture: "x86_64", OS: "linux"},
		Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
		Engine:    swarm.EngineDescription{EngineVersion: "28.5.2", Labels: map[string]string{"disk": "ssd"}},
	}
}

func node(id string, role swarm.NodeRole, state swarm.NodeState) *swarm.Node {
	return &swarm.Node{
		ID:   id,
		Spec: swarm.NodeSpec{Role: role, Availability: swarm.NodeAvailabilityActive},
		Description: swarm.NodeDescription{
			Hostname: "joined-" + id,
			TLSInfo:  swarm.TLSInfo{TrustRoot: "root-pem", CertIssuerSubject: []byte("issuer")},
		},
		Status: swarm.NodeStatus{State: state, Addr: "10.0.0.50"},
	}
}

func service(id, name string, published uint32) *swarm.Service {
	s := &swarm.Service{ID: id}
	s.Spec.Name = name
	s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "nginx:1.27"}
	if published != 0 {
		s.Spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: published}}}
	}
	return s
}

// task makes a task of the service on the node, using the named secrets
// and configs (their IDs equal their names here).
func task(id, serviceID, nodeID string, desired swarm.TaskState, secrets, configs []string) *swarm.Task {
	cs := &swarm.ContainerSpec{Image: "nginx:1.27"}
	for _, s := range secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: s, SecretName: s, File: &swarm.SecretReferenceFileTarget{Name: s}})
	}
	for _, c := range configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigID: c, ConfigName: c, File: &swarm.ConfigReferenceFileTarget{Name: c}})
	}
	return &swarm.Task{
		ID: id, ServiceID: serviceID, NodeID: nodeID, Slot: 1, DesiredState: desired,
		Spec:   swarm.TaskSpec{ContainerSpec: cs},
		Status: swarm.TaskStatus{State: swarm.TaskStateAssigned, Timestamp: t0},
	}
}

func secret(id string) *swarm.Secret {
	s := &swarm.Secret{ID: id}
	s.Spec.Name = id
	s.Spec.Data = sealed("secret of " + id)
	return s
}

func config(id string) *swarm.Config {
	c := &swarm.Config{ID: id}
	c.Spec.Name = id
	c.Spec.Data = []byte("config of " + id)
	return c
}

func status(state swarm.TaskState, after time.Duration) swarm.TaskStatus {
	return swarm.TaskStatus{State: state, Timestamp: t0.Add(after)}
}

func ids[T any](objs []T, id func(T) string) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, id(o))
	}
	slices.Sort(out)
	return out
}

func taskIDs(ts []swarm.Task) []string { return ids(ts, func(t swarm.Task) string { return t.ID }) }

func dataIDs(ds []api.AssignedData) []string {
	return ids(ds, func(d api.AssignedData) string { return d.ID })
}

// storeUpdate is an update of an object read from the store, at the
// version it was read at.
func storeUpdate(n *swarm.Node) store.Mutation { return store.Update(n, n.Version.Index) }
