package apiserver

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

func TestTaskListFiltersAndInspect(t *testing.T) {
	h := newHarness(t, 1)
	h.addWorker("worker1aaaaaaaaaaaaaaaaaa", "w1", swarm.NodeStateReady, nil)
	m := h.managers[0]
	cli := h.docker(m, h.clientCert())
	ctx := context.Background()
	web, err := cli.ServiceCreate(ctx, minimalSpec("web", "nginx"), swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := cli.ServiceCreate(ctx, minimalSpec("db", "postgres"), swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, svc string, slot int, node string, desired swarm.TaskState, labels map[string]string) *swarm.Task {
		return &swarm.Task{ID: id, ServiceID: svc, Slot: slot, NodeID: node, DesiredState: desired,
			Annotations: swarm.Annotations{Labels: labels}, Status: swarm.TaskStatus{State: desired}}
	}
	h.propose(
		store.Create(mk("taskweb1aaaaaaaaaaaaaaaaa", web.ID, 1, m.id, swarm.TaskStateRunning, map[string]string{"k": "v"})),
		store.Create(mk("taskweb1old0000000000000a", web.ID, 1, "worker1aaaaaaaaaaaaaaaaaa", swarm.TaskStateShutdown, nil)),
		store.Create(mk("taskweb2bbbbbbbbbbbbbbbbb", web.ID, 2, "worker1aaaaaaaaaaaaaaaaaa", swarm.TaskStateRunning, nil)),
		store.Create(mk("taskdb1ccccccccccccccccccc", db.ID, 1, m.id, swarm.TaskStateRunning, nil)),
	)
	// One task made from web's current spec: the only one "_up-to-date".
	webSvc, _, err := cli.ServiceInspectWithRaw(ctx, web.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current := mk("taskweb3ddddddddddddddddd", web.ID, 3, m.id, swarm.TaskStateRunning, nil)
	current.Spec = webSvc.Spec.TaskTemplate
	h.propose(store.Create(current))
	list := func(args filters.Args) string {
		t.Helper()
		tasks, err := cli.TaskList(ctx, swarm.TaskListOptions{Filters: args})
		if err != nil {
			t.Fatalf("TaskList %v: %v", args, err)
		}
		var ids []string
		for _, tk := range tasks {
			ids = append(ids, tk.ID[:9])
		}
		slices.Sort(ids)
		return strings.Join(ids, " ")
	}
	for _, c := range []struct {
		args filters.Args
		want string
	}{
		{filters.NewArgs(), "taskdb1cc taskweb1a taskweb1o taskweb2b taskweb3d"},
		{filters.NewArgs(filters.Arg("service", "web")), "taskweb1a taskweb1o taskweb2b taskweb3d"},
		{filters.NewArgs(filters.Arg("service", "web"), filters.Arg("_up-to-date", "true")), "taskweb3d"},
		{filters.NewArgs(filters.Arg("service", db.ID)), "taskdb1cc"},
		{filters.NewArgs(filters.Arg("node", "w1")), "taskweb1o taskweb2b"},
		{filters.NewArgs(filters.Arg("service", "web"), filters.Arg("desired-state", "running")), "taskweb1a taskweb2b taskweb3d"},
		{filters.NewArgs(filters.Arg("desired-state", "shutdown")), "taskweb1o"},
		{filters.NewArgs(filters.Arg("node", "w1"), filters.Arg("_up-to-date", "true")), ""},
		{filters.NewArgs(filters.Arg("label", "k=v")), "taskweb1a"},
		{filters.NewArgs(filters.Arg("id", "taskweb2")), "taskweb2b"},
		{filters.NewArgs(filters.Arg("name", "web.1")), "taskweb1a taskweb1o"},
		{filters.NewArgs(filters.Arg("name", "db.")), "taskdb1cc"},
	} {
		if got := list(c.args); got != c.want {
			t.Errorf("filter %v: %q, want %q", c.args, got, c.want)
		}
	}
	_, err = cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", "nosuch"))})
	wantErr(t, err, "service nosuch not found")
	_, err = cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("desired-state", "bogus"))})
	wantErr(t, err, "Invalid desired-state filter: 'bogus'")

	task, _, err := cli.TaskInspectWithRaw(ctx, "taskweb2")
	if err != nil || task.ServiceID != web.ID || task.Slot != 2 {
		t.Fatalf("inspect by prefix: %v %+v", err, task)
	}
	_, _, err = cli.TaskInspectWithRaw(ctx, "taskweb1")
	wantErr(t, err, "task taskweb1 is ambiguous (2 matches found)")
	_, _, err = cli.TaskInspectWithRaw(ctx, "nosuch")
	wantErr(t, err, "task nosuch not found")
}
