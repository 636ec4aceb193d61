package stackspec

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

func TestDiffEmptyStacks(t *testing.T) {
	cs := Diff(nil, nil)
	if !cs.Empty() || cs.Changes == nil {
		t.Errorf("Diff(nil, nil) = %+v, want no changes as an empty (not null) list", cs)
	}
	stack := &api.StackSpec{Namespace: "shop", Services: map[string]swarm.ServiceSpec{"shop_web": richSpec()}}
	if cs := Diff(stack, nil); cs.Stack != "shop" || len(cs.Changes) != 1 || cs.Changes[0].Action != api.ActionCreate {
		t.Errorf("Diff(stack, nil) = %+v, want one create in stack shop", cs)
	}
	if cs := Diff(nil, stack); cs.Stack != "shop" || len(cs.Changes) != 1 || cs.Changes[0].Action != api.ActionRemove {
		t.Errorf("Diff(nil, stack) = %+v, want one remove in stack shop", cs)
	}
}

func TestDiffOrdersChangesByPhase(t *testing.T) {
	secret := func(data string) swarm.SecretSpec { return swarm.SecretSpec{Data: []byte(data)} }
	config := func(data string) swarm.ConfigSpec { return swarm.ConfigSpec{Data: []byte(data)} }
	overlay := network.CreateRequest{CreateOptions: network.CreateOptions{Driver: "overlay"}}
	internal := network.CreateRequest{CreateOptions: network.CreateOptions{Internal: true}}
	relabel := withSpec(func(s *swarm.ServiceSpec) { s.Labels = map[string]string{"v": "2"} })
	desired := &api.StackSpec{
		Namespace: "shop",
		Services:  map[string]swarm.ServiceSpec{"shop_b_new": minimalSpec(), "shop_a_changed": relabel, "shop_same": minimalSpec()},
		Networks:  map[string]network.CreateRequest{"shop_new": overlay, "shop_changed": internal, "shop_same": overlay},
		Secrets:   map[string]swarm.SecretSpec{"shop_new": secret("x"), "shop_same": secret("x")},
		Configs:   map[string]swarm.ConfigSpec{"shop_new": config("x"), "shop_changed": {Annotations: swarm.Annotations{Labels: map[string]string{"v": "2"}}}},
	}
	actual := &api.StackSpec{
		Namespace: "shop",
		Services:  map[string]swarm.ServiceSpec{"shop_a_changed": minimalSpec(), "shop_same": minimalSpec(), "shop_z_old": minimalSpec(), "shop_c_old": minimalSpec()},
		Networks:  map[string]network.CreateRequest{"shop_changed": overlay, "shop_same": {}, "shop_old": overlay},
		Secrets:   map[string]swarm.SecretSpec{"shop_same": secret("x"), "shop_old": secret("y")},
		Configs:   map[string]swarm.ConfigSpec{"shop_changed": {}, "shop_old": config("y")},
	}
	want := []string{
		"network shop_changed update", "network shop_new create",
		"secret shop_new create",
		"config shop_changed update", "config shop_new create",
		"service shop_a_changed update", "service shop_b_new create",
		"service shop_c_old remove", "service shop_z_old remove",
		"network shop_old remove", "secret shop_old remove", "config shop_old remove",
	}
	for range 5 { // map order varies between runs; the plan must not
		cs := Diff(desired, actual)
		var got []string
		for _, c := range cs.Changes {
			got = append(got, string(c.Kind)+" "+c.Name+" "+string(c.Action))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestDiffServiceUpdates(t *testing.T) {
	type result struct {
		fields   []api.FieldChange
		restarts bool
		recreate bool
		note     string
	}
	fc := func(path, old, new string) api.FieldChange { return api.FieldChange{Path: path, Old: old, New: new} }
	cases := []struct {
		name string
		// edit turns the actual spec (richSpec) into the desired one.
		edit       func(*swarm.ServiceSpec)
		editActual func(*swarm.ServiceSpec)
		want       *result // nil: no change
	}{
		{name: "nothing", edit: func(*swarm.ServiceSpec) {}},
		{name: "replicas only scale", edit: func(s *swarm.ServiceSpec) { s.Mode.Replicated.Replicas = ptr(uint64(5)) },
			want: &result{fields: []api.FieldChange{fc("Mode.Replicated.Replicas", "3", "5")}}},
		{name: "service labels touch the record", edit: func(s *swarm.ServiceSpec) { s.Labels["tier"] = "back"; s.Labels["new"] = "x" },
			want: &result{fields: []api.FieldChange{fc("Labels[new]", "", `"x"`), fc("Labels[tier]", `"front"`, `"back"`)}}},
		{name: "update config", edit: func(s *swarm.ServiceSpec) { s.UpdateConfig.Parallelism = 1; s.UpdateConfig.Monitor = time.Minute },
			want: &result{fields: []api.FieldChange{fc("UpdateConfig.Parallelism", "2", "1"), fc("UpdateConfig.Monitor", `"5s"`, `"1m0s"`)}}},
		{name: "rollback config", edit: func(s *swarm.ServiceSpec) { s.RollbackConfig = &swarm.UpdateConfig{FailureAction: "continue"} },
			want: &result{fields: []api.FieldChange{fc("RollbackConfig.Parallelism", "1", "0"), fc("RollbackConfig.FailureAction", `"pause"`, `"continue"`)}}},
		{name: "image", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx:1.26" },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Image", `"nginx:1.25"`, `"nginx:1.26"`)}, restarts: true}},
		{name: "env keyed by variable", edit: func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"A=1", "EMPTY=", "TZ=CET", "NEW=x", "UNSET=now"}
		}, want: &result{fields: []api.FieldChange{
			fc("TaskTemplate.ContainerSpec.Env[NEW]", "", `"x"`),
			fc("TaskTemplate.ContainerSpec.Env[TZ]", `"UTC"`, `"CET"`),
			fc("TaskTemplate.ContainerSpec.Env[UNSET]", "null", `"now"`),
		}, restarts: true}},
		{name: "container labels restart", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Labels["x"] = "y" },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Labels[x]", "", `"y"`)}, restarts: true}},
		{name: "force update bump", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate = 2 },
			editActual: func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate = 1 },
			want:       &result{fields: []api.FieldChange{fc("TaskTemplate.ForceUpdate", "1", "2")}, restarts: true}},
		{name: "force update kept from the cluster", editActual: func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate = 4 },
			edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ForceUpdate = 0 }},
		{name: "stop grace period renders as a duration", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopGracePeriod = nil },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.StopGracePeriod", `"20s"`, `"10s"`)}, restarts: true}},
		{name: "secret reference keyed by target, mode in octal", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Secrets[0].File.Mode = 0o440 },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Secrets[db_password].File.Mode", `"0400"`, `"0440"`)}, restarts: true}},
		{name: "mount added and changed", edit: func(s *swarm.ServiceSpec) {
			c := s.TaskTemplate.ContainerSpec
			c.Mounts[0].Source = "shop_data2"
			c.Mounts = append(c.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/srv", Target: "/srv"})
		}, want: &result{fields: []api.FieldChange{
			fc("TaskTemplate.ContainerSpec.Mounts[/data].Source", `"shop_data"`, `"shop_data2"`),
			fc("TaskTemplate.ContainerSpec.Mounts[/srv]", "", `{"Type":"bind","Source":"/srv","Target":"/srv","BindOptions":{"Propagation":"rprivate"}}`),
		}, restarts: true}},
		{name: "healthcheck removed", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Healthcheck = nil },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Healthcheck", `{"Test":["CMD","curl","-f","http://localhost"],"Interval":"30s","Retries":3}`, "")}, restarts: true}},
		{name: "network alias", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.Networks[0].Aliases = []string{"www", "web"} },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.Networks[shop_default].Aliases", `["web"]`, `["web","www"]`)}, restarts: true}},
		{name: "memory limit", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.Resources.Limits.MemoryBytes = 512 << 20 },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.Resources.Limits.MemoryBytes", "268435456", "536870912")}, restarts: true}},
		{name: "published port target", edit: func(s *swarm.ServiceSpec) { s.EndpointSpec.Ports[0].TargetPort = 8443 },
			want: &result{fields: []api.FieldChange{fc("EndpointSpec.Ports[443/tcp].TargetPort", "443", "8443")}, restarts: true}},
		{name: "port moved", edit: func(s *swarm.ServiceSpec) { s.EndpointSpec.Ports[0].PublishedPort = 8443 },
			want: &result{fields: []api.FieldChange{
				fc("EndpointSpec.Ports[443/tcp]", `{"Protocol":"tcp","TargetPort":443,"PublishedPort":443,"PublishMode":"ingress"}`, ""),
				fc("EndpointSpec.Ports[8443/tcp]", "", `{"Protocol":"tcp","TargetPort":443,"PublishedPort":8443,"PublishMode":"ingress"}`),
			}, restarts: true}},
		{name: "endpoint mode", edit: func(s *swarm.ServiceSpec) {
			s.EndpointSpec.Mode = swarm.ResolutionModeDNSRR
			s.EndpointSpec.Ports = nil
		},
			want: &result{fields: []api.FieldChange{
				fc("EndpointSpec.Mode", `"vip"`, `"dnsrr"`),
				fc("EndpointSpec.Ports[53/udp]", `{"Protocol":"udp","TargetPort":53,"PublishedPort":53,"PublishMode":"host"}`, ""),
				fc("EndpointSpec.Ports[443/tcp]", `{"Protocol":"tcp","TargetPort":443,"PublishedPort":443,"PublishMode":"ingress"}`, ""),
			}, restarts: true}},
		{name: "constraints move some tasks", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.Placement.Constraints = []string{"node.role==manager"} },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.Placement.Constraints", `["node.role==worker"]`, `["node.role==manager"]`)}, restarts: true, note: noteConstraintsOnly}},
		{name: "preferences leave tasks", edit: func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.Preferences = []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.dc"}}}
			s.TaskTemplate.Placement.MaxReplicas = 1
		}, want: &result{fields: []api.FieldChange{
			fc("TaskTemplate.Placement.Preferences", "", `[{"Spread":{"SpreadDescriptor":"node.labels.dc"}}]`),
			fc("TaskTemplate.Placement.MaxReplicas", "2", "1"),
		}, note: notePlacementOnly}},
		{name: "placement with an image change restarts", edit: func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement.MaxReplicas = 1
			s.TaskTemplate.ContainerSpec.Image = "nginx:1.26"
		}, want: &result{fields: []api.FieldChange{
			fc("TaskTemplate.ContainerSpec.Image", `"nginx:1.25"`, `"nginx:1.26"`),
			fc("TaskTemplate.Placement.MaxReplicas", "2", "1"),
		}, restarts: true}},
		{name: "mode change recreates", edit: func(s *swarm.ServiceSpec) { s.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}} },
			want: &result{fields: []api.FieldChange{fc("Mode.Replicated", `{"Replicas":3}`, ""), fc("Mode.Global", "", "{}")}, restarts: true, recreate: true, note: noteModeChange}},
		{name: "a job reruns on any update", edit: func(s *swarm.ServiceSpec) {
			s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
			s.Labels["tier"] = "batch"
		}, editActual: func(s *swarm.ServiceSpec) { s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}} },
			want: &result{fields: []api.FieldChange{fc("Labels[tier]", `"front"`, `"batch"`)}, restarts: true, note: noteJobRerun}},
		{name: "pinned image, same tag", editActual: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx:1.25@sha256:0123abcd" }, edit: func(*swarm.ServiceSpec) {}},
		{name: "pinned image, implicit latest", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "busybox" },
			editActual: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "busybox:latest@sha256:0123abcd" }},
		{name: "pinned image, new tag", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx:1.26" },
			editActual: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx:1.25@sha256:0123abcd" },
			want:       &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Image", `"nginx:1.25@sha256:0123abcd"`, `"nginx:1.26"`)}, restarts: true}},
		{name: "init false is not unset", edit: func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Init = ptr(false) },
			want: &result{fields: []api.FieldChange{fc("TaskTemplate.ContainerSpec.Init", "", "false")}, restarts: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			actual, desired := richSpec(), richSpec()
			if tc.editActual != nil {
				tc.editActual(&actual)
				tc.editActual(&desired)
			}
			tc.edit(&desired)
			c, changed := diffOneService(t, desired, actual)
			if tc.want == nil {
				if changed {
					t.Fatalf("want no change, got %s", mustJSON(t, c))
				}
				return
			}
			if !changed {
				t.Fatal("want an update, got no change")
			}
			got := result{fields: c.Fields, restarts: c.Restarts, recreate: c.Recreate, note: c.Note}
			if !reflect.DeepEqual(got, *tc.want) {
				t.Errorf("got\n%s\nwant\n%s", mustJSON(t, changeOf(got.fields, got.restarts, got.recreate, got.note)),
					mustJSON(t, changeOf(tc.want.fields, tc.want.restarts, tc.want.recreate, tc.want.note)))
			}
		})
	}
}

func changeOf(fields []api.FieldChange, restarts, recreate bool, note string) api.Change {
	return api.Change{Fields: fields, Restarts: restarts, Recreate: recreate, Note: note}
}

// diffOneService runs Diff over one-service stacks, as a caller does.
func diffOneService(t *testing.T, desired, actual swarm.ServiceSpec) (api.Change, bool) {
	t.Helper()
	cs := Diff(
		&api.StackSpec{Namespace: "shop", Services: map[string]swarm.ServiceSpec{"shop_web": desired}},
		&api.StackSpec{Namespace: "shop", Services: map[string]swarm.ServiceSpec{"shop_web": actual}},
	)
	switch len(cs.Changes) {
	case 0:
		return api.Change{}, false
	case 1:
		c := cs.Changes[0]
		if c.Kind != api.KindService || c.Name != "shop_web" || c.Action != api.ActionUpdate {
			t.Fatalf("change %+v, want an update of service shop_web", c)
		}
		return c, true
	}
	t.Fatalf("want at most one change, got %+v", cs.Changes)
	return api.Change{}, false
}

func TestDiffDoesNotModifyItsArguments(t *testing.T) {
	desired := &api.StackSpec{Services: map[string]swarm.ServiceSpec{"s": richSpec()}}
	actual := &api.StackSpec{Services: map[string]swarm.ServiceSpec{"s": withSpec(func(s *swarm.ServiceSpec) {
		s.TaskTemplate.ContainerSpec.Image = "nginx:1.25@sha256:ab"
		s.TaskTemplate.ForceUpdate = 3
	})}}
	before := mustJSON(t, []any{desired, actual})
	Diff(desired, actual)
	if after := mustJSON(t, []any{desired, actual}); after != before {
		t.Errorf("Diff modified its arguments:\n%s\n%s", before, after)
	}
}

func TestDiffNetworks(t *testing.T) {
	desired := network.CreateRequest{CreateOptions: network.CreateOptions{
		Driver: "overlay", Labels: map[string]string{"com.docker.stack.namespace": "shop"},
	}}
	// As the cluster reports it: subnet and VXLAN ID allocated by Swarm.
	allocated := network.CreateRequest{Name: "shop_default", CreateOptions: network.CreateOptions{
		Driver: "overlay", Scope: "swarm",
		IPAM:    &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: "10.0.3.0/24", Gateway: "10.0.3.1"}}},
		Options: map[string]string{overlayVXLANOption: "4099"},
		Labels:  map[string]string{"com.docker.stack.namespace": "shop"},
	}}
	stack := func(n network.CreateRequest) *api.StackSpec {
		return &api.StackSpec{Networks: map[string]network.CreateRequest{"shop_default": n}}
	}
	if cs := Diff(stack(desired), stack(allocated)); !cs.Empty() {
		t.Errorf("allocated subnet and VXLAN ID reported as changes: %s", mustJSON(t, cs))
	}

	changed := desired
	changed.Attachable = true
	changed.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.9.0.0/24"}}}
	cs := Diff(stack(changed), stack(allocated))
	want := []api.Change{{
		Kind: api.KindNetwork, Name: "shop_default", Action: api.ActionUpdate,
		Fields: []api.FieldChange{
			{Path: "IPAM.Config", Old: `[{"Subnet":"10.0.3.0/24","Gateway":"10.0.3.1"}]`, New: `[{"Subnet":"10.9.0.0/24"}]`},
			{Path: "Attachable", Old: "false", New: "true"},
		},
		Recreate: true, Note: noteNetworkRecreate,
	}}
	if !reflect.DeepEqual(cs.Changes, want) {
		t.Errorf("got\n%s\nwant\n%s", mustJSON(t, cs.Changes), mustJSON(t, want))
	}
}

func TestDiffSecretsAndConfigs(t *testing.T) {
	labels := func(v string) swarm.Annotations {
		return swarm.Annotations{Name: "shop_pw", Labels: map[string]string{"com.docker.stack.namespace": "shop", "v": v}}
	}
	diffSecret := func(d, a swarm.SecretSpec) api.ChangeSet {
		return Diff(&api.StackSpec{Secrets: map[string]swarm.SecretSpec{"shop_pw": d}}, &api.StackSpec{Secrets: map[string]swarm.SecretSpec{"shop_pw": a}})
	}
	// Labels change in place.
	cs := diffSecret(swarm.SecretSpec{Annotations: labels("2"), Data: []byte("pw")}, swarm.SecretSpec{Annotations: labels("1"), Data: []byte("pw")})
	want := []api.Change{{Kind: api.KindSecret, Name: "shop_pw", Action: api.ActionUpdate,
		Fields: []api.FieldChange{{Path: "Labels[v]", Old: `"1"`, New: `"2"`}}}}
	if !reflect.DeepEqual(cs.Changes, want) {
		t.Errorf("labels: got\n%s\nwant\n%s", mustJSON(t, cs.Changes), mustJSON(t, want))
	}
	// New data needs a new secret, and the plan shows a digest, not the data.
	cs = diffSecret(swarm.SecretSpec{Annotations: labels("1"), Data: []byte("hunter2")}, swarm.SecretSpec{Annotations: labels("1"), Data: []byte("pw")})
	want = []api.Change{{Kind: api.KindSecret, Name: "shop_pw", Action: api.ActionUpdate,
		Fields: []api.FieldChange{{Path: "Data",
			Old: `"sha256:30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"`,
			New: `"sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"`}},
		Recreate: true, Note: noteSecretRecreate}}
	if !reflect.DeepEqual(cs.Changes, want) {
		t.Errorf("data: got\n%s\nwant\n%s", mustJSON(t, cs.Changes), mustJSON(t, want))
	}
	if strings.Contains(mustJSON(t, cs), "hunter2") || strings.Contains(mustJSON(t, cs), "aHVudGVyMg") {
		t.Error("the plan leaks the secret's data")
	}
	// The Engine API never returns data: withheld is not changed.
	if cs := diffSecret(swarm.SecretSpec{Annotations: labels("1"), Data: []byte("pw")}, swarm.SecretSpec{Annotations: labels("1")}); !cs.Empty() {
		t.Errorf("withheld data reported: %s", mustJSON(t, cs))
	}

	diffConfig := func(d, a swarm.ConfigSpec) api.ChangeSet {
		return Diff(&api.StackSpec{Configs: map[string]swarm.ConfigSpec{"shop_conf": d}}, &api.StackSpec{Configs: map[string]swarm.ConfigSpec{"shop_conf": a}})
	}
	cs = diffConfig(swarm.ConfigSpec{Data: []byte("b"), Templating: &swarm.Driver{Name: "golang"}}, swarm.ConfigSpec{Data: []byte("a")})
	if len(cs.Changes) != 1 || !cs.Changes[0].Recreate || cs.Changes[0].Note != noteConfigRecreate || len(cs.Changes[0].Fields) != 2 {
		t.Errorf("config data and templating: %s", mustJSON(t, cs))
	}
	if cs := diffConfig(swarm.ConfigSpec{Data: []byte("a"), Templating: &swarm.Driver{}}, swarm.ConfigSpec{Data: []byte("a")}); !cs.Empty() {
		t.Errorf("empty templating driver reported: %s", mustJSON(t, cs))
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"8080/tcp", "auto:80/tcp", "443/tcp", "53/udp", "A10", "A2", "a", "A02"}
	want := []string{"53/udp", "443/tcp", "8080/tcp", "A2", "A02", "A10", "a", "auto:80/tcp"}
	got := slices.Clone(in)
	slices.SortFunc(got, naturalCompare)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("natural order = %q, want %q", got, want)
	}
}

// Specs captured from Docker itself (CLI 28.2, engine 20.10): what `docker
// stack deploy --resolve-image never` sent to POST /services/create, and what
// `docker service inspect` returned for it. The cluster reports network
// attachments by ID; the reader of actual state maps them back to names,
// as done here by hand. Diff must see no change between them.
const (
	sentWeb      = `{"Name":"p_web","Labels":{"com.docker.stack.image":"nginx:1.25","com.docker.stack.namespace":"p"},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.25","Labels":{"com.docker.stack.namespace":"p"},"Env":["A=1","B=2"],"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},"Mounts":[{"Type":"bind","Source":"/srv/data","Target":"/data","ReadOnly":true},{"Type":"volume","Source":"p_cache","Target":"/cache","VolumeOptions":{"Labels":{"com.docker.stack.namespace":"p"}}},{"Type":"tmpfs","Target":"/tmp"}],"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},"Secrets":[{"File":{"Name":"pw","UID":"0","GID":"0","Mode":292},"SecretID":"xt3nv2tyhyp7dvo3uhobo6atd","SecretName":"p_pw"}]},"Resources":{"Limits":{"MemoryBytes":67108864}},"RestartPolicy":{"Condition":"on-failure"},"Placement":{"Constraints":["node.role == manager"]},"Networks":[{"Target":"p_default","Aliases":["web"]}],"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":2}},"UpdateConfig":{"Parallelism":2,"MaxFailureRatio":0,"Order":""},"EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},{"TargetPort":443,"PublishedPort":8443,"PublishMode":"host"}]}}`
	inspectedWeb = `{"Name":"p_web","Labels":{"com.docker.stack.image":"nginx:1.25","com.docker.stack.namespace":"p"},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:1.25","Labels":{"com.docker.stack.namespace":"p"},"Env":["A=1","B=2"],"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},"Mounts":[{"Type":"bind","Source":"/srv/data","Target":"/data","ReadOnly":true},{"Type":"volume","Source":"p_cache","Target":"/cache","VolumeOptions":{"Labels":{"com.docker.stack.namespace":"p"}}},{"Type":"tmpfs","Target":"/tmp"}],"StopGracePeriod":10000000000,"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},"DNSConfig":{},"Secrets":[{"File":{"Name":"pw","UID":"0","GID":"0","Mode":292},"SecretID":"j3o66qgxoosk0p22s3cnjck5v","SecretName":"p_pw"}],"Isolation":"default"},"Resources":{"Limits":{"MemoryBytes":67108864}},"RestartPolicy":{"Condition":"on-failure","Delay":5000000000,"MaxAttempts":0},"Placement":{"Constraints":["node.role == manager"]},"Networks":[{"Target":"p_default","Aliases":["web"]}],"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":2}},"UpdateConfig":{"Parallelism":2,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},{"Protocol":"tcp","TargetPort":443,"PublishedPort":8443,"PublishMode":"host"}]}}`
	sentJob      = `{"Name":"p_job","Labels":{"com.docker.stack.image":"busybox","com.docker.stack.namespace":"p"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Labels":{"com.docker.stack.namespace":"p"},"Args":["true"],"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false}},"Resources":{},"Placement":{},"Networks":[{"Target":"p_default","Aliases":["job"]}],"ForceUpdate":0},"Mode":{"ReplicatedJob":{}},"EndpointSpec":{}}`
	inspectedJob = `{"Name":"p_job","Labels":{"com.docker.stack.image":"busybox","com.docker.stack.namespace":"p"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Labels":{"com.docker.stack.namespace":"p"},"Args":["true"],"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},"StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"Networks":[{"Target":"p_default","Aliases":["job"]}],"ForceUpdate":0,"Runtime":"container"},"Mode":{"ReplicatedJob":{"MaxConcurrent":1,"TotalCompletions":1}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip"}}`
	sentNetwork  = `{"Driver":"overlay","Scope":"","IPAM":null,"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":null,"Labels":{"com.docker.stack.namespace":"p"},"Name":"p_default","CheckDuplicate":true}`
	// network inspect output, reduced to the fields a CreateRequest has.
	inspectedNetwork = `{"Name":"p_default","Scope":"swarm","Driver":"overlay","IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"10.0.3.0/24","Gateway":"10.0.3.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Options":{"com.docker.network.driver.overlay.vxlanid_list":"4099"},"Labels":{"com.docker.stack.namespace":"p"}}`
	sentSecret       = `{"Name":"p_pw","Labels":{"com.docker.stack.namespace":"p"},"Data":"czNjcmV0Cg=="}`
	inspectedSecret  = `{"Name":"p_pw","Labels":{"com.docker.stack.namespace":"p"}}`
)

func TestDiffAgainstWhatDockerStores(t *testing.T) {
	var sent, stored api.StackSpec
	for _, s := range []*api.StackSpec{&sent, &stored} {
		s.Namespace = "p"
		s.Services = map[string]swarm.ServiceSpec{}
		s.Networks = map[string]network.CreateRequest{}
		s.Secrets = map[string]swarm.SecretSpec{}
	}
	sent.Services["p_web"] = decode[swarm.ServiceSpec](t, sentWeb)
	sent.Services["p_job"] = decode[swarm.ServiceSpec](t, sentJob)
	sent.Networks["p_default"] = decode[network.CreateRequest](t, sentNetwork)
	sent.Secrets["p_pw"] = decode[swarm.SecretSpec](t, sentSecret)
	stored.Services["p_web"] = decode[swarm.ServiceSpec](t, inspectedWeb)
	stored.Services["p_job"] = decode[swarm.ServiceSpec](t, inspectedJob)
	stored.Networks["p_default"] = decode[network.CreateRequest](t, inspectedNetwork)
	stored.Secrets["p_pw"] = decode[swarm.SecretSpec](t, inspectedSecret)

	if cs := Diff(&sent, &stored); !cs.Empty() {
		t.Errorf("Diff(sent, stored) = %s", mustJSON(t, cs))
	}
	for name := range sent.Services {
		if Digest(sent.Services[name]) != Digest(stored.Services[name]) {
			t.Errorf("%s: digests differ", name)
		}
	}
	// And a real change against the stored form is seen.
	changed := decode[swarm.ServiceSpec](t, sentWeb)
	changed.TaskTemplate.ContainerSpec.Env = append(changed.TaskTemplate.ContainerSpec.Env, "C=3")
	c, ok := diffOneService(t, changed, stored.Services["p_web"])
	if !ok || !c.Restarts || len(c.Fields) != 1 || c.Fields[0].Path != "TaskTemplate.ContainerSpec.Env[C]" {
		t.Errorf("env change against the stored spec: %s", mustJSON(t, c))
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}
