package worker

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

func desired(id string, d swarm.TaskState) swarm.Task { return swarm.Task{ID: id, DesiredState: d} }

func TestPlanTasks(t *testing.T) {
	const (
		ready    = swarm.TaskStateReady
		running  = swarm.TaskStateRunning
		shutdown = swarm.TaskStateShutdown
		remove   = swarm.TaskStateRemove
	)
	for _, tc := range []struct {
		name   string
		have   map[string]runnerView
		set    []swarm.Task
		start  []string
		desire map[string]swarm.TaskState
		remove []string
		forget []string
	}{
		{name: "new tasks start in set order",
			set: []swarm.Task{desired("b", running), desired("a", running), desired("b", running)}, start: []string{"b", "a"}},
		{name: "same set: nothing",
			have: map[string]runnerView{"a": {Desired: running}}, set: []swarm.Task{desired("a", running)}},
		{name: "desired moves on",
			have: map[string]runnerView{"a": {Desired: ready}, "b": {Desired: running}},
			set:  []swarm.Task{desired("a", running), desired("b", shutdown)}, desire: map[string]swarm.TaskState{"a": running, "b": shutdown}},
		{name: "desired never moves back",
			have: map[string]runnerView{"a": {Desired: shutdown}}, set: []swarm.Task{desired("a", running)}},
		{name: "finished executor of an assigned task is left alone",
			have: map[string]runnerView{"a": {Desired: remove, Finished: true}}, set: []swarm.Task{desired("a", remove)}},
		{name: "gone tasks are removed once, then forgotten once finished",
			have:   map[string]runnerView{"a": {Desired: running}, "b": {Desired: remove}, "c": {Desired: remove, Finished: true}, "d": {Desired: shutdown, Finished: true}},
			remove: []string{"a"}, forget: []string{"c", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planTasks(tc.have, tc.set)
			var start []string
			for _, tk := range p.Start {
				start = append(start, tk.ID)
			}
			if tc.desire == nil {
				tc.desire = map[string]swarm.TaskState{}
			}
			if !slices.Equal(start, tc.start) || !maps.Equal(p.Desire, tc.desire) ||
				!slices.Equal(p.Remove, tc.remove) || !slices.Equal(p.Forget, tc.forget) {
				t.Errorf("plan start %v desire %v remove %v forget %v; want %v %v %v %v",
					start, p.Desire, p.Remove, p.Forget, tc.start, tc.desire, tc.remove, tc.forget)
			}
		})
	}
}

func TestOrphansOf(t *testing.T) {
	owned := map[string][]string{"exec": {"a", "x"}, "docker": {"b", "y", "z"}}
	got := orphansOf(owned, []swarm.Task{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	want := map[string][]string{"exec": {"x"}, "docker": {"y", "z"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orphans %v, want %v", got, want)
	}
	if got := orphansOf(owned, []swarm.Task{{ID: "a"}, {ID: "x"}, {ID: "b"}, {ID: "y"}, {ID: "z"}}); len(got) != 0 {
		t.Errorf("orphans %v, want none", got)
	}
}

func TestDriverOf(t *testing.T) {
	tk := swarm.Task{}
	if d := driverOf(tk); d != "docker" {
		t.Errorf("no container spec: driver %q, want docker", d)
	}
	tk.Spec.ContainerSpec = &swarm.ContainerSpec{Labels: map[string]string{"other": "x"}}
	if d := driverOf(tk); d != "docker" {
		t.Errorf("no label: driver %q, want docker", d)
	}
	tk.Spec.ContainerSpec.Labels[api.LabelDriver] = "exec"
	if d := driverOf(tk); d != "exec" {
		t.Errorf("labelled: driver %q, want exec", d)
	}
}

func TestTaskSpec(t *testing.T) {
	asg := &api.Assignments{
		Services: map[string]api.AssignedService{"svc1": {Name: "web"}},
		Secrets:  []api.AssignedData{{ID: "s1", Data: []byte("a")}, {ID: "s2", Data: []byte("b")}},
		Configs:  []api.AssignedData{{ID: "c1", Data: []byte("c")}},
	}
	d := indexData(asg)
	tk := swarm.Task{ID: "t1", ServiceID: "svc1", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
		Secrets: []*swarm.SecretReference{{SecretID: "s2", SecretName: "two"}},
		Configs: []*swarm.ConfigReference{{ConfigID: "c1", ConfigName: "one"}},
	}}}
	s, err := taskSpec(tk, d)
	if err != nil {
		t.Fatal(err)
	}
	if s.Service != "web" || len(s.Secrets) != 1 || string(s.Secrets["s2"]) != "b" || len(s.Configs) != 1 || string(s.Configs["c1"]) != "c" {
		t.Errorf("spec service %q secrets %q configs %q", s.Service, s.Secrets, s.Configs)
	}

	tk.ServiceID = "svc9" // not in the set: the ID stands in for the name
	tk.Spec.ContainerSpec.Secrets = append(tk.Spec.ContainerSpec.Secrets, &swarm.SecretReference{SecretID: "s9", SecretName: "gone"})
	tk.Spec.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "c9", ConfigName: "lost"}}
	s, err = taskSpec(tk, d)
	if err == nil || !strings.Contains(err.Error(), "secret gone (s9)") || !strings.Contains(err.Error(), "config lost (c9)") {
		t.Errorf("error %v, want one naming secret gone (s9) and config lost (c9)", err)
	}
	if s.Service != "svc9" {
		t.Errorf("service %q, want the service ID", s.Service)
	}

	tk.Spec.ContainerSpec = &swarm.ContainerSpec{}
	if s, err := taskSpec(tk, d); err != nil || s.Secrets != nil || s.Configs != nil {
		t.Errorf("no references: spec %+v err %v, want no data", s, err)
	}
}

func TestBackoff(t *testing.T) {
	c := (&Config{RetryMin: 100 * time.Millisecond, RetryMax: time.Second}).withDefaults()
	var got []time.Duration
	for f := 0; f <= 7; f++ {
		got = append(got, c.backoff(f))
	}
	ms := time.Millisecond
	want := []time.Duration{0, 0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
}

func TestConfigCheck(t *testing.T) {
	ok := Config{Managers: []string{"m:4243"}, TLS: newTLS(t).client, Runtimes: map[string]Runtime{"exec": record(nil)}}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(%+v) = %v", ok, err)
	}
	for field, mutate := range map[string]func(*Config){
		"Managers": func(c *Config) { c.Managers = nil },
		"TLS":      func(c *Config) { c.TLS = nil },
		"Runtimes": func(c *Config) { c.Runtimes = nil },
	} {
		c := ok
		mutate(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("without %s: New = %v, want an error naming it", field, err)
		}
	}
}
