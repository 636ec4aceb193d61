package docker

import (
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func TestTaskName(t *testing.T) {
	for _, tc := range []struct {
		task swarm.Task
		want string
	}{
		{swarm.Task{ID: "t1", Slot: 3, NodeID: "n1"}, "web.3.t1"},
		{swarm.Task{ID: "t1", NodeID: "n1"}, "web.n1.t1"}, // global service
		{swarm.Task{ID: "t1", Slot: 3, Annotations: swarm.Annotations{Name: "own"}}, "own"},
	} {
		if got := TaskName(tc.task, "web"); got != tc.want {
			t.Errorf("TaskName(%+v) = %q, want %q", tc.task, got, tc.want)
		}
	}
}

func TestContainerConfigPure(t *testing.T) {
	grace := 1500 * time.Millisecond
	task := swarm.Task{
		ID: "t1", ServiceID: "s1", Slot: 2,
		Annotations: swarm.Annotations{Labels: map[string]string{"b": "task", "com.docker.swarm.task.id": "forged"}},
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:           "img",
			Labels:          map[string]string{"a": "spec", "b": "spec"},
			Args:            []string{"x"},
			StopGracePeriod: &grace,
			Hosts:           []string{"10.0.0.1 db db.local", "bogus"},
		}},
	}
	cfg, hc, err := containerConfig(task, "web", "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a": "spec", "b": "task",
		LabelTask: "", LabelTaskID: "t1", LabelTaskName: "web.2.t1",
		LabelServiceID: "s1", LabelServiceName: "web", LabelNodeID: "n1", LabelOwner: ownerValue,
	}
	if !reflect.DeepEqual(cfg.Labels, want) {
		t.Errorf("labels = %v, want %v", cfg.Labels, want)
	}
	// Args alone keep the image's entrypoint.
	if cfg.Entrypoint != nil || !reflect.DeepEqual([]string(cfg.Cmd), []string{"x"}) {
		t.Errorf("entrypoint %v cmd %v, want image's entrypoint and [x]", cfg.Entrypoint, cfg.Cmd)
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 1 {
		t.Errorf("StopTimeout = %v, want 1", cfg.StopTimeout)
	}
	if w := []string{"db:10.0.0.1", "db.local:10.0.0.1"}; !reflect.DeepEqual(hc.ExtraHosts, w) {
		t.Errorf("ExtraHosts = %v, want %v", hc.ExtraHosts, w)
	}
	if _, _, err := containerConfig(swarm.Task{ID: "t2"}, "web", "n1"); err == nil {
		t.Error("a task without a container spec was accepted")
	}
}
