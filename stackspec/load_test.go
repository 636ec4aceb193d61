package stackspec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// inlineStack is one compose file written inline, loaded from a fresh
// directory so that relative paths, .env and env_file resolve there.
type inlineStack struct {
	yaml    string
	environ map[string]string // nil: empty, so the host's variables never leak in
	files   map[string]string // more files in the directory, by relative name
	extra   []string          // more compose files, overriding the first
	envFile []string          // Options.EnvFiles, relative to the directory
}

func (s inlineStack) options(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	for name, text := range s.files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	environ := s.environ
	if environ == nil {
		environ = map[string]string{}
	}
	opts := Options{
		Files:     []string{filepath.Join(dir, "compose.yml")},
		Contents:  [][]byte{[]byte(s.yaml)},
		Namespace: "shop",
		Environ:   environ,
	}
	for _, f := range s.envFile {
		opts.EnvFiles = append(opts.EnvFiles, filepath.Join(dir, f))
	}
	for i, y := range s.extra {
		opts.Files = append(opts.Files, filepath.Join(dir, "override"+string(rune('a'+i))+".yml"))
		opts.Contents = append(opts.Contents, []byte(y))
	}
	return opts
}

func (s inlineStack) load(t *testing.T) *Loaded {
	t.Helper()
	l, err := Load(context.Background(), s.options(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return l
}

func (s inlineStack) loadErr(t *testing.T) ErrorList {
	t.Helper()
	l, err := Load(context.Background(), s.options(t))
	if err == nil {
		t.Fatalf("Load succeeded (%d services), want an error", len(l.Project.Services))
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load error is %T, want ErrorList: %v", err, err)
	}
	return list
}

// envOf is the resolved environment of one service, "K=V" or "K" sorted.
func envOf(t *testing.T, l *Loaded, service string) []string {
	t.Helper()
	svc, ok := l.Project.Services[service]
	if !ok {
		t.Fatalf("no service %q", service)
	}
	var env []string
	for k, v := range svc.Environment {
		if v == nil {
			env = append(env, k)
		} else {
			env = append(env, k+"="+*v)
		}
	}
	slices.Sort(env)
	return env
}

func TestLoadInterpolation(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		environ map[string]string
		want    string
	}{
		{"braced", "${TAG}", map[string]string{"TAG": "1.2"}, "1.2"},
		{"unbraced", "$TAG", map[string]string{"TAG": "1.2"}, "1.2"},
		{"default when unset", "${TAG:-latest}", nil, "latest"},
		{"default when empty", "${TAG:-latest}", map[string]string{"TAG": ""}, "latest"},
		{"colon default keeps a set value", "${TAG:-latest}", map[string]string{"TAG": "2"}, "2"},
		{"dash default when unset", "${TAG-latest}", nil, "latest"},
		{"dash default keeps empty", "x${TAG-latest}", map[string]string{"TAG": ""}, "x"},
		{"unset is empty", "x${TAG}", nil, "x"},
		{"dollar dollar is a dollar", "$${TAG}", map[string]string{"TAG": "no"}, "${TAG}"},
		{"required and set", "${TAG:?tag needed}", map[string]string{"TAG": "3"}, "3"},
		{"default holding a colon", "${REG-127.0.0.1:5000}/app", nil, "127.0.0.1:5000/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := inlineStack{
				yaml:    "services:\n  web:\n    image: nginx\n    environment:\n      V: \"" + tt.value + "\"\n",
				environ: tt.environ,
			}.load(t)
			if got := envOf(t, l, "web"); !slices.Equal(got, []string{"V=" + tt.want}) {
				t.Errorf("environment = %q, want V=%s", got, tt.want)
			}
		})
	}
}

func TestLoadRequiredVariableMissing(t *testing.T) {
	errs := inlineStack{yaml: "services:\n  web:\n    image: \"nginx:${TAG:?set TAG to the release}\"\n"}.loadErr(t)
	if !strings.Contains(errs.Error(), "set TAG to the release") {
		t.Errorf("error %q does not carry the file's message", errs.Error())
	}
	for _, e := range errs {
		if e.File == "" {
			t.Errorf("error %q names no file", e)
		}
	}
}

func TestLoadTypedInterpolation(t *testing.T) {
	l := inlineStack{
		yaml:    "services:\n  web:\n    image: nginx\n    deploy:\n      replicas: ${N}\n    read_only: ${RO}\n",
		environ: map[string]string{"N": "4", "RO": "true"},
	}.load(t)
	svc := l.Project.Services["web"]
	if svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas != 4 {
		t.Errorf("replicas = %v, want 4", svc.Deploy)
	}
	if !svc.ReadOnly {
		t.Error("read_only from ${RO}=true is false")
	}
}

func TestLoadDotEnv(t *testing.T) {
	yaml := "services:\n  web:\n    image: \"nginx:${TAG}\"\n    environment:\n      - MODE\n"
	tests := []struct {
		name      string
		files     map[string]string
		environ   map[string]string
		envFiles  []string
		wantImage string
		wantEnv   []string
	}{
		{
			name:      ".env beside the file",
			files:     map[string]string{".env": "TAG=1.0\nMODE=prod\n"},
			wantImage: "nginx:1.0",
			wantEnv:   []string{"MODE=prod"},
		},
		{
			name:      "the process environment wins over .env",
			files:     map[string]string{".env": "TAG=1.0\nMODE=prod\n"},
			environ:   map[string]string{"TAG": "2.0"},
			wantImage: "nginx:2.0",
			wantEnv:   []string{"MODE=prod"},
		},
		{
			name:      "explicit env files replace .env, later ones win",
			files:     map[string]string{".env": "TAG=1.0\n", "a.env": "TAG=a\nMODE=a\n", "b.env": "TAG=b\n"},
			envFiles:  []string{"a.env", "b.env"},
			wantImage: "nginx:b",
			wantEnv:   []string{"MODE=a"},
		},
		{
			name:      "env file values may use quotes and comments",
			files:     map[string]string{".env": "# release\nTAG=\"3.1\" # pinned\n"},
			wantImage: "nginx:3.1",
			wantEnv:   []string{"MODE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := inlineStack{yaml: yaml, files: tt.files, environ: tt.environ, envFile: tt.envFiles}.load(t)
			if got := l.Project.Services["web"].Image; got != tt.wantImage {
				t.Errorf("image = %q, want %q", got, tt.wantImage)
			}
			if got := envOf(t, l, "web"); !slices.Equal(got, tt.wantEnv) {
				t.Errorf("environment = %q, want %q", got, tt.wantEnv)
			}
		})
	}
}

func TestLoadMissingEnvFileIsAnError(t *testing.T) {
	errs := inlineStack{yaml: "services:\n  web:\n    image: nginx\n", envFile: []string{"nope.env"}}.loadErr(t)
	if len(errs) != 1 || !strings.HasSuffix(errs[0].File, "nope.env") {
		t.Errorf("errors = %v, want one naming nope.env", errs)
	}
}

func TestLoadServiceEnvFile(t *testing.T) {
	l := inlineStack{
		yaml: `services:
  web:
    image: nginx
    env_file: web.env
    environment:
      B: from-environment
`,
		files: map[string]string{"web.env": "A=from-file\nB=from-file\n"},
	}.load(t)
	want := []string{"A=from-file", "B=from-environment"}
	if got := envOf(t, l, "web"); !slices.Equal(got, want) {
		t.Errorf("environment = %q, want %q (environment overrides env_file)", got, want)
	}
}

func TestLoadMissingServiceEnvFile(t *testing.T) {
	errs := inlineStack{yaml: "services:\n  web:\n    image: nginx\n    env_file: missing.env\n"}.loadErr(t)
	if !strings.Contains(errs.Error(), "missing.env") {
		t.Errorf("error %q does not name the env file", errs.Error())
	}
}

func TestLoadAnchorsAndMergeKeys(t *testing.T) {
	l := inlineStack{yaml: `x-defaults: &defaults
  image: nginx
  environment:
    SHARED: "1"
  deploy:
    replicas: 2
services:
  a:
    <<: *defaults
  b:
    <<: *defaults
    image: redis
    deploy:
      replicas: 5
  c:
    image: busybox
    labels: &labels
      team: web
    deploy:
      labels: *labels
`}.load(t)
	a, b, c := l.Project.Services["a"], l.Project.Services["b"], l.Project.Services["c"]
	if a.Image != "nginx" || *a.Deploy.Replicas != 2 || *a.Environment["SHARED"] != "1" {
		t.Errorf("a did not take the anchored defaults: image %q", a.Image)
	}
	if b.Image != "redis" || *b.Deploy.Replicas != 5 {
		t.Errorf("b's own keys do not win over the merge: image %q replicas %d", b.Image, *b.Deploy.Replicas)
	}
	if c.Labels["team"] != "web" || c.Deploy.Labels["team"] != "web" {
		t.Errorf("alias not resolved: labels %v, deploy labels %v", c.Labels, c.Deploy.Labels)
	}
}

func TestLoadExtensionFields(t *testing.T) {
	l := inlineStack{yaml: `version: "3.8"
x-top: {anything: [1, 2]}
services:
  web:
    image: nginx
    x-note: hello
    deploy:
      x-inner: 1
networks:
  back:
    x-net: 1
`}.load(t)
	if got := l.Project.Services["web"].Extensions["x-note"]; got != "hello" {
		t.Errorf("service extension x-note = %v, want hello", got)
	}
	if _, ok := l.Project.Extensions["x-top"]; !ok {
		t.Error("top-level extension x-top lost")
	}
	for _, w := range l.Warnings {
		if strings.Contains(w, "x-") {
			t.Errorf("extension field produced warning %q", w)
		}
	}
}

func TestLoadVersionKeyIsIgnored(t *testing.T) {
	for _, version := range []string{"", `version: "3"`, `version: "3.8"`, `version: "2.4"`} {
		t.Run(version, func(t *testing.T) {
			l := inlineStack{yaml: version + "\nservices:\n  web:\n    image: nginx\n"}.load(t)
			if len(l.Warnings) != 0 {
				t.Errorf("warnings = %q, want none", l.Warnings)
			}
			if l.Project.Services["web"].Image != "nginx" {
				t.Error("service not loaded")
			}
		})
	}
}

func TestLoadOverrideFiles(t *testing.T) {
	l := inlineStack{
		yaml: `services:
  web:
    image: nginx:1
    environment:
      A: base
      B: base
    ports: ["80:80"]
  db:
    image: postgres
`,
		extra: []string{`services:
  web:
    image: nginx:2
    environment:
      B: override
  cache:
    image: redis
`},
	}.load(t)
	if got := l.Project.Services["web"].Image; got != "nginx:2" {
		t.Errorf("image = %q, want the override's nginx:2", got)
	}
	if got := envOf(t, l, "web"); !slices.Equal(got, []string{"A=base", "B=override"}) {
		t.Errorf("environment = %q, want merged A=base B=override", got)
	}
	if len(l.Project.Services["web"].Ports) != 1 {
		t.Error("ports of the base file lost")
	}
	for _, name := range []string{"web", "db", "cache"} {
		if _, ok := l.Project.Services[name]; !ok {
			t.Errorf("service %s missing after the merge", name)
		}
	}
}

func TestLoadEveryServiceDespiteProfiles(t *testing.T) {
	l := inlineStack{yaml: "services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [debug]\n"}.load(t)
	if _, ok := l.Project.Services["debug"]; !ok {
		t.Error("a service with a profile was dropped; docker stack deploy has no profiles")
	}
}

func TestLoadWarnings(t *testing.T) {
	l := inlineStack{yaml: `services:
  web:
    image: nginx
    build: .
    restart: always
    container_name: web
    expose: ["80"]
    ports: ["127.0.0.1:8080:80"]
  db:
    image: postgres
    privileged: true
`}.load(t)
	want := []string{
		"ignoring IP-address (127.0.0.1:8080:80/tcp) service will listen on '0.0.0.0'",
		"Ignoring unsupported options: build, privileged, restart",
		"Ignoring deprecated options:\n\n" +
			"container_name: Setting the container name is not supported.\n\n" +
			"expose: Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
	}
	if !slices.Equal(l.Warnings, want) {
		t.Errorf("warnings =\n%q\nwant\n%q", l.Warnings, want)
	}
}

func TestLoadExternalNameWarnings(t *testing.T) {
	yaml := `services:
  web:
    image: nginx
    networks: [front]
networks:
  front:
    external:
      name: proxy
`
	tests := []struct {
		version string
		want    []string
	}{
		{`version: "3.4"`, nil},
		{`version: "3.5"`, []string{"network front: network.external.name is deprecated in favor of network.name"}},
		{"", []string{"network front: network.external.name is deprecated in favor of network.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			l := inlineStack{yaml: tt.version + "\n" + yaml}.load(t)
			if !slices.Equal(l.Warnings, tt.want) {
				t.Errorf("warnings = %q, want %q", l.Warnings, tt.want)
			}
		})
	}
}

func TestLoadOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no files", Options{Namespace: "shop"}, "no compose file"},
		{"no namespace", Options{Files: []string{"a.yml"}, Contents: [][]byte{[]byte("services: {}")}}, "no stack name"},
		{"contents do not match files", Options{Files: []string{"a.yml", "b.yml"}, Contents: [][]byte{nil}, Namespace: "x"}, "1 contents for 2 files"},
		{"missing file", Options{Files: []string{filepath.Join(t.TempDir(), "none.yml")}, Namespace: "x"}, "cannot read the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), tt.opts)
			var list ErrorList
			if !errors.As(err, &list) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want an ErrorList containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadReadsFilesFromDisk(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: \"nginx:${TAG}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("TAG=9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Load(context.Background(), Options{Files: []string{file}, Namespace: "shop", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Project.Services["web"].Image; got != "nginx:9" {
		t.Errorf("image = %q, want nginx:9 from the .env beside the file", got)
	}
}
