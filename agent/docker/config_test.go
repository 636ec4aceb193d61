package docker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-connections/nat"
	"github.com/swarmops/swarmops/agent/runtime"
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
			TTY:             true,
			OpenStdin:       true,
		}},
	}
	cfg, hc, err := containerConfig(runtime.Spec{Task: task, Service: "web"}, runtime.Node{ID: "n1"})
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
	if !cfg.Tty || !cfg.OpenStdin {
		t.Errorf("tty %v open stdin %v, want both", cfg.Tty, cfg.OpenStdin)
	}
	if _, _, err := containerConfig(runtime.Spec{Task: swarm.Task{ID: "t2"}, Service: "web"}, runtime.Node{ID: "n1"}); err == nil {
		t.Error("a task without a container spec was accepted")
	}
}

func TestHostPorts(t *testing.T) {
	exposed, bindings, err := hostPorts(&swarm.EndpointSpec{Ports: []swarm.PortConfig{
		{TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost},
		{Protocol: swarm.PortConfigProtocolUDP, TargetPort: 53, PublishMode: swarm.PortConfigPublishModeHost},
		{TargetPort: 443, PublishedPort: 443, PublishMode: swarm.PortConfigPublishModeIngress},
		{TargetPort: 9000, PublishedPort: 9000}, // no mode: ingress, Swarm's default
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (nat.PortSet{"80/tcp": {}, "53/udp": {}}); !reflect.DeepEqual(exposed, want) {
		t.Errorf("exposed = %v, want %v", exposed, want)
	}
	want := nat.PortMap{"80/tcp": {{HostPort: "8080"}}, "53/udp": {{}}}
	if !reflect.DeepEqual(bindings, want) {
		t.Errorf("bindings = %v, want %v (ingress ports are the mesh's)", bindings, want)
	}
	for _, bad := range []swarm.PortConfig{
		{TargetPort: 0, PublishMode: swarm.PortConfigPublishModeHost},
		{TargetPort: 80, Protocol: "icmp", PublishMode: swarm.PortConfigPublishModeHost},
		{TargetPort: 70000, PublishMode: swarm.PortConfigPublishModeHost},
	} {
		if _, _, err := hostPorts(&swarm.EndpointSpec{Ports: []swarm.PortConfig{bad}}); err == nil {
			t.Errorf("port %+v accepted", bad)
		}
	}
	if e, b, err := hostPorts(nil); e != nil || b != nil || err != nil {
		t.Errorf("no endpoint: %v %v %v", e, b, err)
	}
}

func TestSecurityOpts(t *testing.T) {
	got := securityOpts(&swarm.Privileges{
		SELinuxContext:  &swarm.SELinuxContext{User: "u", Level: "s0"},
		Seccomp:         &swarm.SeccompOpts{Mode: swarm.SeccompModeCustom, Profile: []byte(`{"x":1}`)},
		AppArmor:        &swarm.AppArmorOpts{Mode: swarm.AppArmorModeDisabled},
		NoNewPrivileges: true,
	})
	want := []string{"label=user:u", "label=level:s0", `seccomp={"x":1}`, "apparmor=unconfined", "no-new-privileges=true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("securityOpts = %q, want %q", got, want)
	}
	if got := securityOpts(&swarm.Privileges{Seccomp: &swarm.SeccompOpts{Mode: swarm.SeccompModeUnconfined},
		SELinuxContext: &swarm.SELinuxContext{Disable: true}}); !reflect.DeepEqual(got, []string{"label=disable", "seccomp=unconfined"}) {
		t.Errorf("securityOpts = %q", got)
	}
	if got := securityOpts(&swarm.Privileges{Seccomp: &swarm.SeccompOpts{Mode: swarm.SeccompModeDefault}}); got != nil {
		t.Errorf("default seccomp: %q, want nothing", got)
	}
}

func TestGenericResourceEnv(t *testing.T) {
	got := genericResourceEnv([]swarm.GenericResource{
		{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "uuid1"}},
		{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: "ssd", Value: 2}},
		{NamedResourceSpec: &swarm.NamedGenericResource{Kind: "gpu", Value: "uuid2"}},
	})
	if want := []string{"DOCKER_RESOURCE_GPU=uuid1,uuid2", "DOCKER_RESOURCE_SSD=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("env = %q, want %q", got, want)
	}
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct{ name, secret, config string }{
		{"db_pass", "/run/secrets/db_pass", "/db_pass"},
		{"app/key", "/run/secrets/app/key", "/app/key"},
		{"/etc/app.conf", "/etc/app.conf", "/etc/app.conf"},
	} {
		if got := secretTarget(tc.name); got != tc.secret {
			t.Errorf("secretTarget(%q) = %q, want %q", tc.name, got, tc.secret)
		}
		if got := configTarget(tc.name); got != tc.config {
			t.Errorf("configTarget(%q) = %q, want %q", tc.name, got, tc.config)
		}
	}
}

func TestSecretsNeedADir(t *testing.T) {
	rt := New(nil, "n1") // no engine is asked: the files come first
	tk := swarm.Task{ID: "t1", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
		Image:   "img",
		Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "db", File: &swarm.SecretReferenceFileTarget{Name: "db", Mode: 0o444}}},
	}}}
	err := rt.Prepare(t.Context(), runtime.Spec{Task: tk, Service: "web", Secrets: map[string][]byte{"s1": []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "no directory for secrets and configs") {
		t.Errorf("Prepare = %v, want a refusal naming the missing secrets directory", err)
	}
}
