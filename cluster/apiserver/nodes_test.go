package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// addWorker stores a worker node as a join would.
func (h *harness) addWorker(id, hostname string, state swarm.NodeState, labels map[string]string) {
	h.propose(store.Create(&swarm.Node{
		ID:          id,
		Spec:        swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive, Annotations: swarm.Annotations{Labels: labels}},
		Description: swarm.NodeDescription{Hostname: hostname, Engine: swarm.EngineDescription{EngineVersion: "swarmops", Labels: map[string]string{"disk": "ssd"}}},
		Status:      swarm.NodeStatus{State: state, Addr: "127.0.0.2"},
	}))
}

func TestNodeListInspectAndFilters(t *testing.T) {
	h := newHarness(t, 3)
	h.addWorker("worker1aaaaaaaaaaaaaaaaaa", "w1", swarm.NodeStateReady, map[string]string{"zone": "a"})
	h.addWorker("worker2bbbbbbbbbbbbbbbbbb", "w2", swarm.NodeStateDown, nil)
	m := h.managers[2]
	cli := h.docker(m, h.clientCert())
	ctx := context.Background()

	nodes, err := cli.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		t.Fatalf("NodeList: %v", err)
	}
	if len(nodes) != 5 {
		t.Fatalf("%d nodes, want 5", len(nodes))
	}
	leaders := 0
	for _, n := range nodes {
		isManager := strings.HasPrefix(n.ID, "manager")
		if isManager != (n.ManagerStatus != nil) {
			t.Errorf("node %s: manager status %+v", n.ID, n.ManagerStatus)
		}
		if n.ManagerStatus != nil {
			if n.ManagerStatus.Reachability != swarm.ReachabilityReachable || n.ManagerStatus.Addr == "" {
				t.Errorf("manager status %+v", n.ManagerStatus)
			}
			if n.ManagerStatus.Leader {
				leaders++
				if n.ID != h.managers[0].id {
					t.Errorf("leader is %s, want %s", n.ID, h.managers[0].id)
				}
			}
		}
		if n.Spec.Labels == nil {
			t.Errorf("node %s: labels are {} not null, as Swarm shows them", n.ID)
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders", leaders)
	}
	for _, c := range []struct {
		args filters.Args
		want string
	}{
		{filters.NewArgs(filters.Arg("role", "manager")), "mgr1 mgr2 mgr3"},
		{filters.NewArgs(filters.Arg("role", "worker")), "w1 w2"},
		{filters.NewArgs(filters.Arg("name", "w")), "w1 w2"},
		{filters.NewArgs(filters.Arg("id", "worker1")), "w1"},
		{filters.NewArgs(filters.Arg("node.label", "zone=a")), "w1"},
		{filters.NewArgs(filters.Arg("label", "disk=ssd")), "w1 w2"},
		{filters.NewArgs(filters.Arg("membership", "accepted")), "mgr1 mgr2 mgr3 w1 w2"},
		{filters.NewArgs(filters.Arg("membership", "pending")), ""},
	} {
		got, err := cli.NodeList(ctx, swarm.NodeListOptions{Filters: c.args})
		if err != nil {
			t.Fatalf("NodeList %v: %v", c.args, err)
		}
		var hosts []string
		for _, n := range got {
			hosts = append(hosts, n.Description.Hostname)
		}
		slices.Sort(hosts)
		if strings.Join(hosts, " ") != c.want {
			t.Errorf("filter %v: %q, want %q", c.args, hosts, c.want)
		}
	}
	_, err = cli.NodeList(ctx, swarm.NodeListOptions{Filters: filters.NewArgs(filters.Arg("role", "boss"))})
	wantErr(t, err, "Invalid role filter: 'boss'")

	n, _, err := cli.NodeInspectWithRaw(ctx, "w1")
	if err != nil || n.ID != "worker1aaaaaaaaaaaaaaaaaa" {
		t.Fatalf("inspect by hostname: %v %s", err, n.ID)
	}
	n, _, err = cli.NodeInspectWithRaw(ctx, "worker2")
	if err != nil || n.Description.Hostname != "w2" {
		t.Fatalf("inspect by prefix: %v %+v", err, n)
	}
	_, _, err = cli.NodeInspectWithRaw(ctx, "worker")
	wantErr(t, err, "node worker is ambiguous (2 matches found)")
	_, _, err = cli.NodeInspectWithRaw(ctx, "nosuch")
	wantErr(t, err, "node nosuch not found")
}

func TestNodeUpdate(t *testing.T) {
	h := newHarness(t, 1)
	h.addWorker("worker1aaaaaaaaaaaaaaaaaa", "w1", swarm.NodeStateReady, nil)
	cli := h.docker(h.managers[0], h.clientCert())
	ctx := context.Background()
	n, _, _ := cli.NodeInspectWithRaw(ctx, "w1")

	// `docker node update --availability drain --label-add zone=b w1`
	spec := n.Spec
	spec.Availability = swarm.NodeAvailabilityDrain
	spec.Labels = map[string]string{"zone": "b"}
	if err := cli.NodeUpdate(ctx, n.ID, n.Version, spec); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, _, _ := cli.NodeInspectWithRaw(ctx, "w1")
	if got.Spec.Availability != swarm.NodeAvailabilityDrain || got.Spec.Labels["zone"] != "b" || got.Version.Index <= n.Version.Index {
		t.Errorf("after update: %+v", got.Spec)
	}
	if got.Description.Hostname != "w1" || got.Status.State != swarm.NodeStateReady {
		t.Errorf("update touched more than the spec: %+v", got)
	}
	// A stale version, then bad values.
	wantErr(t, cli.NodeUpdate(ctx, n.ID, n.Version, spec), "update out of sequence")
	bad := got.Spec
	bad.Role = "boss"
	wantErr(t, cli.NodeUpdate(ctx, n.ID, got.Version, bad), `invalid Role: "boss"`)
	bad = got.Spec
	bad.Availability = "sleepy"
	wantErr(t, cli.NodeUpdate(ctx, n.ID, got.Version, bad), `invalid Availability: "sleepy"`)
	status, body, _ := h.raw(h.managers[0], h.clientCert(), "POST", "/nodes/w1/update?version=x", got.Spec)
	wantError(t, status, body, 400, "invalid node version 'x'")

	// `docker node promote w1` records the desired role.
	promote := got.Spec
	promote.Role = swarm.NodeRoleManager
	if err := cli.NodeUpdate(ctx, n.ID, got.Version, promote); err != nil {
		t.Fatalf("promote: %v", err)
	}
	got, _, _ = cli.NodeInspectWithRaw(ctx, "w1")
	if got.Spec.Role != swarm.NodeRoleManager {
		t.Errorf("role after promote: %s", got.Spec.Role)
	}
}

func TestDemotionKeepsAManagerAndTheQuorum(t *testing.T) {
	h := newHarness(t, 1)
	cli := h.docker(h.managers[0], h.clientCert())
	ctx := context.Background()
	only, _, _ := cli.NodeInspectWithRaw(ctx, "mgr1")
	demote := only.Spec
	demote.Role = swarm.NodeRoleWorker
	wantErr(t, cli.NodeUpdate(ctx, only.ID, only.Version, demote),
		"rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm")

	h3 := newHarness(t, 3)
	cli = h3.docker(h3.managers[0], h3.clientCert())
	// mgr3 is unreachable: demoting mgr2 would leave one reachable voter
	// of two, no quorum.
	h3.c.mu.Lock()
	h3.c.servers[2].Reachability = "unreachable"
	h3.c.mu.Unlock()
	m2, _, _ := cli.NodeInspectWithRaw(ctx, "mgr2")
	demote = m2.Spec
	demote.Role = swarm.NodeRoleWorker
	wantErr(t, cli.NodeUpdate(ctx, m2.ID, m2.Version, demote),
		"rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum")
	// Demoting the unreachable one leaves two of two reachable.
	m3, _, _ := cli.NodeInspectWithRaw(ctx, "mgr3")
	demote = m3.Spec
	demote.Role = swarm.NodeRoleWorker
	if err := cli.NodeUpdate(ctx, m3.ID, m3.Version, demote); err != nil {
		t.Errorf("demote unreachable mgr3: %v", err)
	}
	nodes, _ := cli.NodeList(ctx, swarm.NodeListOptions{})
	for _, n := range nodes {
		if n.ID == m3.ID && n.ManagerStatus.Reachability != swarm.ReachabilityUnreachable {
			t.Errorf("mgr3 reachability %s", n.ManagerStatus.Reachability)
		}
	}
}

func TestNodeRemove(t *testing.T) {
	h := newHarness(t, 1)
	h.addWorker("worker1aaaaaaaaaaaaaaaaaa", "w1", swarm.NodeStateReady, nil)
	h.addWorker("worker2bbbbbbbbbbbbbbbbbb", "w2", swarm.NodeStateDown, nil)
	running := &swarm.Task{ID: store.NewID(), NodeID: "worker2bbbbbbbbbbbbbbbbbb", ServiceID: "svc", Slot: 1,
		DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}
	done := &swarm.Task{ID: store.NewID(), NodeID: "worker2bbbbbbbbbbbbbbbbbb", ServiceID: "svc", Slot: 2,
		DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateShutdown, Message: "shut down"}}
	h.propose(store.Create(running), store.Create(done))
	m := h.managers[0]
	cli := h.docker(m, h.clientCert())
	ctx := context.Background()

	wantErr(t, cli.NodeRemove(ctx, "mgr1", swarm.NodeRemoveOptions{Force: true}),
		"rpc error: code = FailedPrecondition desc = node "+m.id+" is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal")
	wantErr(t, cli.NodeRemove(ctx, "w1", swarm.NodeRemoveOptions{}),
		"rpc error: code = FailedPrecondition desc = node worker1aaaaaaaaaaaaaaaaaa is not down and can't be removed")
	if err := cli.NodeRemove(ctx, "w1", swarm.NodeRemoveOptions{Force: true}); err != nil {
		t.Errorf("force remove: %v", err)
	}
	if err := cli.NodeRemove(ctx, "w2", swarm.NodeRemoveOptions{}); err != nil {
		t.Fatalf("remove down node: %v", err)
	}
	wantErr(t, cli.NodeRemove(ctx, "w2", swarm.NodeRemoveOptions{}), "node w2 not found")
	_ = m.store.View(func(tx store.ReadTx) error {
		if _, err := tx.Node("worker2bbbbbbbbbbbbbbbbbb"); err == nil {
			t.Error("w2 still stored")
		}
		got, _ := tx.Task(running.ID)
		if got.Status.State != swarm.TaskStateOrphaned || got.Status.Message != "Task belonged to a node that has been deleted" || !got.Status.Timestamp.Equal(h.now) {
			t.Errorf("running task after its node went: %+v", got.Status)
		}
		got, _ = tx.Task(done.ID)
		if got.Status.State != swarm.TaskStateShutdown {
			t.Errorf("finished task changed: %+v", got.Status)
		}
		return nil
	})
	status, body, _ := h.raw(m, h.clientCert(), http.MethodDelete, "/v1.41/nodes/nosuch?force=1", nil)
	wantError(t, status, body, 404, "node nosuch not found")
}
