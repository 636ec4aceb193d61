package stackspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// positionsBase exercises every way a field can be written.
const positionsBase = `x-logging: &logging
  driver: json-file
  options:
    max-size: 10m
x-deploy: &deploy
  replicas: 2
  mode: replicated
x-extra: &extra
  replicas: 9
  endpoint_mode: dnsrr
services:
  web:
    image: nginx
    ports:
      - "80:80"
      - target: 443
        published: 8443
    networks: [front, back]
    labels: {com.example.tier: web, plain: x}
    sysctls:
      net.core.somaxconn: 1024
    environment:
      ES_JAVA_OPTS: -Xmx1g
    logging: *logging
    deploy:
      <<: [*deploy, *extra]
      mode: global
  api:
    image: api
    deploy:
      placement:
        constraints: [node.role == manager]
`

func TestLocate(t *testing.T) {
	s := mustSources(t, []string{"base.yml"}, positionsBase)
	tests := []struct {
		path      string
		line, col int
	}{
		{"services", 11, 1},                                  // a mapping: its key
		{"services.web", 12, 3},                              // a mapping: its key
		{"services.web.image", 13, 12},                       // a scalar: its value
		{"services.web.ports", 14, 5},                        // a list: its key
		{"services.web.ports.0", 15, 9},                      // a scalar list item
		{"services.web.ports.1", 16, 9},                      // a mapping list item
		{"services.web.ports.1.published", 17, 20},           // inside a list item
		{"services.web.ports[1].target", 16, 17},             // compose-go's index form
		{"services.web.networks.1", 18, 23},                  // flow sequence
		{"services.web.labels.com.example.tier", 19, 32},     // dotted key in a flow mapping
		{"services.web.labels.plain", 19, 44},                // flow mapping
		{"services[web].sysctls.net.core.somaxconn", 21, 27}, // mapstructure's form, dotted key
		{"services.web.environment.ES_JAVA_OPTS", 23, 21},
		{"services.web.logging", 24, 5},                  // an alias to a mapping: where it is used
		{"services.web.logging.options.max-size", 4, 15}, // through the alias: where it is written
		{"services.web.deploy.mode", 27, 13},             // set in the mapping: beats the merge
		{"services.web.deploy.replicas", 6, 13},          // merged: the first merged mapping wins
		{"services.web.deploy.endpoint_mode", 10, 18},    // merged from the second mapping
		{"services.api.deploy.placement.constraints.0", 32, 23},
		// Not written: the nearest written ancestor.
		{"services.api.deploy.placement.preferences", 31, 7},
		{"services.api.deploy.resources.limits.cpus", 30, 5},
		{"services.web.ports.7", 14, 5},
		{"services.db.image", 11, 1},
		// Nothing of the path is written: the file, at its first key.
		{"configs.app", 1, 1},
	}
	for _, tt := range tests {
		file, line, col := s.locate(tt.path)
		if file != "base.yml" || line != tt.line || col != tt.col {
			t.Errorf("locate(%q) = %s:%d:%d, want base.yml:%d:%d", tt.path, file, line, col, tt.line, tt.col)
		}
	}
}

func TestLocateLastFileWins(t *testing.T) {
	override := `services:
  web:
    image: nginx:2
    deploy:
      resources:
        limits: {cpus: "0.5"}
`
	s := mustSources(t, []string{"base.yml", "override.yml"}, positionsBase, override)
	tests := []struct {
		path      string
		file      string
		line, col int
	}{
		{"services.web.image", "override.yml", 3, 12},                        // both set it: the later file
		{"services.web.ports.0", "base.yml", 15, 9},                          // only the first sets it
		{"services.web.deploy.resources.limits.cpus", "override.yml", 6, 24}, // only the later
		{"services.web.deploy", "override.yml", 4, 5},                        // both: the later
		{"services.web.deploy.rollback_config", "override.yml", 4, 5},        // nearest ancestor, later file
		{"services.api.deploy.placement.preferences", "base.yml", 31, 7},     // only the first has the ancestor
		{"secrets.db", "base.yml", 1, 1},                                     // nowhere: the first file, at its first key
	}
	for _, tt := range tests {
		file, line, col := s.locate(tt.path)
		if file != tt.file || line != tt.line || col != tt.col {
			t.Errorf("locate(%q) = %s:%d:%d, want %s:%d:%d", tt.path, file, line, col, tt.file, tt.line, tt.col)
		}
	}
}

func TestErrorAt(t *testing.T) {
	s := mustSources(t, []string{"stacks/shop/compose.yml"}, "services:\n  web:\n    deploy:\n      replicas: three\n")
	got := s.errorAt("services.web.deploy.replicas", `must be an integer, got "three"`).Error()
	want := `stacks/shop/compose.yml:4:17: services.web.deploy.replicas: must be an integer, got "three"`
	if got != want {
		t.Errorf("errorAt:\n got %s\nwant %s", got, want)
	}
}

func TestSplitPath(t *testing.T) {
	tests := map[string]string{
		"services.web.deploy.replicas":        "services|web|deploy|replicas",
		"services.web.volumes[1]":             "services|web|volumes|1",
		"services[web].secrets[0].mode":       "services|web|secrets|0|mode",
		"services.web.environment.[]":         "services|web|environment|[]",
		"services.web.labels[com.example.a]":  "services|web|labels|com.example.a",
		"":                                    "",
		"services..web":                       "services|web",
		"services.web.ports[":                 "services|web|ports[",
		"services.web.deploy.labels.a.b[2].c": "services|web|deploy|labels|a|b|2|c",
	}
	for in, want := range tests {
		if got := strings.Join(splitPath(in), "|"); got != want {
			t.Errorf("splitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewSourcesErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", `c.yml:1: the file is empty: a compose file needs at least a services: mapping`},
		{"only comments", "# nothing here\n\n# still nothing\n", `c.yml:1: the file is empty: a compose file needs at least a services: mapping`},
		{"top level list", "- web\n- db\n", `c.yml:1:1: the top level must be a mapping of keys such as services: and networks:, got a list`},
		{"top level scalar", "services\n", `c.yml:1:1: the top level must be a mapping of keys such as services: and networks:, got "services"`},
		{"bad indentation", "services:\n  web:\n    image: x\n   ports: []\n",
			`c.yml:4:4: invalid YAML: did not find expected key (while parsing a block mapping at line 2, column 3): check this line's indentation against the lines above it`},
		{"colon in value", "services:\n  web:\n    command: echo a: b\n",
			`c.yml:3:20: invalid YAML: mapping values are not allowed in this context: check the indentation, or quote a value that contains ": "`},
		{"tab", "services:\n\tweb:\n",
			`c.yml:2: invalid YAML: found character that cannot start any token (while scanning for the next token at line 2): indent with spaces; YAML does not allow tabs`},
		{"unclosed flow", "services:\n  web:\n    ports: [80\n",
			`c.yml:4: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 3, column 12): `},
		{"unknown anchor", "services:\n  web: *nope\n",
			`c.yml:2:8: invalid YAML: unknown anchor 'nope' referenced: define the anchor (&name) before it is used (*name)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSources([]string{"c.yml"}, [][]byte{[]byte(tt.content)})
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("newSources = %v, want one error", err)
			}
			if got := list[0].Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("newSources:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestNewSourcesReportsEveryFile(t *testing.T) {
	_, err := newSources([]string{"a.yml", "b.yml", "c.yml"}, [][]byte{
		[]byte("services:\n  web: [\n"),
		[]byte("services:\n  web:\n    image: ok\n"),
		[]byte("services:\n  - x\n  y: 1\n"),
	})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("newSources = %v, want an ErrorList", err)
	}
	if len(list) != 2 || list[0].File != "a.yml" || list[1].File != "c.yml" || list[0].Line == 0 || list[1].Line == 0 {
		t.Errorf("want one positioned error for a.yml and one for c.yml, got:\n%v", err)
	}
}

func TestNewSourcesReadsDisk(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: nginx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := newSources([]string{file}, nil)
	if err != nil {
		t.Fatalf("newSources: %v", err)
	}
	if f, line, col := s.locate("services.web.image"); f != file || line != 3 || col != 12 {
		t.Errorf("locate = %s:%d:%d, want %s:3:12", f, line, col, file)
	}

	missing := filepath.Join(dir, "missing.yml")
	_, err = newSources([]string{missing}, nil)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].File != missing || !strings.Contains(list[0].Msg, "cannot read the file") {
		t.Errorf("newSources(missing) = %v, want a cannot-read error naming the file", err)
	}
}

func mustSources(t *testing.T, files []string, contents ...string) *sources {
	t.Helper()
	bs := make([][]byte, len(contents))
	for i, c := range contents {
		bs[i] = []byte(c)
	}
	s, err := newSources(files, bs)
	if err != nil {
		t.Fatalf("newSources: %v", err)
	}
	return s
}
