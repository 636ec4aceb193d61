package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// The repository these benchmarks use: stacks of services as a team
// writes them (image tag from the stack's .env, environment, a published
// port, a healthcheck, update and rollback configs, resources, an overlay
// network, an age-encrypted secret and a config).
const (
	benchStacks   = 100
	benchServices = 10
	benchReplicas = 3
)

// benchStackFile is stack i's compose file.
func benchStackFile(i, services int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for j := range services {
		fmt.Fprintf(&b, `  svc%[2]d:
    image: registry.example.com/team%02[1]d/svc%[2]d:${TAG}
    environment:
      LOG_LEVEL: ${LOG_LEVEL:-info}
      SERVICE_NAME: svc%[2]d
      DATABASE_URL: postgres://db.team%02[1]d.internal:5432/app
      CACHE_TTL: "300"
    ports:
      - "%[3]d:8080"
    healthcheck:
      test: ["CMD", "/app", "healthcheck"]
      interval: 10s
      timeout: 3s
      retries: 3
      start_period: 15s
    networks: [backend]
    secrets:
      - source: db_password
        target: db_password
    configs:
      - source: app_config
        target: /etc/app/config.yml
    deploy:
      replicas: %[4]d
      labels:
        team: team%02[1]d
      update_config:
        parallelism: 1
        delay: 5s
        order: start-first
        failure_action: rollback
        monitor: 10s
      rollback_config:
        parallelism: 1
        order: stop-first
      restart_policy:
        condition: on-failure
        delay: 5s
        max_attempts: 3
      resources:
        limits: {cpus: "0.50", memory: 256M}
        reservations: {cpus: "0.10", memory: 64M}
`, i, j, 20000+i*services+j, benchReplicas)
	}
	b.WriteString(`networks:
  backend:
    driver: overlay
secrets:
  db_password:
    file: ./db_password.age
configs:
  app_config:
    file: ./app.yml
`)
	return b.String()
}

// writeBenchStacks writes stacks stacks of services services each under
// dir (dir/team00/compose.yml, ...), their secrets encrypted to to.
func writeBenchStacks(tb testing.TB, dir string, stacks, services int, to age.Recipient) {
	tb.Helper()
	for i := range stacks {
		files := map[string][]byte{
			"compose.yml":     []byte(benchStackFile(i, services)),
			".env":            []byte("TAG=1.4.2\n"),
			"app.yml":         fmt.Appendf(nil, "team: team%02d\nworkers: 4\nfeatures: [search, export]\n", i),
			"db_password.age": ageEncrypt(tb, fmt.Sprintf("password-of-team%02d", i), to),
		}
		stackDir := filepath.Join(dir, fmt.Sprintf("team%02d", i))
		if err := os.MkdirAll(stackDir, 0o755); err != nil {
			tb.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(stackDir, name), data, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func ageEncrypt(tb testing.TB, plain string, to age.Recipient) []byte {
	tb.Helper()
	var out bytes.Buffer
	w, err := age.Encrypt(&out, to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write([]byte(plain)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func benchIdentity(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// BenchmarkPlan100Stacks10Services is `swarmops plan` on a repository of
// 100 stacks of 10 services: against an empty cluster, against a cluster
// that already runs all of it, and the reconciler's RenderDir of the same
// tree alone.
func BenchmarkPlan100Stacks10Services(b *testing.B) {
	root := b.TempDir()
	id := benchIdentity(b)
	dir := filepath.Join(root, "stacks")
	writeBenchStacks(b, dir, benchStacks, benchServices, id.Recipient())
	ctx := context.Background()

	first, err := PlanDir(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	running := map[string]*api.StackSpec{}
	for _, sp := range first.Stacks {
		if sp.Err != nil {
			b.Fatalf("stack %s does not plan: %v", sp.Source.Name, sp.Err)
		}
		running[sp.Source.Name] = sp.Spec
	}
	if len(running) != benchStacks {
		b.Fatalf("planned %d stacks, want %d", len(running), benchStacks)
	}

	b.Run("empty-cluster", func(b *testing.B) {
		var plan *Plan
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if plan, err = PlanDir(ctx, dir, nil); err != nil {
				b.Fatal(err)
			}
		}
		if n := countChanges(plan, api.KindService, api.ActionCreate); n != benchStacks*benchServices {
			b.Fatalf("the plan creates %d services, want %d", n, benchStacks*benchServices)
		}
	})
	b.Run("all-running", func(b *testing.B) {
		var plan *Plan
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if plan, err = PlanDir(ctx, dir, running); err != nil {
				b.Fatal(err)
			}
		}
		if plan.Changes() || plan.Failed() || len(plan.Stacks) != benchStacks {
			b.Fatalf("a plan against a cluster running the same stacks: changes %t, failed %t, %d stacks", plan.Changes(), plan.Failed(), len(plan.Stacks))
		}
	})
	b.Run("render-dir", func(b *testing.B) {
		var snap *Snapshot
		ids := []age.Identity{id}
		b.ReportAllocs()
		for b.Loop() {
			snap = RenderDir(ctx, root, "stacks", "0123456789abcdef0123456789abcdef01234567", "bench", ids)
		}
		if snap.Err != nil || len(snap.Stacks) != benchStacks {
			b.Fatalf("RenderDir: %v, %d stacks", snap.Err, len(snap.Stacks))
		}
		for name, r := range snap.Stacks {
			if r.Err != nil {
				b.Fatalf("stack %s does not render: %v", name, r.Err)
			}
		}
	})
	// What the leader pays for a new head that changes one stack: the
	// cache renders that stack and hashes the tree.
	b.Run("render-dir-one-stack-changed", func(b *testing.B) {
		var cache RenderCache
		ids := []age.Identity{id}
		cache.RenderDir(ctx, root, "stacks", "c0", "bench", ids, "k")
		file := filepath.Join(dir, "team07", ".env")
		var snap *Snapshot
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			if err := os.WriteFile(file, fmt.Appendf(nil, "TAG=1.4.%d\n", n+2), 0o644); err != nil {
				b.Fatal(err)
			}
			snap = cache.RenderDir(ctx, root, "stacks", "c1", "bench", ids, "k")
		}
		got := snap.Stacks["team07"].Spec.Services["team07_svc0"].TaskTemplate.ContainerSpec.Image
		if want := fmt.Sprintf("registry.example.com/team07/svc0:1.4.%d", n+2); got != want {
			b.Fatalf("team07 renders %s, want %s", got, want)
		}
	})
}

func countChanges(p *Plan, kind api.Kind, action api.Action) int {
	n := 0
	for _, s := range p.Stacks {
		for _, ch := range s.Changes.Changes {
			if ch.Kind == kind && ch.Action == action {
				n++
			}
		}
	}
	return n
}

// BenchmarkPollUnchanged100Stacks is the pass the leader makes every poll
// interval when nothing changed, on a cluster running 100 stacks of 10
// services (3 tasks each) that are all Synced: ask the remote for its head
// over smart HTTP, find it is the commit already rendered, and step every
// stack (read its record and what runs, decide, report). The cluster's
// state was written through the Engine API, as the reconciler writes it;
// during the benchmark the reconciler's Writer fails it on any call,
// since a pass that finds nothing must write nothing.
//
// Besides ns/op it reports the process's CPU time per pass (user and
// system, from getrusage: this includes the in-process HTTP server's side
// of the request but not the git-http-backend program it runs), and the
// bytes and requests on the wire per pass.
func BenchmarkPollUnchanged100Stacks(b *testing.B) {
	c := newSyncedCluster(b, benchStacks, benchServices)
	ctx := context.Background()

	b.Run("pass", func(b *testing.B) {
		c.rec.stepper.Writer = refusingWriter{b}
		m := startMeter(c.wire)
		b.ReportAllocs()
		for b.Loop() {
			c.rec.pass(ctx, true, syncRequests{}, nil)
		}
		m.report(b)
		c.checkSynced(b)
	})
	b.Run("head-only", func(b *testing.B) {
		m := startMeter(c.wire)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.rec.src.Head(ctx); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
	b.Run("step-only", func(b *testing.B) {
		c.rec.stepper.Writer = refusingWriter{b}
		var reports []api.StackReport
		m := startMeter(c.wire)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if reports, err = c.rec.stepper.Step(ctx, c.rec.snap, false, nil); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
		if rep := (api.Report{Stacks: reports}); !rep.Healthy() || len(reports) != benchStacks {
			b.Fatalf("want %d stacks Synced, the step reports %s", benchStacks, reportSummary(rep))
		}
	})
}

// TestPollUnchangedWritesNothing is the benchmark's premise on a small
// repository: once every stack is Synced, a pass over an unchanged remote
// makes one request for the head and writes nothing.
func TestPollUnchangedWritesNothing(t *testing.T) {
	c := newSyncedCluster(t, 3, 2)
	c.rec.stepper.Writer = refusingWriter{t}
	before := c.wire.requests.Load()
	c.rec.pass(testContext(t), true, syncRequests{}, nil)
	if n := c.wire.requests.Load() - before; n != 1 {
		t.Errorf("the pass made %d HTTP requests, want 1 (the ref advertisement)", n)
	}
	c.checkSynced(t)
}

// meter measures a benchmark loop: process CPU time and wire traffic.
type meter struct {
	wire        *wireCounter
	cpu         time.Duration
	bytes, reqs int64
}

func startMeter(w *wireCounter) *meter {
	return &meter{wire: w, cpu: processCPU(), bytes: w.total(), reqs: w.requests.Load()}
}

func (m *meter) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(processCPU()-m.cpu)/n, "cpu-ns/op")
	b.ReportMetric(float64(m.wire.total()-m.bytes)/n, "wire-bytes/op")
	b.ReportMetric(float64(m.wire.requests.Load()-m.reqs)/n, "requests/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wireCounter counts HTTP requests and the bytes their connections carry
// both ways (headers included, TCP/IP framing not).
type wireCounter struct {
	requests, read, written atomic.Int64
}

func (w *wireCounter) total() int64 { return w.read.Load() + w.written.Load() }

func (w *wireCounter) client() *http.Client {
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: conn, w: w}, nil
	}}
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		w.requests.Add(1)
		return tr.RoundTrip(req)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type countedConn struct {
	net.Conn
	w *wireCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.read.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.written.Add(int64(n))
	return n, err
}

// syncedCluster is a leader's reconciler, its store and Engine API (in
// process, over a Raft that applies each proposal at once) following a
// repository served over smart HTTP, every stack Synced.
type syncedCluster struct {
	rec      *Reconciler
	srv      *apiserver.Server
	st       *store.Store
	wire     *wireCounter
	stacks   int
	services int
}

// newSyncedCluster sets the repository through the API as `swarmops repo
// set` does, lets the reconciler deploy every stack, runs their tasks in
// the store (as the agents would report them) and lets it record the
// stacks Synced.
func newSyncedCluster(tb testing.TB, stacks, services int) *syncedCluster {
	tb.Helper()
	ctx := testContext(tb)
	gitRoot := tb.TempDir()
	repo := newTestRepoAt(tb, filepath.Join(gitRoot, "repo"))
	id := benchIdentity(tb)
	writeBenchStacks(tb, filepath.Join(repo.dir, "stacks"), stacks, services, id.Recipient())
	repo.commit("stacks")
	url := serveGitHTTP(tb, gitRoot, "git", "tok") + "/repo"

	st := store.New()
	raft := &applyingRaft{st: st}
	srv := apiserver.New(apiserver.Config{NodeID: "bench-manager", Store: st, Raft: raft, Sealer: plainSealer{}})
	if err := raft.propose(store.Create(&api.Cluster{ID: store.NewID(), Spec: swarm.Spec{Annotations: swarm.Annotations{Name: "default"}}})); err != nil {
		tb.Fatal(err)
	}
	creds, err := json.Marshal(Auth{Token: "tok"})
	if err != nil {
		tb.Fatal(err)
	}
	setRepo(tb, srv, apiserver.RepoRequest{
		Source:      api.GitSource{URL: url, Branch: "main", Path: "stacks", PollInterval: 30 * time.Second},
		Credentials: creds,
		AgeIdentity: []byte(id.String() + "\n"),
	})

	apiWriter, err := NewAPIWriter(srv.InProcess(apiserver.Caller{NodeID: "swarmops-reconciler", Role: ca.RoleManager}))
	if err != nil {
		tb.Fatal(err)
	}
	c := &syncedCluster{wire: &wireCounter{}, stacks: stacks, services: services}
	c.srv, c.st = srv, st
	c.rec = New(Config{Store: st, Writer: apiWriter, Open: func(b []byte) ([]byte, error) { return b, nil }, Dir: tb.TempDir(), HTTPClient: c.wire.client()})
	c.rec.pass(ctx, true, syncRequests{}, nil) // renders the head, records every stack and creates its objects
	if rep, _ := c.rec.Report(ctx); rep.PollError != "" || rep.Error != "" {
		tb.Fatalf("first pass: poll error %q, error %q", rep.PollError, rep.Error)
	}
	runEveryTask(tb, raft, st)
	c.rec.pass(ctx, true, syncRequests{}, nil) // sees every service converged: Synced
	c.checkSynced(tb)
	return c
}

// checkSynced fails tb unless the last pass found every stack Synced,
// converged and without drift.
func (c *syncedCluster) checkSynced(tb testing.TB) {
	tb.Helper()
	rep, err := c.rec.Report(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if !rep.Healthy() || len(rep.Stacks) != c.stacks {
		tb.Fatalf("want %d stacks Synced, the report is %s", c.stacks, reportSummary(rep))
	}
	for _, s := range rep.Stacks {
		if len(s.Services) != c.services {
			tb.Fatalf("stack %s runs %d services, want %d", s.Name, len(s.Services), c.services)
		}
	}
}

func reportSummary(rep api.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "poll error %q, error %q, %d stacks", rep.PollError, rep.Error, len(rep.Stacks))
	for i, s := range rep.Stacks {
		if i == 3 {
			b.WriteString("; …")
			break
		}
		fmt.Fprintf(&b, "; %s %s %q drift %v", s.Name, s.Status, s.Message, s.Drift)
	}
	return b.String()
}

// runEveryTask stores the tasks of every service as running, of the
// service's current spec, as the orchestrator and the agents would.
func runEveryTask(tb testing.TB, raft *applyingRaft, st *store.Store) {
	tb.Helper()
	node := &swarm.Node{ID: store.NewID(), Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "127.0.0.1"}}
	muts := []store.Mutation{store.Create(node)}
	err := st.View(func(tx store.ReadTx) error {
		services, err := tx.Services()
		if err != nil {
			return err
		}
		for _, svc := range services {
			for slot := 1; slot <= int(*svc.Spec.Mode.Replicated.Replicas); slot++ {
				muts = append(muts, store.Create(&swarm.Task{
					ID: store.NewID(), ServiceID: svc.ID, Slot: slot, NodeID: node.ID,
					Spec: svc.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning,
					Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Message: "started"},
				}))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := raft.propose(muts...); err != nil {
		tb.Fatal(err)
	}
}

func setRepo(tb testing.TB, srv *apiserver.Server, req apiserver.RepoRequest) {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	hreq, err := http.NewRequest(http.MethodPost, "http://swarmops.invalid/swarmops/v1/repo", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := srv.InProcess(apiserver.Caller{NodeID: "init", Role: ca.RoleManager}).RoundTrip(hreq)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		tb.Fatalf("set the repository: HTTP %d: %s", resp.StatusCode, msg.String())
	}
}

// applyingRaft is a single manager's Raft reduced to its effect: each
// proposal is applied to the store at the next index at once.
type applyingRaft struct {
	mu    sync.Mutex
	st    *store.Store
	index uint64
}

func (r *applyingRaft) Propose(_ context.Context, data []byte) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index++
	return r.index, r.st.Apply(r.index, time.Now(), data)
}

func (r *applyingRaft) propose(muts ...store.Mutation) error {
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return err
	}
	_, err = r.Propose(context.Background(), data)
	return err
}

func (r *applyingRaft) IsLeader() bool { return true }

func (r *applyingRaft) Leader() (string, string) { return "bench-manager", "127.0.0.1:2377" }

func (r *applyingRaft) Servers() ([]apiserver.RaftServer, error) {
	return []apiserver.RaftServer{{ID: "bench-manager", Address: "127.0.0.1:2377", Suffrage: "voter"}}, nil
}

func (r *applyingRaft) Stats() apiserver.RaftStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return apiserver.RaftStats{State: "Leader", CommitIndex: r.index, AppliedIndex: r.index, LastLogIndex: r.index}
}

// plainSealer keeps secret data as it is: the benchmarks' store is never
// written anywhere.
type plainSealer struct{}

func (plainSealer) Seal(plain []byte) ([]byte, error) { return plain, nil }

// refusingWriter fails the test or benchmark on any write.
type refusingWriter struct{ tb testing.TB }

func (w refusingWriter) refuse(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	w.tb.Fatalf("a pass over an unchanged, synced repository wrote: %s", msg)
	return errors.New(msg)
}

func (w refusingWriter) CreateNetwork(_ context.Context, name string, _ network.CreateRequest) error {
	return w.refuse("create network %s", name)
}
func (w refusingWriter) RemoveNetwork(_ context.Context, name string) error {
	return w.refuse("remove network %s", name)
}
func (w refusingWriter) CreateSecret(_ context.Context, s swarm.SecretSpec) error {
	return w.refuse("create secret %s", s.Name)
}
func (w refusingWriter) RemoveSecret(_ context.Context, name string) error {
	return w.refuse("remove secret %s", name)
}
func (w refusingWriter) CreateConfig(_ context.Context, s swarm.ConfigSpec) error {
	return w.refuse("create config %s", s.Name)
}
func (w refusingWriter) RemoveConfig(_ context.Context, name string) error {
	return w.refuse("remove config %s", name)
}
func (w refusingWriter) CreateService(_ context.Context, s swarm.ServiceSpec) error {
	return w.refuse("create service %s", s.Name)
}
func (w refusingWriter) UpdateService(_ context.Context, id string, _ uint64, s swarm.ServiceSpec) error {
	return w.refuse("update service %s (%s)", s.Name, id)
}
func (w refusingWriter) RemoveService(_ context.Context, name string) error {
	return w.refuse("remove service %s", name)
}
func (w refusingWriter) PutStack(_ context.Context, st *api.Stack) error {
	return w.refuse("stack record %s (%s: %s)", st.Name, st.Status, st.Message)
}
func (w refusingWriter) RemoveStack(_ context.Context, name string) error {
	return w.refuse("remove stack record %s", name)
}

// TestStoreChangesStepOnlyTheirStacks: after a hand change to one stack's
// service, the next pass looks at that stack alone, reports its drift, and
// keeps the others' reports.
func TestStoreChangesStepOnlyTheirStacks(t *testing.T) {
	c := newSyncedCluster(t, 3, 2)
	ctx := testContext(t)
	since := c.st.LastIndex()
	var svc *swarm.Service
	_ = c.st.View(func(tx store.ReadTx) (err error) {
		svc, err = tx.ServiceByName("team01_svc0")
		return err
	})
	if svc == nil {
		t.Fatal("no service team01_svc0")
	}
	hand, err := client.NewClientWithOpts(client.WithHost("http://swarmops.invalid"),
		client.WithHTTPClient(&http.Client{Transport: c.srv.InProcess(apiserver.Caller{NodeID: "client-alice", Role: ca.RoleClient})}), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	spec := svc.Spec
	five := uint64(5)
	spec.Mode.Replicated.Replicas = &five
	if _, err := hand.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	only, _ := c.rec.touched(since)
	if len(only) != 1 || !only["team01"] {
		t.Fatalf("touched = %v, want just team01", only)
	}
	c.rec.stepper.Writer = refusingWriter{t} // no self_heal: nothing to write
	c.rec.pass(ctx, false, syncRequests{}, only)
	rep, err := c.rec.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stacks) != 3 {
		t.Fatalf("report has %d stacks, want all 3 (two of them kept from the last pass)", len(rep.Stacks))
	}
	for _, s := range rep.Stacks {
		moved := false
		for _, d := range s.Drift {
			moved = moved || (d.Kind == api.DriftClusterMoved && d.Object == "team01_svc0" && d.By == "client-alice")
		}
		if want := s.Name == "team01"; moved != want {
			t.Errorf("stack %s: cluster_moved by client-alice reported %v, want %v (drift %+v)", s.Name, moved, want, s.Drift)
		}
	}
}
