package runtime

import (
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

func TestContainerSpecTemplates(t *testing.T) {
	node := Node{ID: "n1", Hostname: "host1", Platform: Platform{Architecture: "x86_64", OS: "linux"}}
	orig := &swarm.ContainerSpec{
		Env:      []string{"A={{.Service.Name}}-{{.Task.Slot}}", "B={{.Node.Hostname}}/{{.Node.Platform.OS}}", "PLAIN", "C={{join \"-\" .Task.ID .Node.ID}}"},
		Hostname: "{{.Task.Name}}",
		Mounts: []mount.Mount{{
			Type: mount.TypeVolume, Source: "data-{{.Task.Slot}}", Target: "/data/{{.Service.ID}}",
			VolumeOptions: &mount.VolumeOptions{
				Labels:       map[string]string{"slot": "{{.Task.Slot}}"},
				DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"o": "{{.Node.ID}}"}},
			},
		}},
	}
	s := Spec{Task: swarm.Task{ID: "t1", ServiceID: "s1", Slot: 3, Spec: swarm.TaskSpec{ContainerSpec: orig}}, Service: "web"}
	cs, err := s.ContainerSpec(node)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=web-3", "B=host1/linux", "PLAIN", "C=t1-n1"}; !reflect.DeepEqual(cs.Env, want) {
		t.Errorf("env = %q, want %q", cs.Env, want)
	}
	if cs.Hostname != "web.3.t1" {
		t.Errorf("hostname = %q", cs.Hostname)
	}
	m := cs.Mounts[0]
	if m.Source != "data-3" || m.Target != "/data/s1" || m.VolumeOptions.Labels["slot"] != "3" || m.VolumeOptions.DriverConfig.Options["o"] != "n1" {
		t.Errorf("mount = %+v %+v %+v", m, m.VolumeOptions, m.VolumeOptions.DriverConfig)
	}
	if orig.Env[0] != "A={{.Service.Name}}-{{.Task.Slot}}" || orig.Mounts[0].Source != "data-{{.Task.Slot}}" ||
		orig.Mounts[0].VolumeOptions.Labels["slot"] != "{{.Task.Slot}}" || orig.Mounts[0].VolumeOptions.DriverConfig.Options["o"] != "{{.Node.ID}}" {
		t.Errorf("the task's own spec was changed: %+v", orig)
	}

	// A global service's task has no slot: Swarm uses the node's ID.
	s.Task.Slot = 0
	if cs, _ := s.ContainerSpec(node); cs.Env[0] != "A=web-n1" {
		t.Errorf("global env = %q", cs.Env[0])
	}
	for _, bad := range []string{"{{.Nope}}", "{{.Task.Slot", "{{.Service.Labels.missing}}"} {
		s.Task.Spec.ContainerSpec = &swarm.ContainerSpec{Hostname: bad}
		if _, err := s.ContainerSpec(node); err == nil || !strings.Contains(err.Error(), "template in hostname") {
			t.Errorf("hostname %q: %v, want a template error naming the hostname", bad, err)
		}
	}
}
