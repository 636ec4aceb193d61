package stackspec

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// minimalSpec is a service as short as a stack file can make it.
func minimalSpec() swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "shop_web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "nginx:1.25"}},
	}
}

func withSpec(edit func(*swarm.ServiceSpec)) swarm.ServiceSpec {
	s := minimalSpec()
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestNormalizeWritesOutSwarmDefaults(t *testing.T) {
	want := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "shop_web"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           "nginx:1.25",
				Privileges:      &swarm.Privileges{},
				StopGracePeriod: ptr(10 * time.Second),
				DNSConfig:       &swarm.DNSConfig{},
				Isolation:       "default",
			},
			Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}},
			RestartPolicy: &swarm.RestartPolicy{
				Condition:   swarm.RestartPolicyConditionAny,
				Delay:       ptr(5 * time.Second),
				MaxAttempts: ptr(uint64(0)),
				Window:      ptr(time.Duration(0)),
			},
			Placement: &swarm.Placement{},
			Runtime:   swarm.RuntimeContainer,
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(1))}},
		UpdateConfig: &swarm.UpdateConfig{
			Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first",
		},
		RollbackConfig: &swarm.UpdateConfig{
			Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first",
		},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
	got := Normalize(minimalSpec())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Normalize(minimal) =\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
}

// Each case writes one default (or one order) two ways that mean the same to
// Swarm; Normalize must make them equal, and the case must really differ
// before normalising, or it tests nothing.
func TestNormalizeEquivalentForms(t *testing.T) {
	cases := []struct {
		name            string
		implicit, spelt func(*swarm.ServiceSpec)
	}{
		{"mode nil is one replica", nil, func(s *swarm.ServiceSpec) {
			s.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(1))}
		}},
		{"replicated without count is one replica", func(s *swarm.ServiceSpec) {
			s.Mode.Replicated = &swarm.ReplicatedService{}
		}, func(s *swarm.ServiceSpec) {
			s.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(1))}
		}},
		{"replicated job defaults", func(s *swarm.ServiceSpec) {
			s.Mode.ReplicatedJob = &swarm.ReplicatedJob{}
		}, func(s *swarm.ServiceSpec) {
			s.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: ptr(uint64(1)), TotalCompletions: ptr(uint64(1))}
		}},
		{"job completions default to max concurrent", func(s *swarm.ServiceSpec) {
			s.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: ptr(uint64(3))}
		}, func(s *swarm.ServiceSpec) {
			s.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: ptr(uint64(3)), TotalCompletions: ptr(uint64(3))}
		}},
		{"update config nil", nil, func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
		}},
		{"update config partial", func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2}
		}, func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
		}},
		{"rollback config nil", nil, func(s *swarm.ServiceSpec) {
			s.RollbackConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
		}},
		{"restart policy nil", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{
				Condition: "any", Delay: ptr(5 * time.Second), MaxAttempts: ptr(uint64(0)), Window: ptr(time.Duration(0)),
			}
		}},
		{"restart policy condition only", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: "on-failure"}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{
				Condition: "on-failure", Delay: ptr(5 * time.Second), MaxAttempts: ptr(uint64(0)), Window: ptr(time.Duration(0)),
			}
		}},
		{"endpoint nil is vip", nil, func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: "vip"}
		}},
		{"port protocol and publish mode", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
		}, func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Mode: "vip", Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}
		}},
		{"port order", func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 443, PublishedPort: 8443}, {TargetPort: 80, PublishedPort: 8080}}}
		}, func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}, {TargetPort: 443, PublishedPort: 8443}}}
		}},
		{"runtime empty is container", nil, func(s *swarm.ServiceSpec) { s.TaskTemplate.Runtime = swarm.RuntimeContainer }},
		{"resources nil", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{}}
		}},
		{"placement nil", nil, func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement = &swarm.Placement{} }},
		{"constraint order, spacing and repeats", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.role == manager", "node.labels.zone!=b", "node.role==manager"}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone != b", "node.role==manager"}}
		}},
		{"empty log driver", func(s *swarm.ServiceSpec) { s.TaskTemplate.LogDriver = &swarm.Driver{} }, nil},
		{"service-level networks move to the task", func(s *swarm.ServiceSpec) {
			//lint:ignore SA1019 the deprecated form is what this case feeds in.
			s.Networks = []swarm.NetworkAttachmentConfig{{Target: "shop_default"}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "shop_default"}}
		}},
		{"network and alias order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "b"}, {Target: "a", Aliases: []string{"y", "x"}}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "a", Aliases: []string{"x", "y"}}, {Target: "b"}}
		}},
		{"env order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"B=2", "A=1"}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"A=1", "B=2"}
		}},
		{"image without tag is latest", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Image = "busybox"
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Image = "docker.io/library/busybox:latest"
		}},
		{"mount order and bind propagation", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{{Type: "volume", Source: "v", Target: "/v"}, {Source: "/srv", Target: "/a"}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = []mount.Mount{
				{Type: "bind", Source: "/srv", Target: "/a", BindOptions: &mount.BindOptions{Propagation: "rprivate"}},
				{Type: "volume", Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{}},
			}
		}},
		{"secret order and resolved IDs", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{
				{SecretName: "shop_b", SecretID: "id-b", File: &swarm.SecretReferenceFileTarget{Name: "b", UID: "0", GID: "0", Mode: 0o444}},
				{SecretName: "shop_a", File: &swarm.SecretReferenceFileTarget{Name: "a", UID: "0", GID: "0", Mode: 0o444}},
			}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{
				{SecretName: "shop_a", SecretID: "id-a", File: &swarm.SecretReferenceFileTarget{Name: "a", UID: "0", GID: "0", Mode: 0o444}},
				{SecretName: "shop_b", File: &swarm.SecretReferenceFileTarget{Name: "b", UID: "0", GID: "0", Mode: 0o444}},
			}
		}},
		{"config order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigName: "c2", File: &swarm.ConfigReferenceFileTarget{Name: "/z"}}, {ConfigName: "c1", File: &swarm.ConfigReferenceFileTarget{Name: "/a"}}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigName: "c1", File: &swarm.ConfigReferenceFileTarget{Name: "/a"}}, {ConfigName: "c2", File: &swarm.ConfigReferenceFileTarget{Name: "/z"}}}
		}},
		{"stop grace period", nil, func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = ptr(10 * time.Second) }},
		{"isolation", nil, func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Isolation = "default" }},
		{"privileges and dns", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Privileges = &swarm.Privileges{}
			s.TaskTemplate.ContainerSpec.DNSConfig = &swarm.DNSConfig{Nameservers: []string{}}
		}},
		{"empty healthcheck", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{} }, nil},
		{"capability, group and ulimit order", func(s *swarm.ServiceSpec) {
			c := s.TaskTemplate.ContainerSpec
			c.CapabilityAdd, c.Groups = []string{"NET_ADMIN", "CHOWN"}, []string{"b", "a"}
			c.Ulimits = []*container.Ulimit{{Name: "nproc", Soft: 1, Hard: 2}, {Name: "nofile", Soft: 3, Hard: 4}}
		}, func(s *swarm.ServiceSpec) {
			c := s.TaskTemplate.ContainerSpec
			c.CapabilityAdd, c.Groups = []string{"CHOWN", "NET_ADMIN"}, []string{"a", "b"}
			c.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 3, Hard: 4}, {Name: "nproc", Soft: 1, Hard: 2}}
		}},
		{"empty maps and lists", func(s *swarm.ServiceSpec) {
			s.Labels = map[string]string{}
			s.TaskTemplate.ContainerSpec.Env = []string{}
			s.TaskTemplate.ContainerSpec.Labels = map[string]string{}
			s.TaskTemplate.ContainerSpec.Command = []string{}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := withSpec(tc.implicit), withSpec(tc.spelt)
			if reflect.DeepEqual(a, b) {
				t.Fatal("the two forms are identical before normalising: the case tests nothing")
			}
			na, nb := Normalize(a), Normalize(b)
			if !reflect.DeepEqual(na, nb) {
				t.Errorf("Normalize differs:\n%s\n%s", mustJSON(t, na), mustJSON(t, nb))
			}
			if Digest(a) != Digest(b) {
				t.Errorf("Digest differs: %s vs %s", Digest(a), Digest(b))
			}
		})
	}
}

// What Swarm treats as different must stay different after normalising.
func TestNormalizeKeepsMeaningfulDifferences(t *testing.T) {
	cases := []struct {
		name string
		a, b func(*swarm.ServiceSpec)
	}{
		{"parallelism 0 is all at once, not the default 1", nil, func(s *swarm.ServiceSpec) {
			s.UpdateConfig = &swarm.UpdateConfig{}
		}},
		{"init unset is the engine's choice, not false", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Init = ptr(false)
		}},
		{"placement preferences nest in order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{
				{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.dc"}}, {Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.rack"}},
			}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Preferences: []swarm.PlacementPreference{
				{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.rack"}}, {Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.dc"}},
			}}
		}},
		{"command order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Command = []string{"a", "b"}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Command = []string{"b", "a"}
		}},
		{"dns servers are tried in order", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.DNSConfig = &swarm.DNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8"}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.DNSConfig = &swarm.DNSConfig{Nameservers: []string{"8.8.8.8", "1.1.1.1"}}
		}},
		{"a repeated env key keeps its last value", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"A=1", "A=2"}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"A=2", "A=1"}
		}},
		{"secret file mode 0 is 0000, not the CLI's 0444", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "x", File: &swarm.SecretReferenceFileTarget{Name: "x"}}}
		}, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "x", File: &swarm.SecretReferenceFileTarget{Name: "x", UID: "0", GID: "0", Mode: 0o444}}}
		}},
		{"a pinned image is not its tag", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Image = "nginx:1.25@sha256:0123"
		}},
		{"restart window", nil, func(s *swarm.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Window: ptr(time.Minute)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := withSpec(tc.a), withSpec(tc.b)
			if reflect.DeepEqual(Normalize(a), Normalize(b)) {
				t.Errorf("Normalize made them equal:\n%s", mustJSON(t, Normalize(a)))
			}
			if Digest(a) == Digest(b) {
				t.Error("Digest is equal")
			}
		})
	}
}

func TestNormalizeDoesNotModifyItsArgument(t *testing.T) {
	s := richSpec()
	before := mustJSON(t, s)
	n := Normalize(s)
	if after := mustJSON(t, s); after != before {
		t.Fatalf("argument changed:\n%s\n%s", before, after)
	}
	// The result shares nothing writable with the argument.
	n.TaskTemplate.ContainerSpec.Env[0] = "CHANGED=1"
	n.Labels["changed"] = "yes"
	if after := mustJSON(t, s); after != before {
		t.Fatalf("result aliases the argument:\n%s\n%s", before, after)
	}
}

func TestNormalizeIsIdempotent(t *testing.T) {
	once := Normalize(richSpec())
	if twice := Normalize(once); !reflect.DeepEqual(once, twice) {
		t.Errorf("Normalize(Normalize(x)) != Normalize(x):\n%s\n%s", mustJSON(t, once), mustJSON(t, twice))
	}
}

func TestNormalizeNetworkDefaults(t *testing.T) {
	got := normalizeNetwork(network.CreateRequest{
		Name: "shop_default",
		//lint:ignore SA1019 older clients still send it; Normalize must drop it.
		CheckDuplicate: ptr(true),
		CreateOptions:  network.CreateOptions{Labels: map[string]string{"com.docker.stack.namespace": "shop"}, Options: map[string]string{}},
	})
	want := network.CreateRequest{
		Name: "shop_default",
		CreateOptions: network.CreateOptions{
			Driver: "overlay", Scope: "swarm", EnableIPv4: ptr(true), EnableIPv6: ptr(false),
			IPAM:   &network.IPAM{Driver: "default"},
			Labels: map[string]string{"com.docker.stack.namespace": "shop"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalizeNetwork =\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
	// A bridge network is not given swarm scope.
	if n := normalizeNetwork(network.CreateRequest{CreateOptions: network.CreateOptions{Driver: "bridge"}}); n.Scope != "" {
		t.Errorf("bridge scope = %q, want empty", n.Scope)
	}
}

func TestCanonicalImage(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                              "nginx:latest",
		"nginx:1.25":                         "nginx:1.25",
		"docker.io/library/nginx":            "nginx:latest",
		"docker.io/grafana/grafana":          "grafana/grafana:latest",
		"registry:5000/app":                  "registry:5000/app:latest",
		"registry:5000/app:2":                "registry:5000/app:2",
		"nginx@sha256:abc":                   "nginx@sha256:abc",
		"docker.io/library/nginx:1@sha256:a": "nginx:1@sha256:a",
		"":                                   "",
	} {
		if got := canonicalImage(in); got != want {
			t.Errorf("canonicalImage(%q) = %q, want %q", in, got, want)
		}
	}
}

// richSpec sets a little of everything, as a converted stack file would.
func richSpec() swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "shop_web", Labels: map[string]string{
			"com.docker.stack.namespace": "shop", "com.docker.stack.image": "nginx:1.25", "tier": "front",
		}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:   "nginx:1.25",
				Labels:  map[string]string{"com.docker.stack.namespace": "shop"},
				Command: []string{"nginx", "-g", "daemon off;"},
				Env:     []string{"TZ=UTC", "A=1", "EMPTY=", "UNSET"},
				Mounts: []mount.Mount{
					{Type: mount.TypeVolume, Source: "shop_data", Target: "/data"},
					{Type: mount.TypeBind, Source: "/etc/localtime", Target: "/etc/localtime", ReadOnly: true},
					{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
				},
				Secrets: []*swarm.SecretReference{
					{SecretName: "shop_db_password", File: &swarm.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o400}},
				},
				Configs: []*swarm.ConfigReference{
					{ConfigName: "shop_nginx_conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx/nginx.conf", UID: "0", GID: "0", Mode: 0o444}},
				},
				Healthcheck:     &container.HealthConfig{Test: []string{"CMD", "curl", "-f", "http://localhost"}, Interval: 30 * time.Second, Retries: 3},
				StopGracePeriod: ptr(20 * time.Second),
				Hosts:           []string{"10.0.0.1 db"},
				Sysctls:         map[string]string{"net.core.somaxconn": "1024"},
				Ulimits:         []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
			},
			Resources: &swarm.ResourceRequirements{
				Limits:       &swarm.Limit{NanoCPUs: 500_000_000, MemoryBytes: 256 << 20},
				Reservations: &swarm.Resources{MemoryBytes: 64 << 20},
			},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: ptr(uint64(3))},
			Placement:     &swarm.Placement{Constraints: []string{"node.role == worker"}, MaxReplicas: 2},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "shop_default", Aliases: []string{"web"}}},
			LogDriver:     &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(3))}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, Order: swarm.UpdateOrderStartFirst},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{
			{TargetPort: 443, PublishedPort: 443},
			{Protocol: swarm.PortConfigProtocolUDP, TargetPort: 53, PublishedPort: 53, PublishMode: swarm.PortConfigPublishModeHost},
		}},
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}
