package dockertruth

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmops/swarmops/api"
)

func TestPathRoundTrip(t *testing.T) {
	for _, p := range []Path{
		{"services", "s001_web", "TaskTemplate", "Networks", "[0]", "Target"},
		{"services", "s001_web", "Labels", "com.docker.stack.image"},
		{"networks", "n", "Options", `odd"key]`},
		{"configs", ""},
	} {
		got, err := ParsePath(p.String())
		if err != nil {
			t.Fatalf("ParsePath(%s): %v", p, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("ParsePath(%s) = %#v, want %#v", p, got, p)
		}
	}
	if got := (Path{"a", "b.c", "[2]", "d"}).String(); got != `a["b.c"][2].d` {
		t.Errorf("String = %s", got)
	}
}

func generic(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

func TestCompare(t *testing.T) {
	left := Objects{Services: generic(t, `{"s_web": {"Name": "s_web", "Labels": {"a.b": "1"}, "TaskTemplate": {"Placement": {}, "Env": ["A=1", "B=2"]}, "Mode": {"Replicated": {"Replicas": 0}}}}`)}
	right := Objects{Services: generic(t, `{"s_web": {"Name": "s_web", "Labels": {"a.b": "2"}, "TaskTemplate": {"Env": ["A=1"]}, "Mode": {"Replicated": {}}, "EndpointSpec": {"Mode": "vip"}}}`)}
	rules := []Rule{{Path: "services.*.EndpointSpec.Mode", When: unsetThen("vip"), Why: "test"}}
	diffs, err := Compare("c", left, right, rules)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diffs {
		s := d.Format("l", "r")
		if d.Rule != nil {
			s += " [" + d.Rule.Why + "]"
		}
		got = append(got, s)
	}
	want := []string{
		"services.s_web.EndpointSpec.Mode: l (absent), r \"vip\" [test]",
		`services.s_web.Labels["a.b"]: l "1", r "2"`,
		// Replicas 0 is not an absent count: it must show.
		"services.s_web.Mode.Replicated.Replicas: l 0, r (absent)",
		`services.s_web.TaskTemplate.Env[1]: l "B=2", r (absent)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compare:\ngot  %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestRuleLimitedToCases(t *testing.T) {
	left := Objects{Networks: generic(t, `{"n": {"Scope": ""}}`)}
	right := Objects{Networks: generic(t, `{"n": {"Scope": "swarm"}}`)}
	rules := []Rule{{Cases: []string{"other"}, Path: "networks.*.Scope", Why: "x"}}
	diffs, err := Compare("this", left, right, rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].Rule != nil {
		t.Errorf("a rule for another case explained %+v", diffs)
	}
}

func TestParseWarnings(t *testing.T) {
	stderr := `level=warning msg="ignoring IP-address (127.0.0.1:8001:8001/tcp) service will listen on '0.0.0.0'"
WARN[0000] The "X" variable is not set. Defaulting to a blank string.
level=warning msg="secret s: secret.external.name is deprecated in favor of secret.name"
Ignoring unsupported options: build, restart

Ignoring deprecated options:

container_name: Setting the container name is not supported.

expose: Exposing ports is unnecessary.

`
	want := []string{
		"ignoring IP-address (127.0.0.1:8001:8001/tcp) service will listen on '0.0.0.0'",
		`The "X" variable is not set. Defaulting to a blank string.`,
		"secret s: secret.external.name is deprecated in favor of secret.name",
		"Ignoring unsupported options: build, restart",
		"Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.\n\nexpose: Exposing ports is unnecessary.",
	}
	if got := ParseWarnings(stderr); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseWarnings:\ngot  %q\nwant %q", got, want)
	}
}

func TestCasesPairOverrides(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"001__a__base.yml", "002__a__base.override.yml", "003__b__other.yaml", "SOURCES.tsv"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("services: {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases, err := Cases(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cases {
		var files []string
		for _, f := range c.Files {
			files = append(files, filepath.Base(f))
		}
		got = append(got, c.Name+" "+c.Namespace+" "+strings.Join(files, ","))
	}
	want := []string{
		"001__a__base s001 001__a__base.yml",
		"002__a__base.override s002 002__a__base.override.yml",
		"001+002__a__base.override s001-002 001__a__base.yml,002__a__base.override.yml",
		"003__b__other s003 003__b__other.yaml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Cases:\ngot  %q\nwant %q", got, want)
	}
	if _, err := Cases(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Cases on a missing directory: %v", err)
	}
}

func TestStage(t *testing.T) {
	stacks, fixtures, dst := t.TempDir(), t.TempDir(), t.TempDir()
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(stacks, "001__a__base.yml"), "services: {}\n")
	write(filepath.Join(stacks, "002__a__base.override.yml"), "services: {}\n")
	write(filepath.Join(fixtures, "001__a__base", "conf", "x.conf"), "base\n")
	write(filepath.Join(fixtures, "001__a__base", "shared.conf"), "from base\n")
	write(filepath.Join(fixtures, "001__a__base", EnvFile), "# comment\nA=1\nB=x=y\n")
	write(filepath.Join(fixtures, "001__a__base", ExternalsFile), "secret s\nnetwork n\n")
	write(filepath.Join(fixtures, "002__a__base.override", "shared.conf"), "from override\n")
	write(filepath.Join(fixtures, "002__a__base.override", EnvFile), "A=2\n")
	cases, err := Cases(stacks)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Stage(cases[2], fixtures, dst)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "2", "B": "x=y"}; !reflect.DeepEqual(st.Env, want) {
		t.Errorf("Env = %v, want %v", st.Env, want)
	}
	if want := []External{{"network", "n"}, {"secret", "s"}}; !reflect.DeepEqual(st.Externals, want) {
		t.Errorf("Externals = %v, want %v", st.Externals, want)
	}
	for file, want := range map[string]string{"conf/x.conf": "base\n", "shared.conf": "from override\n", "001__a__base.yml": "services: {}\n"} {
		got, err := os.ReadFile(filepath.Join(dst, file))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
	for _, meta := range []string{EnvFile, ExternalsFile} {
		if _, err := os.Stat(filepath.Join(dst, meta)); err == nil {
			t.Errorf("%s was copied beside the stack", meta)
		}
	}
	if got := st.Scrub(`{"Source": "` + dst + `/conf"}`); got != `{"Source": "$STACKDIR/conf"}` {
		t.Errorf("Scrub = %s", got)
	}
}

// TestDaemonAddsAllUsed holds the DaemonAdds table to the recorded truth:
// every difference between what the CLI sent and what the engine reports
// is explained, and every rule explains something.
func TestDaemonAddsAllUsed(t *testing.T) {
	files, err := filepath.Glob("../../stackspec/testdata/docker/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no truth files in stackspec/testdata/docker (%v): run the e2e test with -update", err)
	}
	rules := DaemonAdds()
	used := make([]bool, len(rules))
	for _, f := range files {
		tr, err := ReadTruth(f)
		if err != nil {
			t.Fatal(err)
		}
		diffs, err := Compare(tr.Case, tr.Sent, tr.Inspected, rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffs {
			if d.Rule == nil {
				t.Errorf("%s: %s", tr.Case, d.Format("sent", "engine"))
				continue
			}
			for i := range rules {
				if &rules[i] == d.Rule {
					used[i] = true
				}
			}
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("DaemonAdds rule %s (%s) explains nothing: remove it", rules[i].Path, rules[i].Why)
		}
	}
}

func TestMarshalKeepsNumbersAndText(t *testing.T) {
	v, err := Decode([]byte(`{"b": 90000000000, "a": "<x>"}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": \"<x>\",\n  \"b\": 90000000000\n}\n"; string(data) != want {
		t.Errorf("Marshal = %q, want %q", data, want)
	}
	if _, ok := v.(map[string]any)["b"].(json.Number); !ok {
		t.Error("numbers do not decode as json.Number")
	}
}

func TestDockerErrorPath(t *testing.T) {
	for stderr, want := range map[string]string{
		"services.worker.depends_on must be a list\n":                                                      "services.worker.depends_on",
		"version mismatched between two composefiles : 3.7 and 3.3\n":                                      "version",
		"invalid image reference for service logstash: no image specified\n":                               "services.logstash",
		"unsupported Compose file version: 2\n":                                                            "version",
		"services.db.deploy.resources.limits.cpus must be a string\n":                                      "services.db.deploy.resources.limits.cpus",
		"service foo: replicas can only be used with replicated or replicated-job mode\n":                  "services.foo.deploy.replicas",
		"level=warning msg=\"x\"\nIgnoring unsupported options: build\n\nread $STACKDIR: is a directory\n": "",
	} {
		if got := DockerErrorPath(stderr); got != want {
			t.Errorf("DockerErrorPath(%q) = %q, want %q", stderr, got, want)
		}
	}
}

func TestCheckRejections(t *testing.T) {
	st := &Staged{Dir: t.TempDir()}
	rejected := &Truth{Rejected: true, Stderr: "services.worker.depends_on must be a list\n"}
	relaxed := []Relaxed{
		{Case: "other", Field: "services.*.depends_on", Accepts: true},
		{Case: "faulty", Field: "services.*.depends_on"},
		{Case: "clean", Field: "services.*.depends_on", Accepts: true},
		{Case: "elsewhere", Field: "services.*.image", Accepts: true},
	}
	for _, tc := range []struct {
		name, caseName string
		ours           Ours
		truth          *Truth
		want           int  // problems
		relaxed        bool // the report names a Relaxed entry
	}{
		{"both reject at the field", "c", Ours{Err: errors.New("x"), ErrPaths: []string{"services.worker.depends_on"}}, rejected, 0, false},
		{"ours names a field inside", "c", Ours{Err: errors.New("x"), ErrPaths: []string{"services.worker.depends_on.db"}}, rejected, 0, false},
		{"ours rejects elsewhere", "c", Ours{Err: errors.New("x"), ErrPaths: []string{"services.worker"}}, rejected, 1, false},
		{"ours accepts", "c", Ours{Spec: &api.StackSpec{}}, rejected, 1, false},
		{"docker accepts, ours rejects", "c", Ours{Err: errors.New("x")}, &Truth{}, 1, false},
		{"both accept, nothing differs", "c", Ours{Spec: &api.StackSpec{}}, &Truth{}, 0, false},
		{"relaxed, other faults: ours rejects elsewhere", "faulty", Ours{Err: errors.New("x"), ErrPaths: []string{"services.worker"}}, rejected, 0, true},
		{"relaxed, other faults: ours accepts", "faulty", Ours{Spec: &api.StackSpec{}}, rejected, 1, true},
		{"relaxed, nothing else wrong: ours accepts", "clean", Ours{Spec: &api.StackSpec{}}, rejected, 0, true},
		{"relaxed, nothing else wrong: ours rejects", "clean", Ours{Err: errors.New("x"), ErrPaths: []string{"services.worker.depends_on"}}, rejected, 1, true},
		{"an entry for another field does not apply", "elsewhere", Ours{Spec: &api.StackSpec{}}, rejected, 1, false},
	} {
		r, err := Check(tc.caseName, tc.ours, st, tc.truth, nil, relaxed)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) != tc.want {
			t.Errorf("%s: problems %q, want %d", tc.name, r.Problems, tc.want)
		}
		if (r.Relaxed != nil) != tc.relaxed {
			t.Errorf("%s: relaxed entry %+v, want one: %v", tc.name, r.Relaxed, tc.relaxed)
		}
	}
}
