package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// dispatchCall POSTs body to a manager's dispatcher route as the holder of
// tlsConf's certificate, decodes a 200 into out, and returns the status
// and the headers.
func dispatchCall(t *testing.T, tlsConf *tls.Config, addr, path string, body, out any) (int, http.Header) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsConf}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Post("https://"+addr+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("POST %s%s: %v", addr, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("POST %s%s: decode: %v", addr, path, err)
		}
	}
	return res.StatusCode, res.Header
}

func readNode(m *Manager, id string) *swarm.Node {
	var n *swarm.Node
	m.Store().View(func(tx store.ReadTx) error { n, _ = tx.Node(id); return nil })
	return n
}

// TestDispatcherOnRealRaft runs a node's session against a manager with
// real Raft: it registers, gets its task with exactly its secret and
// config, reports a status that lands in the store, and once silent is
// marked down. A second manager sends the agent to the leader.
func TestDispatcherOnRealRaft(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Between its calls the test's worker is silent: three periods must
	// outlast the slowest of them on a loaded machine, or the worker goes
	// down (and its session with it) before the test says it should.
	const period = time.Second
	m1, err := Init(ctx, InitConfig{
		Config:    Config{DataDir: t.TempDir(), HeartbeatPeriod: period},
		Advertise: freeAddr(t),
		Hostname:  "node-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m1.Shutdown(context.Background()) })
	tokens, err := m1.JoinTokens()
	if err != nil {
		t.Fatal(err)
	}
	wcfg := Config{DataDir: t.TempDir()}
	wid, err := JoinCluster(ctx, JoinConfig{Config: wcfg, Remote: m1.Identity().Advertise, Token: tokens.Worker, Advertise: freeAddr(t), Hostname: "worker-1"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := DataDir{Dir: wcfg.DataDir}.Certs().LoadRootCA()
	if err != nil {
		t.Fatal(err)
	}
	wcert, err := DataDir{Dir: wcfg.DataDir}.Certs().LoadNode(root)
	if err != nil {
		t.Fatal(err)
	}
	workerTLS := root.ClientConfig(ca.NewCredentials(wcert))

	// A service with one task on the worker, using one secret and one
	// config of three each.
	var muts []store.Mutation
	for _, name := range []string{"db_password", "api_key", "unused"} {
		sealed, err := m1.Sealer().Seal([]byte("plain " + name))
		if err != nil {
			t.Fatal(err)
		}
		muts = append(muts, store.Create(&swarm.Secret{ID: "sec-" + name, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}, Data: sealed}}))
		muts = append(muts, store.Create(&swarm.Config{ID: "cfg-" + name, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte("conf " + name)}}))
	}
	svc := &swarm.Service{ID: "svc-web"}
	svc.Spec.Name = "web"
	svc.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "nginx:1.27"}
	muts = append(muts, store.Create(svc))
	task := &swarm.Task{ID: "task-web-1", ServiceID: svc.ID, Slot: 1, NodeID: wid.NodeID, DesiredState: swarm.TaskStateRunning,
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:   "nginx:1.27",
			Secrets: []*swarm.SecretReference{{SecretID: "sec-db_password", SecretName: "db_password"}},
			Configs: []*swarm.ConfigReference{{ConfigID: "cfg-api_key", ConfigName: "api_key"}},
		}},
		Status: swarm.TaskStatus{State: swarm.TaskStateAssigned, Timestamp: time.Now()}}
	muts = append(muts, store.Create(task))
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}

	// Register (the dispatcher may still be starting with the term).
	leader := m1.Identity().Advertise
	var reply api.SessionReply
	waitFor(t, "a session", func() bool {
		code, _ := dispatchCall(t, workerTLS, leader, api.SessionPath, api.SessionRequest{
			Description: swarm.NodeDescription{Hostname: "worker-1", Platform: swarm.Platform{OS: "linux", Architecture: "x86_64"}, Engine: swarm.EngineDescription{EngineVersion: "28.5.2"}},
			Addr:        "127.0.0.1:4244",
		}, &reply)
		return code == http.StatusOK
	})
	if reply.NodeID != wid.NodeID || reply.Role != swarm.NodeRoleWorker || reply.HeartbeatPeriod != period || !slices.Contains(reply.Managers, leader) {
		t.Errorf("session reply = %+v", reply)
	}
	if n := readNode(m1, wid.NodeID); n.Status.State != swarm.NodeStateReady || n.Description.Engine.EngineVersion != "28.5.2" {
		t.Errorf("registered node = %+v / %+v", n.Status, n.Description.Engine)
	}
	if addr, ok := m1.AgentAddr(wid.NodeID); !ok || addr != "127.0.0.1:4244" {
		t.Errorf("AgentAddr = %q, %v", addr, ok)
	}

	var asg api.Assignments
	if code, _ := dispatchCall(t, workerTLS, leader, api.AssignmentsPath, api.AssignmentsRequest{SessionID: reply.SessionID}, &asg); code != http.StatusOK {
		t.Fatalf("assignments: %d", code)
	}
	if len(asg.Tasks) != 1 || asg.Tasks[0].ID != task.ID || asg.Services[svc.ID].Name != "web" {
		t.Errorf("assigned tasks %+v services %+v", asg.Tasks, asg.Services)
	}
	if len(asg.Secrets) != 1 || asg.Secrets[0].ID != "sec-db_password" || string(asg.Secrets[0].Data) != "plain db_password" {
		t.Errorf("assigned secrets = %+v, want exactly db_password, decrypted", asg.Secrets)
	}
	if len(asg.Configs) != 1 || asg.Configs[0].ID != "cfg-api_key" || string(asg.Configs[0].Data) != "conf api_key" {
		t.Errorf("assigned configs = %+v, want exactly api_key", asg.Configs)
	}

	st := api.StatusRequest{SessionID: reply.SessionID, Updates: []api.TaskStatusUpdate{{TaskID: task.ID, Status: swarm.TaskStatus{
		State: swarm.TaskStateRunning, Timestamp: time.Now(), Message: "started",
		ContainerStatus: &swarm.ContainerStatus{ContainerID: "c0ffee"},
	}}}}
	if code, _ := dispatchCall(t, workerTLS, leader, api.StatusPath, st, nil); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	var got *swarm.Task
	m1.Store().View(func(tx store.ReadTx) error { got, _ = tx.Task(task.ID); return nil })
	if got.Status.State != swarm.TaskStateRunning || got.Status.ContainerStatus == nil || got.Status.ContainerStatus.ContainerID != "c0ffee" {
		t.Errorf("task status once the call returned = %+v", got.Status)
	}

	// A follower sends the agent to the leader.
	m2 := joinManager(t, m1, "node-2")
	var code int
	var header http.Header
	waitFor(t, "the follower to redirect", func() bool {
		code, header = dispatchCall(t, workerTLS, m2.Identity().Advertise, api.SessionPath, api.SessionRequest{}, nil)
		return code == http.StatusServiceUnavailable && header.Get(api.HeaderLeader) != ""
	})
	if header.Get(api.HeaderLeader) != leader {
		t.Errorf("follower names %q as the leader, want %s", header.Get(api.HeaderLeader), leader)
	}
	if _, ok := m2.AgentAddr(wid.NodeID); ok {
		t.Error("a follower answers AgentAddr")
	}

	// Silent, the worker goes down; the managers, which Raft reaches, do
	// not.
	waitFor(t, "the silent worker marked down", func() bool {
		n := readNode(m1, wid.NodeID)
		return n.Status.State == swarm.NodeStateDown
	})
	if n := readNode(m1, wid.NodeID); n.Status.Message != "heartbeat failure" {
		t.Errorf("down node message = %q", n.Status.Message)
	}
	for _, m := range []*Manager{m1, m2} {
		if n := readNode(m1, m.Identity().NodeID); n.Status.State != swarm.NodeStateReady {
			t.Errorf("manager %s = %s, want ready", n.Description.Hostname, n.Status.State)
		}
	}
	if code, _ := dispatchCall(t, workerTLS, leader, api.AssignmentsPath, api.AssignmentsRequest{SessionID: reply.SessionID}, nil); code != http.StatusNotFound {
		t.Errorf("the down node's old session: %d, want 404 to register again", code)
	}

	// A manager written down (as an older leader may have done while it
	// was away) that Raft reaches is ready again.
	n, err := store.Clone(readNode(m1, m2.Identity().NodeID))
	if err != nil {
		t.Fatal(err)
	}
	n.Status = swarm.NodeStatus{State: swarm.NodeStateDown, Message: "heartbeat failure", Addr: n.Status.Addr}
	if data, err = store.EncodeBatch(store.Update(n, n.Version.Index)); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reachable manager ready again", func() bool {
		return readNode(m1, m2.Identity().NodeID).Status.State == swarm.NodeStateReady
	})
}
