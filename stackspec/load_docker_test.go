package stackspec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"

	"github.com/swarmops/swarmops/api"
)

// TestPassThroughSeesOnlyTheEnvironment pins that `environment: [VAR]`
// takes VAR from Options.Environ and the env files only: compose-go adds
// COMPOSE_PROJECT_NAME to what it resolves from, which docker stack deploy
// does not set.
func TestPassThroughSeesOnlyTheEnvironment(t *testing.T) {
	const file = `services:
  web:
    image: nginx
    environment:
      - COMPOSE_PROJECT_NAME
      - FROM_HOST
  api:
    image: nginx
    environment:
      COMPOSE_PROJECT_NAME:
`
	// In a second file, the mapping's null merges into a bare list entry.
	const override = "services:\n  api:\n    environment: [OTHER=1]\n"
	tests := []struct {
		name    string
		environ map[string]string
		web     []string
		api     []string
	}{
		{"unset: left bare, as Docker leaves it", map[string]string{"FROM_HOST": "h"},
			[]string{"COMPOSE_PROJECT_NAME", "FROM_HOST=h"}, []string{"COMPOSE_PROJECT_NAME", "OTHER=1"}},
		{"set in the environment: its value", map[string]string{"COMPOSE_PROJECT_NAME": "mine"},
			[]string{"COMPOSE_PROJECT_NAME=mine", "FROM_HOST"}, []string{"COMPOSE_PROJECT_NAME=mine", "OTHER=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := inlineStack{yaml: file, extra: []string{override}, environ: tt.environ}.convert(t)
			if got := serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Env; !slices.Equal(got, tt.web) {
				t.Errorf("web env = %q, want %q", got, tt.web)
			}
			if got := serviceOf(t, spec, "api").TaskTemplate.ContainerSpec.Env; !slices.Equal(got, tt.api) {
				t.Errorf("api env = %q, want %q", got, tt.api)
			}
		})
	}

	// A config read from the variable is no exception.
	errs := inlineStack{yaml: `services:
  web:
    image: nginx
    configs: [c]
configs:
  c:
    environment: COMPOSE_PROJECT_NAME
`}.convertErr(t)
	wantErrorAt(t, errs, "configs.c.environment", "COMPOSE_PROJECT_NAME is not set")
}

// TestTildeExpandsFromTheEnvironment pins that ~ in a bind source is the
// HOME of Options.Environ, never the process's, and that only a bind
// source expands it, as in Docker's loader.
func TestTildeExpandsFromTheEnvironment(t *testing.T) {
	t.Setenv("HOME", "/process/home")
	const file = `services:
  web:
    image: nginx
    volumes:
      - ~/data:/data
      - type: bind
        source: ~/conf/
        target: /conf
      - ./rel:/rel
    secrets: [s]
secrets:
  s:
    file: ~/secret
`
	sources := func(spec []mount.Mount) []string {
		var out []string
		for _, m := range spec {
			out = append(out, m.Source)
		}
		return out
	}

	s := inlineStack{yaml: file, environ: map[string]string{"HOME": "/home/fixture"}, files: map[string]string{"~/secret": "x"}}
	opts := s.options(t)
	dir := filepath.Dir(opts.Files[0])
	spec, err := loadAndConvertOpts(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := sources(serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Mounts)
	// Docker replaces the ~ and keeps the rest as written.
	want := []string{"/home/fixture/data", "/home/fixture/conf/", filepath.Join(dir, "rel")}
	if !slices.Equal(got, want) {
		t.Errorf("bind sources = %q, want %q", got, want)
	}
	if data := spec.Secrets["shop_s"].Data; string(data) != "x" {
		t.Errorf("secret data = %q, want the file ~/secret under the working directory", data)
	}

	// Without HOME, Docker warns and leaves the ~, under the working directory.
	s.environ = map[string]string{}
	opts = s.options(t)
	dir = filepath.Dir(opts.Files[0])
	spec, err = loadAndConvertOpts(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	got = sources(serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Mounts)
	want = []string{filepath.Join(dir, "~/data"), filepath.Join(dir, "~/conf"), filepath.Join(dir, "rel")}
	if !slices.Equal(got, want) {
		t.Errorf("bind sources without HOME = %q, want %q", got, want)
	}
	if n := countContaining(spec.Warnings, "cannot expand '~'"); n != 2 {
		t.Errorf("warnings = %q, want Docker's for each ~ source", spec.Warnings)
	}
}

func loadAndConvertOpts(t *testing.T, opts Options) (*api.StackSpec, error) {
	t.Helper()
	return loadAndConvert(t.Context(), opts)
}

func countContaining(list []string, s string) int {
	n := 0
	for _, x := range list {
		if strings.Contains(x, s) {
			n++
		}
	}
	return n
}

// TestLaterFileReplacesTopLevelObjects pins Docker's merge of networks,
// volumes, secrets and configs: a later file that names one replaces its
// whole definition, where compose-go would merge the two key by key.
// Services still merge key by key.
func TestLaterFileReplacesTopLevelObjects(t *testing.T) {
	base := `services:
  web:
    image: nginx
    labels: {a: "1"}
    networks: [front]
    volumes: [data:/data]
    secrets: [s]
    configs: [c, d]
networks:
  front:
    driver: overlay
    attachable: true
    labels: {from: base}
volumes:
  data:
    driver: local
    driver_opts: {type: tmpfs, device: tmpfs}
secrets:
  s:
    file: ./base.txt
    labels: {from: base}
configs:
  c:
    file: ./base.txt
    labels: {from: base}
  d:
    file: ./base.txt
    labels: {from: base}
`
	override := `x-config: &config
  file: ./override.txt
services:
  web:
    labels: {b: "2"}
networks:
  front:
    labels: {from: override}
volumes:
  data:
secrets:
  s:
    file: ./override.txt
configs:
  c: *config
  d:
    <<: *config
    labels: {from: override}
`
	spec := inlineStack{yaml: base, extra: []string{override},
		files: map[string]string{"base.txt": "base", "override.txt": "override"}}.convert(t)

	nw := spec.Networks["shop_front"]
	if nw.Attachable || nw.Labels["from"] != "override" {
		t.Errorf("network = %+v, want only the override's definition", nw)
	}
	for _, m := range serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Mounts {
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			t.Errorf("volume mount %+v keeps the base's driver, which the override's empty definition replaced", m)
		}
	}
	s := spec.Secrets["shop_s"]
	if string(s.Data) != "override" || s.Labels["from"] != "" {
		t.Errorf("secret = %q with labels %v, want the override's file and no label of the base", s.Data, s.Labels)
	}
	c := spec.Configs["shop_c"]
	if string(c.Data) != "override" || c.Labels["from"] != "" {
		t.Errorf("config c = %q with labels %v, want the anchored definition alone", c.Data, c.Labels)
	}
	d := spec.Configs["shop_d"]
	if string(d.Data) != "override" || d.Labels["from"] != "override" {
		t.Errorf("config d = %q with labels %v, want the override's", d.Data, d.Labels)
	}
	if l := serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Labels; l["a"] != "1" || l["b"] != "2" {
		t.Errorf("service labels = %v, want both files' (services merge key by key)", l)
	}
}

// TestLaterFileReplacesHealthcheckTest pins a deliberate difference: Docker
// appends a later file's healthcheck test to the earlier one's, making a
// command nobody wrote; swarmops takes the later test (docs/compat.md).
func TestLaterFileReplacesHealthcheckTest(t *testing.T) {
	spec := inlineStack{
		yaml:  serviceYAML("    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5s\n"),
		extra: []string{"services:\n  web:\n    healthcheck:\n      test: [\"CMD-SHELL\", \"curl -f localhost\"]\n"},
	}.convert(t)
	hc := serviceOf(t, spec, "web").TaskTemplate.ContainerSpec.Healthcheck
	if hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "curl -f localhost"}) || hc.Interval.String() != "5s" {
		t.Errorf("healthcheck = %+v, want the later test with the earlier interval", hc)
	}
}

// TestEnvFileErrorsNameTheLine pins that a broken --env-file is reported at
// its line.
func TestEnvFileErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct {
		content string
		line    int
	}{
		{"A=1\nB C=2\n", 2},
		{"A=1\nB=\"open\n", 2},
		{"A=1\nB@=2\n", 2},
	} {
		errs := inlineStack{yaml: serviceYAML(""), files: map[string]string{"vars.env": tt.content}, envFile: []string{"vars.env"}}.loadErr(t)
		if len(errs) != 1 || filepath.Base(errs[0].File) != "vars.env" || errs[0].Line != tt.line {
			t.Errorf("%q: errors %v, want one at vars.env:%d", tt.content, errs, tt.line)
		}
	}
}

// TestEveryErrorIsPlaced holds every kind of problem Load and Convert
// report to naming a file and, being in one, a line there.
func TestEveryErrorIsPlaced(t *testing.T) {
	tests := []struct {
		name  string
		stack inlineStack
	}{
		{"yaml syntax", inlineStack{yaml: "services:\n  web:\n    image: [x\n"}},
		{"yaml at the first line", inlineStack{yaml: ":\n#\n#"}},
		{"no mapping", inlineStack{yaml: ",00"}},
		{"empty", inlineStack{yaml: "# nothing\n"}},
		{"schema", inlineStack{yaml: "services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n"}},
		{"unknown key", inlineStack{yaml: "services:\n  web:\n    image: x\n    imgae: y\n"}},
		{"interpolation", inlineStack{yaml: "services:\n  web:\n    image: ${IMG:?set it}\n"}},
		{"docker refusal", inlineStack{yaml: "services:\n  web:\n    image: x\n    profiles: [a]\n    mem_limit: 1g\n"}},
		{"no image", inlineStack{yaml: "services:\n  web:\n    build: .\n"}},
		{"undefined references", inlineStack{yaml: "services:\n  web:\n    image: x\n    networks: [n]\n    secrets: [s]\n    volumes: [v:/v]\n"}},
		{"missing files", inlineStack{yaml: "services:\n  web:\n    image: x\n    env_file: missing.env\n    configs: [c]\nconfigs:\n  c:\n    file: ./missing\n"}},
		{"secret without content", inlineStack{yaml: "services:\n  web:\n    image: x\nsecrets:\n  s: {}\n"}},
		{"in the override", inlineStack{yaml: "services:\n  web:\n    image: x\n", extra: []string{"services:\n  web:\n    deploy:\n      mode: global\n      replicas: 2\n"}}},
		{"broken override", inlineStack{yaml: "services:\n  web:\n    image: x\n", extra: []string{"services: [\n"}}},
		{"default network", inlineStack{yaml: "services:\n  web:\n    image: x\nnetworks:\n  default:\n    ipam:\n      config:\n        - subnet: 10.0.0.0/24\n          gateway: 10.0.0.1\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.stack.options(t)
			_, err := loadAndConvert(t.Context(), opts)
			if err == nil {
				t.Fatal("no error")
			}
			list, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, e := range list {
				if !slices.Contains(opts.Files, e.File) || e.Line <= 0 || e.Msg == "" {
					t.Errorf("not placed in a file of the stack: %#v", *e)
				}
			}
		})
	}
}

// TestReencodingKeepsEveryValue holds the YAML that replaceWholeObjects
// writes back to meaning what the file meant: every recorded stack,
// decoded and encoded again, converts exactly as it does as written.
func TestReencodingKeepsEveryValue(t *testing.T) {
	for _, s := range recordedStacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			_, opts := s.stage(t)
			want, wantErr := loadAndConvert(t.Context(), opts)
			for i, f := range opts.Files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				docs, err := decodeDocuments(data)
				if err != nil {
					t.Fatal(err)
				}
				again, err := encodeDocuments(docs)
				if err != nil {
					t.Fatal(err)
				}
				opts.Contents = append(opts.Contents[:i:i], again)
			}
			got, gotErr := loadAndConvert(t.Context(), opts)
			if wantErr != nil {
				// The positions may differ; what is wrong may not.
				if gotErr == nil || len(errorPaths(gotErr)) != len(errorPaths(wantErr)) || !slices.Equal(errorPaths(gotErr), errorPaths(wantErr)) {
					t.Errorf("re-encoded: %v\nas written: %v", gotErr, wantErr)
				}
				return
			}
			if gotErr != nil {
				t.Fatalf("re-encoded: %v", gotErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("re-encoded, the stack converts otherwise:\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
