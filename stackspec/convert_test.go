package stackspec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"go.yaml.in/yaml/v4"

	"github.com/swarmops/swarmops/api"
)

func (s inlineStack) convert(t *testing.T) *api.StackSpec {
	t.Helper()
	spec, err := Convert(s.load(t))
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return spec
}

func (s inlineStack) convertErr(t *testing.T) ErrorList {
	t.Helper()
	spec, err := Convert(s.load(t))
	if err == nil {
		t.Fatalf("Convert succeeded (%d services), want an error", len(spec.Services))
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Convert error is %T, want ErrorList: %v", err, err)
	}
	return list
}

// serviceOf is the spec of service name (without the stack prefix).
func serviceOf(t *testing.T, spec *api.StackSpec, name string) swarm.ServiceSpec {
	t.Helper()
	svc, ok := spec.Services[spec.Namespace+"_"+name]
	if !ok {
		t.Fatalf("no service %s_%s among %v", spec.Namespace, name, slices.Sorted(mapKeys(spec.Services)))
	}
	return svc
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func sameJSONish(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n  %#v\nwant\n  %#v", what, got, want)
	}
}

// wantErrorAt checks that errs holds an error at path whose message
// contains msg, placed at a line of the file.
func wantErrorAt(t *testing.T, errs ErrorList, path, msg string) {
	t.Helper()
	for _, e := range errs {
		if e.Path == path && strings.Contains(e.Msg, msg) {
			if e.File == "" {
				t.Errorf("error %q names no file", e)
			}
			return
		}
	}
	t.Errorf("no error at %s containing %q in:\n%v", path, msg, errs)
}

func TestConvertNamesAndLabels(t *testing.T) {
	spec := inlineStack{yaml: `services:
  web:
    image: nginx:1.27
    labels:
      tier: front
    deploy:
      labels:
        traefik.enable: "true"
`}.convert(t)
	svc := serviceOf(t, spec, "web")
	if svc.Name != "shop_web" {
		t.Errorf("name = %q, want shop_web", svc.Name)
	}
	sameJSONish(t, "service labels", svc.Labels, map[string]string{
		"traefik.enable":             "true",
		"com.docker.stack.namespace": "shop",
		"com.docker.stack.image":     "nginx:1.27",
	})
	sameJSONish(t, "container labels", svc.TaskTemplate.ContainerSpec.Labels, map[string]string{
		"tier":                       "front",
		"com.docker.stack.namespace": "shop",
	})
	if spec.Namespace != "shop" {
		t.Errorf("namespace = %q", spec.Namespace)
	}
}

func TestConvertNetworks(t *testing.T) {
	tests := []struct {
		name         string
		yaml         string
		wantNetworks map[string]network.CreateRequest
		wantAttach   map[string][]swarm.NetworkAttachmentConfig // by service
	}{
		{
			name: "a service naming no network joins the stack's default overlay",
			yaml: "services:\n  web:\n    image: nginx\n",
			wantNetworks: map[string]network.CreateRequest{"shop_default": {
				Name:          "shop_default",
				CreateOptions: network.CreateOptions{Driver: "overlay", Labels: map[string]string{"com.docker.stack.namespace": "shop"}},
			}},
			wantAttach: map[string][]swarm.NetworkAttachmentConfig{"web": {{Target: "shop_default", Aliases: []string{"web"}}}},
		},
		{
			name: "declared networks with options; unused and external ones are not created",
			yaml: `services:
  web:
    image: nginx
    networks:
      back:
        aliases: [api]
        driver_opts: {x: "1"}
      proxy:
  db:
    image: postgres
    networks: [back]
networks:
  back:
    driver: overlay
    driver_opts: {encrypted: "yes"}
    attachable: true
    internal: true
    labels: {team: data}
    ipam:
      driver: default
      config:
        - subnet: 10.9.0.0/24
  proxy:
    external: true
  unused: {}
`,
			wantNetworks: map[string]network.CreateRequest{"shop_back": {
				Name: "shop_back",
				CreateOptions: network.CreateOptions{
					Driver:     "overlay",
					Options:    map[string]string{"encrypted": "yes"},
					Attachable: true,
					Internal:   true,
					Labels:     map[string]string{"team": "data", "com.docker.stack.namespace": "shop"},
					IPAM:       &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: "10.9.0.0/24"}}},
				},
			}},
			wantAttach: map[string][]swarm.NetworkAttachmentConfig{
				"web": {
					{Target: "proxy", Aliases: []string{"web"}},
					{Target: "shop_back", Aliases: []string{"api", "web"}, DriverOpts: map[string]string{"x": "1"}},
				},
				"db": {{Target: "shop_back", Aliases: []string{"db"}}},
			},
		},
		{
			name: "name: overrides the stack prefix; external name: is used as is",
			yaml: `services:
  web:
    image: nginx
    networks: [a, b, host]
networks:
  a:
    name: shared-a
  b:
    external: true
    name: outside
  host:
    external: true
`,
			wantNetworks: map[string]network.CreateRequest{"shared-a": {
				Name:          "shared-a",
				CreateOptions: network.CreateOptions{Driver: "overlay", Labels: map[string]string{"com.docker.stack.namespace": "shop"}},
			}},
			wantAttach: map[string][]swarm.NetworkAttachmentConfig{"web": {
				{Target: "host"}, // the engine's own network takes no alias
				{Target: "outside", Aliases: []string{"web"}},
				{Target: "shared-a", Aliases: []string{"web"}},
			}},
		},
		{
			name: "an empty networks list still means the default network",
			yaml: "services:\n  web:\n    image: nginx\n    networks: {}\nnetworks:\n  default:\n    driver: weave\n",
			wantNetworks: map[string]network.CreateRequest{"shop_default": {
				Name:          "shop_default",
				CreateOptions: network.CreateOptions{Driver: "weave", Labels: map[string]string{"com.docker.stack.namespace": "shop"}},
			}},
			wantAttach: map[string][]swarm.NetworkAttachmentConfig{"web": {{Target: "shop_default", Aliases: []string{"web"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := inlineStack{yaml: tt.yaml}.convert(t)
			sameJSONish(t, "networks", spec.Networks, tt.wantNetworks)
			for svc, want := range tt.wantAttach {
				sameJSONish(t, svc+" networks", serviceOf(t, spec, svc).TaskTemplate.Networks, want)
			}
		})
	}
}

func TestConvertNetworkErrors(t *testing.T) {
	errs := inlineStack{yaml: `services:
  web:
    image: nginx
    networks: [nowhere]
networks:
  back:
    ipam:
      config:
        - subnet: 10.0.0.0/24
          gateway: 10.0.0.1
  used:
`}.convertErr(t)
	wantErrorAt(t, errs, "services.web.networks.nowhere", `undefined network "nowhere"`)
	if len(errs) != 1 {
		t.Errorf("got %d errors, want 1 (back is unused, so its ipam is not checked): %v", len(errs), errs)
	}
}

func TestConvertSecretsAndConfigs(t *testing.T) {
	spec := inlineStack{
		yaml: `services:
  web:
    image: nginx
    secrets:
      - db_password
      - source: api_key
        target: /etc/api.key
        uid: "100"
        gid: "101"
        mode: 0400
      - outside
    configs:
      - site
      - source: tls
        target: /etc/tls.conf
        mode: 0440
secrets:
  db_password:
    file: ./db_password.txt
  api_key:
    file: api.key
    name: shop-api-key-v2
    labels: {rotated: "2024"}
  outside:
    external: true
  unused:
    file: ./db_password.txt
  vaulted:
    driver: vault
    driver_opts: {path: secret/x}
    template_driver: golang
configs:
  site:
    file: ./site.conf
  tls:
    external: true
    name: tls-v3
`,
		files: map[string]string{"db_password.txt": "hunter2", "api.key": "k", "site.conf": "server {}"},
	}.convert(t)

	ns := map[string]string{"com.docker.stack.namespace": "shop"}
	sameJSONish(t, "secrets", spec.Secrets, map[string]swarm.SecretSpec{
		"shop_db_password": {Annotations: swarm.Annotations{Name: "shop_db_password", Labels: ns}, Data: []byte("hunter2")},
		"shop-api-key-v2":  {Annotations: swarm.Annotations{Name: "shop-api-key-v2", Labels: map[string]string{"rotated": "2024", "com.docker.stack.namespace": "shop"}}, Data: []byte("k")},
		"shop_unused":      {Annotations: swarm.Annotations{Name: "shop_unused", Labels: ns}, Data: []byte("hunter2")},
		"shop_vaulted": {
			Annotations: swarm.Annotations{Name: "shop_vaulted", Labels: ns},
			Data:        []byte{},
			Driver:      &swarm.Driver{Name: "vault", Options: map[string]string{"path": "secret/x"}},
			Templating:  &swarm.Driver{Name: "golang"},
		},
	})
	sameJSONish(t, "configs", spec.Configs, map[string]swarm.ConfigSpec{
		"shop_site": {Annotations: swarm.Annotations{Name: "shop_site", Labels: ns}, Data: []byte("server {}")},
	})
	cs := serviceOf(t, spec, "web").TaskTemplate.ContainerSpec
	sameJSONish(t, "secret references", cs.Secrets, []*swarm.SecretReference{
		{SecretName: "outside", File: &swarm.SecretReferenceFileTarget{Name: "outside", UID: "0", GID: "0", Mode: 0o444}},
		{SecretName: "shop-api-key-v2", File: &swarm.SecretReferenceFileTarget{Name: "/etc/api.key", UID: "100", GID: "101", Mode: 0o400}},
		{SecretName: "shop_db_password", File: &swarm.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o444}},
	})
	sameJSONish(t, "config references", cs.Configs, []*swarm.ConfigReference{
		{ConfigName: "shop_site", File: &swarm.ConfigReferenceFileTarget{Name: "site", UID: "0", GID: "0", Mode: 0o444}},
		{ConfigName: "tls-v3", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/tls.conf", UID: "0", GID: "0", Mode: 0o440}},
	})
}

func TestConvertSecretErrors(t *testing.T) {
	errs := inlineStack{yaml: `services:
  web:
    image: nginx
    secrets:
      - missing
      - a
      - source: b
        target: a
    configs: [nope]
secrets:
  a:
    file: ./a
  b:
    file: ./absent
`, files: map[string]string{"a": "x"}}.convertErr(t)
	wantErrorAt(t, errs, "secrets.b.file", "cannot read")
	wantErrorAt(t, errs, "services.web.secrets.0", `undefined secret "missing"`)
	wantErrorAt(t, errs, "services.web.secrets.2", "lands at a, as secrets[1] does already")
	wantErrorAt(t, errs, "services.web.configs.0", `undefined config "nope"`)
}

func TestConvertDockerRefusals(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"a service without an image", "services:\n  web:\n    build: .\n", "services.web", "no image"},
		{"an invalid image reference", "services:\n  web:\n    image: Nginx:latest\n", "services.web.image", "invalid image reference"},
		{"a forbidden key", "services:\n  web:\n    image: nginx\n    mem_limit: 1g\n", "services.web.mem_limit", "deploy.resources.limits.memory"},
		{"a key outside the version 3 format", "services:\n  web:\n    image: nginx\n    group_add: [wheel]\n", "services.web.group_add", "not in the version 3 file format"},
		{"profiles", "services:\n  web:\n    image: nginx\n    profiles: [dev]\n", "services.web.profiles", "has no profiles"},
		{"scale", "services:\n  web:\n    image: nginx\n    scale: 2\n", "services.web.scale", "set deploy.replicas"},
		{"a top-level key outside the format", "name: x\nservices:\n  web:\n    image: nginx\n", "name", "top-level key"},
		{"extends", "services:\n  base:\n    image: nginx\n  web:\n    extends: base\n", "services.web.extends", "extends"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorAt(t, inlineStack{yaml: tt.yaml}.convertErr(t), tt.path, tt.msg)
		})
	}
}

func TestConvertReportsEveryProblemInOrder(t *testing.T) {
	errs := inlineStack{yaml: `services:
  a:
    image: nginx
    deploy:
      mode: global
      replicas: 2
  b:
    build: .
  c:
    image: nginx
    restart: forever
`}.convertErr(t)
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3: %v", len(errs), errs)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line != 0 && errs[i-1].Line > errs[i].Line {
			t.Errorf("errors out of line order: %v", errs)
		}
	}
}

func TestConvertIsDeterministic(t *testing.T) {
	s := inlineStack{yaml: `services:
  web:
    image: nginx
    environment: {Z: "1", A: "2", M: "3"}
    cap_add: [net_admin, SYS_TIME, chown]
    ulimits: {nproc: 10, nofile: {soft: 1, hard: 2}, core: 0}
    networks: [z, a, m]
    secrets: [s2, s1]
networks: {z: {}, a: {}, m: {}}
secrets:
  s1: {external: true}
  s2: {external: true}
`}
	first := s.convert(t)
	for range 5 {
		if again := s.convert(t); !reflect.DeepEqual(first, again) {
			t.Fatal("two conversions of one file differ")
		}
	}
}

// TestConvertSharedStacks runs every real stack file through Load and
// Convert, as it is and then with the files it reads (secrets, configs,
// env_file) staged as empty placeholders: each converts, or fails with
// errors that name file, line and field. Where each fails is pinned, so a
// change shows up; what each converts to is the golden tests' business.
func TestConvertSharedStacks(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "stacks")
	files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if len(files) == 0 {
		t.Fatalf("no stack files in %s: the tests need /work/shared/stacks beside the repository", dir)
	}
	// The field paths of the errors of each file that does not convert as
	// it is; the others convert.
	missing := func(paths ...string) []string { return paths }
	asIs := map[string][]string{
		"003": missing("services.result", "services.seed", "services.seed.profiles", "services.vote", "services.worker"),
		"004": missing("configs.caddy_config.file", "configs.dockerd_config.file", "configs.node_rules.file", "configs.task_rules.file"),
		"011": missing("configs.my_config.file"),
		"016": missing("services.grafana.env_file.0"),
		"021": missing("secrets.db-password.file"),
		"025": missing("configs.elastic_config.file", "configs.kibana_config.file", "configs.logstash_config.file", "configs.logstash_pipeline.file"),
		"026": missing("configs.logstash_pipeline.file", "services.logstash"),
		"034": missing("configs.alertmanager_config.file", "configs.prometheus_config.file", "configs.prometheus_rules.file"),
		"043": missing("configs.elastic_config.file", "configs.kibana_config.file", "configs.logstash_config.file", "configs.logstash_pipeline.file"),
		"048": missing("configs.config4", "secrets.secret4"),
		"049": missing("configs.config1.file", "configs.config2.file", "secrets.secret1.file", "secrets.secret2.file"),
		"050": missing("services.result-app", "services.voting-app", "services.worker"),
		"058": missing("secrets.kong_postgres_password.file"),
		"059": missing("services.db.env_file.0", "services.nzyme.env_file.0"),
		"060": missing("services.foo.deploy.replicas"),
	}
	// With the files in place, what is left is what Docker refuses too.
	staged := map[string][]string{
		"003": asIs["003"],
		"026": missing("services.logstash"),
		"048": missing("configs.config4", "secrets.secret4"),
		"050": asIs["050"],
		"060": asIs["060"],
	}
	for _, f := range files {
		base := filepath.Base(f)
		id, _, _ := strings.Cut(base, "__")
		t.Run(base, func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkStackErrors(t, "as is", Options{Files: []string{f}, Namespace: "stack", Environ: map[string]string{}}, asIs[id])

			stage := t.TempDir()
			file := filepath.Join(stage, base)
			if err := os.WriteFile(file, text, 0o644); err != nil {
				t.Fatal(err)
			}
			writePlaceholders(t, stage, text)
			checkStackErrors(t, "staged", Options{Files: []string{file}, Namespace: "stack", Environ: map[string]string{}}, staged[id])
		})
	}
}

// checkStackErrors loads and converts, and checks that the errors are
// exactly at wantPaths (none: it converts), each with file and line. A
// wanted path "a|b" is met by an error at a or at b.
func checkStackErrors(t *testing.T, pass string, opts Options, wantPaths []string) {
	t.Helper()
	l, err := Load(context.Background(), opts)
	if err == nil {
		_, err = Convert(l)
	}
	var list ErrorList
	if err != nil && !errors.As(err, &list) {
		t.Fatalf("%s: error is %T, want ErrorList: %v", pass, err, err)
	}
	var paths []string
	for _, e := range list {
		if e.File == "" || e.Line == 0 || e.Path == "" {
			t.Errorf("%s: error without file, line or field: %q", pass, e)
		}
		paths = append(paths, e.Path)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	matched := make([]bool, len(wantPaths))
	ok := true
	for _, p := range paths {
		i := slices.IndexFunc(wantPaths, func(w string) bool { return slices.Contains(strings.Split(w, "|"), p) })
		if i < 0 {
			ok = false
			continue
		}
		matched[i] = true
	}
	if !ok || slices.Contains(matched, false) {
		t.Errorf("%s: errors at %q, want %q; the errors:\n%v", pass, paths, wantPaths, err)
	}
}

// writePlaceholders creates, empty, every relative file the stack reads:
// secret and config files and env files.
func writePlaceholders(t *testing.T, dir string, text []byte) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, section := range []string{"secrets", "configs"} {
		objs, _ := doc[section].(map[string]any)
		for _, o := range objs {
			obj, _ := o.(map[string]any)
			if f, ok := obj["file"].(string); ok {
				paths = append(paths, f)
			}
		}
	}
	services, _ := doc["services"].(map[string]any)
	for _, s := range services {
		svc, _ := s.(map[string]any)
		switch v := svc["env_file"].(type) {
		case string:
			paths = append(paths, v)
		case []any:
			for _, e := range v {
				if f, ok := e.(string); ok {
					paths = append(paths, f)
				}
			}
		}
	}
	for _, p := range paths {
		if filepath.IsAbs(p) {
			continue
		}
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConvertOverrideFiles(t *testing.T) {
	spec := inlineStack{
		yaml: `services:
  web:
    image: nginx:1
    volumes:
      - /srv/z:/z
      - /srv/a:/a
    deploy:
      replicas: 2
  db:
    image: postgres
    volumes:
      - /srv/z:/z
      - /srv/a:/a
`,
		extra: []string{`services:
  web:
    image: nginx:2
    volumes:
      - /srv/m:/m
    deploy:
      replicas: 4
`},
	}.convert(t)
	web := serviceOf(t, spec, "web")
	if got := web.TaskTemplate.ContainerSpec.Image; got != "nginx:2" {
		t.Errorf("image = %q, want the override's", got)
	}
	if got := *web.Mode.Replicated.Replicas; got != 4 {
		t.Errorf("replicas = %d, want the override's 4", got)
	}
	targets := func(name string) []string {
		var out []string
		for _, m := range serviceOf(t, spec, name).TaskTemplate.ContainerSpec.Mounts {
			out = append(out, m.Target)
		}
		return out
	}
	// Docker rebuilds the volumes of a service two files define, sorted by
	// target; a service one file defines keeps its order.
	if got := targets("web"); !slices.Equal(got, []string{"/a", "/m", "/z"}) {
		t.Errorf("web mounts = %q, want sorted /a /m /z", got)
	}
	if got := targets("db"); !slices.Equal(got, []string{"/z", "/a"}) {
		t.Errorf("db mounts = %q, want the file's order", got)
	}
}

// TestConvertIgnoresVersion pins that the version key decides nothing:
// the compose specification made it obsolete. Docker reads only version 3
// files and wants one version in all the files of a deploy; swarmops
// converts them all alike (docs/compat.md).
func TestConvertIgnoresVersion(t *testing.T) {
	base := "services:\n  web:\n    image: nginx\n"
	tests := []struct {
		name     string
		versions []string
	}{
		{"version 3", []string{`version: "3.8"`}},
		{"no version, and 3", []string{"", `version: "3"`}},
		{"version 2", []string{`version: "2"`}},
		{"an unknown version", []string{`version: "9.9"`}},
		{"files naming different versions", []string{`version: "3.7"`, `version: "3.3"`}},
	}
	var want []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := inlineStack{yaml: tt.versions[0] + "\n" + base}
			for _, v := range tt.versions[1:] {
				s.extra = append(s.extra, v+"\n"+base)
			}
			got, err := json.Marshal(s.convert(t))
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			} else if string(got) != string(want) {
				t.Errorf("the conversion depends on the version:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestConvertAcceptsDependsOnConditions pins the long form of depends_on,
// which Docker's version 3 schema refuses: the specs are the same in
// either form, as Docker ignores the list; only DependsOn, which the
// reconciler orders by, keeps the condition.
func TestConvertAcceptsDependsOnConditions(t *testing.T) {
	const services = `services:
  db:
    image: postgres
  web:
    image: nginx
    depends_on:
%s`
	long := inlineStack{yaml: fmt.Sprintf(services, `      db:
        condition: service_healthy
        required: false
        restart: true
`)}.convert(t)
	short := inlineStack{yaml: fmt.Sprintf(services, "      - db\n")}.convert(t)
	if want := []api.Dependency{{Service: "shop_db", Condition: api.ConditionHealthy}}; !reflect.DeepEqual(long.DependsOn["shop_web"], want) {
		t.Errorf("DependsOn[shop_web] = %+v, want %+v", long.DependsOn["shop_web"], want)
	}
	if want := []api.Dependency{{Service: "shop_db", Condition: api.ConditionStarted}}; !reflect.DeepEqual(short.DependsOn["shop_web"], want) {
		t.Errorf("short form: DependsOn[shop_web] = %+v, want %+v", short.DependsOn["shop_web"], want)
	}
	long.DependsOn, short.DependsOn = nil, nil
	if !reflect.DeepEqual(long, short) {
		t.Errorf("depends_on with conditions converts to\n%+v\nwant what the list gives\n%+v", long, short)
	}
	errs := inlineStack{yaml: fmt.Sprintf(services, "      db:\n        condition: when_ready\n")}.loadErr(t)
	wantErrorAt(t, errs, "services.web.depends_on.db.condition", "must be one of")
}
