package stackspec

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// checkLines runs check on one file and returns each error as a line.
func checkLines(t *testing.T, file, content string, env map[string]string) []string {
	t.Helper()
	s := mustSources(t, []string{file}, content)
	var lines []string
	for _, e := range s.check(env) {
		lines = append(lines, e.Error())
	}
	return lines
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	const file = `version: "3.8"
x-defaults: &defaults
  restart_policy:
    condition: always
services:
  web:
    image: nginx
    deploy:
      mode: replicatd
      replicas: three
      replica: 2
      update_config:
        parallelism: ${PARALLEL}
        delay: 10 seconds
      resources:
        limits:
          memory: lots
    ports:
      - "80:80"
      - "abc:80"
      - target: 80
        publshed: 8080
    environment:
      A: ${DB_PASSWORD:?set the database password}
      B: "${BAD"
    stop_grace_period: [1]
    healthcheck:
      retries: many
    networks: [front, 3]
  db:
    <<: *defaults
    image: postgres
    imgae: typo
    volumes:
      - "data:/var/lib:rw:extra:x"
    secrets:
      - source: s
        mode: rw
  "bad name":
    image: x
networks:
  front:
    external: maybe
servics: {}
`
	got := checkLines(t, "stacks/shop/compose.yml", file, map[string]string{"PARALLEL": "two"})
	sameLines(t, got, []string{
		// Inherited through the merge: placed where the anchor writes it.
		`stacks/shop/compose.yml:3:3: services.db.restart_policy: unknown key "restart_policy": custom keys must start with x-`,
		`stacks/shop/compose.yml:9:13: services.web.deploy.mode: must be one of: replicated, global, replicated-job, global-job (got "replicatd", did you mean "replicated"?)`,
		`stacks/shop/compose.yml:10:17: services.web.deploy.replicas: must be an integer, got "three"`,
		`stacks/shop/compose.yml:11:7: services.web.deploy.replica: unknown key "replica" (did you mean "replicas"?)`,
		`stacks/shop/compose.yml:13:22: services.web.deploy.update_config.parallelism: must be an integer, got "two" (from "${PARALLEL}")`,
		`stacks/shop/compose.yml:14:16: services.web.deploy.update_config.delay: must be a duration such as 10s, 1m30s or 500ms, got "10 seconds"`,
		`stacks/shop/compose.yml:17:19: services.web.deploy.resources.limits.memory: must be a size such as 512m, 2g or a number of bytes, got "lots"`,
		`stacks/shop/compose.yml:20:9: services.web.ports.1: invalid port "abc:80" (invalid hostPort: abc): write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], such as "8080:80" or "53:53/udp"`,
		`stacks/shop/compose.yml:22:9: services.web.ports.2.publshed: unknown key "publshed" (did you mean "published"?)`,
		`stacks/shop/compose.yml:24:10: services.web.environment.A: required variable DB_PASSWORD is missing a value: set the database password`,
		`stacks/shop/compose.yml:25:10: services.web.environment.B: invalid interpolation format in "${BAD": write a literal $ as $$`,
		`stacks/shop/compose.yml:26:5: services.web.stop_grace_period: must be a string, got a list`,
		`stacks/shop/compose.yml:28:16: services.web.healthcheck.retries: must be an integer, got "many"`,
		`stacks/shop/compose.yml:29:23: services.web.networks.1: must be a string, got 3`,
		`stacks/shop/compose.yml:33:5: services.db.imgae: unknown key "imgae" (did you mean "image"?)`,
		`stacks/shop/compose.yml:35:9: services.db.volumes.0: invalid volume "data:/var/lib:rw:extra:x" (invalid spec: data:/var/lib:rw:extra:x: too many colons): write SOURCE:TARGET[:MODE], such as "data:/var/lib/data" or "./conf:/etc/app:ro"`,
		`stacks/shop/compose.yml:38:15: services.db.secrets.0.mode: must be an octal file mode such as 0440, got "rw"`,
		`stacks/shop/compose.yml:39:3: services.bad name: invalid name "bad name": use only letters, digits, ".", "_" and "-"`,
		`stacks/shop/compose.yml:43:15: networks.front.external: must be true or false, got "maybe"`,
		`stacks/shop/compose.yml:44:1: servics: unknown key "servics" (did you mean "services"?)`,
	})
}

// TestCheckIssueExample reproduces the example of issue 3 exactly. The value
// is written on its own line there, which is where the error points.
func TestCheckIssueExample(t *testing.T) {
	const file = `# the shop: a web tier in front of its database
version: "3.8"
services:
  web:
    image: nginx:1.25
    ports:
      - "80:80"
    networks:
      - front
    deploy:
     mode: replicated
     endpoint_mode: vip
     replicas:
      three
networks:
  front: {}
`
	got := checkLines(t, "stacks/shop/compose.yml", file, nil)
	sameLines(t, got, []string{`stacks/shop/compose.yml:14:7: services.web.deploy.replicas: must be an integer, got "three"`})
}

func TestCheckInterpolation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "unset variables become empty, as Docker does",
			yaml: "services:\n  web:\n    image: ${REGISTRY}nginx:${TAG}\n    environment:\n      - A=$UNSET\n      - B=${UNSET2-}\n",
		},
		{
			name: "defaults and escapes",
			yaml: "services:\n  web:\n    image: ${IMAGE:-nginx}\n    command: echo $$HOME ${X:+set}\n    deploy:\n      replicas: ${N:-2}\n",
		},
		{
			name: "required variable with a message",
			yaml: "services:\n  web:\n    image: ${IMAGE:?name the image to run}\n",
			want: []string{`c.yml:3:12: services.web.image: required variable IMAGE is missing a value: name the image to run`},
		},
		{
			name: "required variable without a message",
			yaml: "services:\n  web:\n    image: nginx\n    environment:\n      - TOKEN=${TOKEN?}\n",
			want: []string{`c.yml:5:9: services.web.environment.0: required variable TOKEN is missing a value: set TOKEN in the environment or the .env file`},
		},
		{
			name: "required and empty",
			yaml: "services:\n  web:\n    image: ${IMAGE:?}\n",
			env:  map[string]string{"IMAGE": ""},
			want: []string{`c.yml:3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE in the environment or the .env file`},
		},
		{
			name: "set required variable",
			yaml: "services:\n  web:\n    image: ${IMAGE:?}\n",
			env:  map[string]string{"IMAGE": "nginx"},
		},
		{
			name: "invalid format",
			yaml: "services:\n  web:\n    image: nginx\n    command: echo ${HOME\n",
			want: []string{`c.yml:4:14: services.web.command: invalid interpolation format in "echo ${HOME": write a literal $ as $$`},
		},
		{
			name: "an unset variable where a number is needed fails, as in compose-go",
			yaml: "services:\n  web:\n    image: nginx\n    deploy:\n      replicas: ${REPLICAS}\n",
			want: []string{`c.yml:5:17: services.web.deploy.replicas: must be an integer, got "" (from "${REPLICAS}")`},
		},
		{
			name: "interpolated numbers and booleans",
			yaml: "services:\n  web:\n    image: nginx\n    read_only: ${RO}\n    deploy:\n      replicas: ${N}\n      resources:\n        limits:\n          cpus: ${CPUS}\nnetworks:\n  front:\n    external: ${EXT}\n",
			env:  map[string]string{"RO": "yes", "N": "3", "CPUS": "0.5", "EXT": "false"},
		},
		{
			name: "an error inside an anchor is reported once, where it is written",
			yaml: "x-env: &env\n  A: ${A:?needed}\nservices:\n  web:\n    image: nginx\n    environment: *env\n  api:\n    image: api\n    environment: *env\n",
			want: []string{`c.yml:2:6: services.api.environment.A: required variable A is missing a value: needed`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameLines(t, checkLines(t, "c.yml", tt.yaml, tt.env), tt.want)
		})
	}
}

func TestCheckYAMLDetails(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "duplicate keys",
			yaml: "services:\n  web:\n    image: a\n    image: b\n",
			want: []string{`c.yml:4:5: services.web.image: key "image" is already set at line 3: remove one of them`},
		},
		{
			name: "a key read as a number",
			yaml: "services:\n  web:\n    image: a\n    sysctls:\n      1: x\n",
			want: []string{`c.yml:5:7: services.web.sysctls.1: key 1 is read as a number, not a string: quote it ("1")`},
		},
		{
			name: "reset and override tags",
			yaml: "services:\n  web:\n    image: a\n    ports: !reset []\n    command: !override echo\n",
		},
		{
			name: "infinite numbers",
			yaml: "services:\n  web:\n    image: a\n    deploy:\n      resources:\n        limits:\n          cpus: .inf\n",
			want: []string{`c.yml:7:17: services.web.deploy.resources.limits.cpus: must be a finite number, got .inf`},
		},
		{
			name: "merge of a scalar",
			yaml: "x-a: &a hello\nservices:\n  web:\n    <<: *a\n    image: a\n",
			want: []string{`c.yml:4:9: services.web: a merge (<<) takes a mapping or a list of mappings, such as *defaults`},
		},
		{
			name: "an override fragment without image is valid on its own",
			yaml: "version: '3.3'\nservices:\n  elasticsearch:\n    environment:\n      ES_JAVA_OPTS: -Xms1g\n    ports: ['9200:9200']\n",
		},
		{
			name: "a value no alternative accepts",
			yaml: "services:\n  web:\n    image: a\n    ports: [[80]]\n    gpus: some\n",
			want: []string{
				`c.yml:4:13: services.web.ports.0: must be a number, a string or a mapping, got a list`,
				`c.yml:5:11: services.web.gpus: must be "all" or a list, got "some"`,
			},
		},
		{
			name: "missing required key and repeated item",
			yaml: "services:\n  web:\n    image: a\n    cap_add: [NET_ADMIN, NET_ADMIN]\n    volumes:\n      - target: /x\n",
			want: []string{
				`c.yml:4:26: services.web.cap_add.1: repeats item 0 of the list: remove one`,
				`c.yml:6:9: services.web.volumes.0: missing required key "type"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameLines(t, checkLines(t, "c.yml", tt.yaml, nil), tt.want)
		})
	}
}

// TestCheckRealStacks checks every shared stack file on its own. The
// environment is empty: the stacks that use ${VAR} without a default get an
// empty string, as `docker stack deploy` gives them (with a warning).
func TestCheckRealStacks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(sharedStacksDir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files in %s (%v): the tests need /work/shared/stacks beside the repository", sharedStacksDir, err)
	}
	for _, file := range files {
		s, err := newSources([]string{file}, nil)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		if errs := s.check(map[string]string{}); errs != nil {
			t.Errorf("%s: check reported:\n%v", filepath.Base(file), errs)
		}
	}
}

// TestCheckAgreesWithComposeGo keeps check from rejecting what compose-go
// accepts: each input has one mistake, which compose-go also refuses,
// unless it is one that only Docker refuses (when compose-go would pass it
// on and Docker fail on it later).
func TestCheckAgreesWithComposeGo(t *testing.T) {
	tests := []struct {
		yaml       string
		want       string
		dockerOnly bool
	}{
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      replicas: three\n", want: `c.yml:5:17: services.web.deploy.replicas: must be an integer, got "three"`},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      replica: 3\n", want: `c.yml:5:7: services.web.deploy.replica: unknown key "replica" (did you mean "replicas"?)`},
		{yaml: "services:\n  web:\n    image: a\n    stop-grace-period: 10s\n", want: `c.yml:4:5: services.web.stop-grace-period: unknown key "stop-grace-period" (did you mean "stop_grace_period"?)`},
		{yaml: "services:\n  web:\n    image: a\n    stop_grace_period: 10 seconds\n", want: `c.yml:4:24: services.web.stop_grace_period: must be a duration such as 10s, 1m30s or 500ms, got "10 seconds"`},
		{yaml: "services:\n  web:\n    image: a\n    mem_limit: lots\n", want: `c.yml:4:16: services.web.mem_limit: must be a size such as 512m, 2g or a number of bytes, got "lots"`},
		{yaml: "services:\n  web:\n    image: a\n    ports: [\"80:80:80:80\"]\n", want: `c.yml:4:13: services.web.ports.0: invalid port "80:80:80:80" (invalid IP address: 80:80): write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], such as "8080:80" or "53:53/udp"`},
		{yaml: "services:\n  web:\n    image: a\n    volumes: [\"\"]\n", want: `c.yml:4:15: services.web.volumes.0: invalid volume "" (invalid empty volume spec): write SOURCE:TARGET[:MODE], such as "data:/var/lib/data" or "./conf:/etc/app:ro"`},
		{yaml: "services:\n  web:\n    image: a\n    secrets:\n      - source: s\n        mode: rw\nsecrets:\n  s:\n    file: ./s\n", want: `c.yml:6:15: services.web.secrets.0.mode: must be an octal file mode such as 0440, got "rw"`},
		{yaml: "services:\n  web:\n    image: a\n    privileged: maybe\n", want: `c.yml:4:17: services.web.privileged: must be true or false, got "maybe"`},
		{yaml: "services:\n  web:\n    image: [a]\n", want: `c.yml:3:5: services.web.image: must be a string, got a list`},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      update_config:\n        order: last-first\n", want: `c.yml:6:16: services.web.deploy.update_config.order: must be one of: start-first, stop-first (got "last-first")`},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      mode: replicatd\n", want: `c.yml:5:13: services.web.deploy.mode: must be one of: replicated, global, replicated-job, global-job (got "replicatd", did you mean "replicated"?)`, dockerOnly: true},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      endpoint_mode: dns\n", want: `c.yml:5:22: services.web.deploy.endpoint_mode: must be one of: vip, dnsrr (got "dns")`, dockerOnly: true},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      restart_policy:\n        condition: always\n", want: `c.yml:6:20: services.web.deploy.restart_policy.condition: must be one of: none, on-failure, any (got "always")`, dockerOnly: true},
		{yaml: "services:\n  web:\n    image: a\n    deploy:\n      update_config:\n        failure_action: stop\n", want: `c.yml:6:25: services.web.deploy.update_config.failure_action: must be one of: continue, pause, rollback (got "stop")`, dockerOnly: true},
	}
	for _, tt := range tests {
		got := checkLines(t, "c.yml", tt.yaml, nil)
		sameLines(t, got, []string{tt.want})
		err := loadWithComposeGo(t, tt.yaml, nil)
		if !tt.dockerOnly && err == nil {
			t.Errorf("compose-go accepts what check rejects:\n%s", tt.yaml)
		}
		if tt.dockerOnly && err != nil {
			t.Errorf("compose-go rejects %q itself (%v): it is no longer a Docker-only rule", tt.want, err)
		}
	}
}

// loadWithComposeGo loads one file with compose-go, as Load does, and
// returns its error.
func loadWithComposeGo(t *testing.T, yaml string, env map[string]string) error {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	_, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "c.yml", Content: []byte(yaml)}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("test", true)
		o.ResolvePaths = false
	})
	return err
}

// TestWrapComposeGoErrors feeds compose-go's own errors to wrap, so that a
// compose-go upgrade that changes a message shows here.
func TestWrapComposeGoErrors(t *testing.T) {
	tests := []struct {
		yaml string
		env  map[string]string
		want []string
	}{
		{"services:\n  web:\n    image: a\n    deploy:\n      replicas: three\n", nil,
			[]string{`c.yml:5:17: services.web.deploy.replicas: must be an integer, got "three"`}},
		{"services:\n  web:\n    image: a\n    deploy:\n      replicas: [1]\n", nil,
			[]string{`c.yml:5:7: services.web.deploy.replicas: must be an integer or a string, got a list`}},
		{"services:\n  web:\n    image: a\n    deploy:\n      replica: 1\n", nil,
			[]string{`c.yml:5:7: services.web.deploy.replica: unknown key "replica" (did you mean "replicas"?)`}},
		{"services:\n  web:\n    image: a\n    imgae: 1\n", nil,
			[]string{`c.yml:4:5: services.web.imgae: unknown key "imgae" (did you mean "image"?)`}},
		{"x: 1\nservices:\n  web:\n    image: a\n", nil,
			[]string{`c.yml:1:1: x: unknown key "x": custom keys must start with x-`}},
		{"services:\n  web:\n    image: a\n    environment:\n      - A=1\n      - B=${NOPE:?need it}\n", nil,
			[]string{`c.yml:6:9: services.web.environment.1: required variable NOPE is missing a value: need it`}},
		{"services:\n  web:\n    image: a\n    environment:\n      - A=${NOPE\n", nil,
			[]string{`c.yml:5:9: services.web.environment.0: invalid interpolation format in "A=${NOPE": write a literal $ as $$`}},
		{"services:\n  web:\n    image: a\n    read_only: maybe\n    cpus: many\n", nil,
			[]string{
				`c.yml:4:16: services.web.read_only: must be true or false, got "maybe"`,
				`c.yml:5:11: services.web.cpus: must be a number, got "many"`,
			}},
		{"services:\n  web:\n    image: a\n    networks: [back, front]\nnetworks:\n  back: {}\n", nil,
			[]string{`c.yml:4:22: services.web.networks.1: undefined network "front": declare it under the top-level networks: key`}},
		{"services:\n  web:\n    image: a\n    networks:\n      front:\n        aliases: [w]\n", nil,
			[]string{`c.yml:5:7: services.web.networks.front: undefined network "front": declare it under the top-level networks: key`}},
		{"services:\n  web:\n    image: a\n    secrets:\n      - source: s\n", nil,
			[]string{`c.yml:5:9: services.web.secrets.0: undefined secret "s": declare it under the top-level secrets: key`}},
		{"services:\n  web:\n    image: a\n    configs: [c]\n", nil,
			[]string{`c.yml:4:15: services.web.configs.0: undefined config "c": declare it under the top-level configs: key`}},
		{"services:\n  web:\n    image: a\n    volumes: [\"./x:/x\", \"data:/data\"]\n", nil,
			[]string{`c.yml:4:25: services.web.volumes.1: undefined volume "data": declare it under the top-level volumes: key`}},
		{"services:\n  web:\n    image: a\n    depends_on: [db]\n", nil,
			[]string{`c.yml:4:18: services.web.depends_on.0: depends on undefined service "db": define it under services: or remove the dependency`}},
		{"services:\n  web:\n    environment: [A=1]\n", nil,
			[]string{`c.yml:2:3: services.web: has no image: set image: to the image the service runs`}},
		{"services:\n  web:\n    image: a\n    network_mode: host\n    networks: [default]\n", nil,
			[]string{`c.yml:4:19: services.web.network_mode: network_mode and networks cannot both be set: keep one`}},
		{"services:\n  web:\n    image: a\n    stop_grace_period: 10 seconds\n", nil,
			[]string{`c.yml:4:24: services.web.stop_grace_period: must be a duration such as 10s, 1m30s or 500ms, got "10 seconds"`}},
		{"services:\n  web:\n    image: a\n    deploy:\n      resources:\n        limits:\n          memory: lots\n", nil,
			[]string{`c.yml:7:19: services.web.deploy.resources.limits.memory: must be a size such as 512m, 2g or a number of bytes, got "lots"`}},
		{"services:\n  web:\n    image: a\n    configs:\n      - source: c\n        mode: rw\nconfigs:\n  c:\n    file: ./c\n", nil,
			[]string{`c.yml:6:15: services.web.configs.0.mode: must be an octal file mode such as 0440, got "rw"`}},
		{"services:\n  web:\n    image: a\n    ports: [\"8080:80\", \"abc:80\"]\n", nil,
			[]string{`c.yml:4:24: services.web.ports.1: invalid port (invalid hostPort: abc): write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], such as "8080:80" or "53:53/udp"`}},
		{"services:\n  web:\n    image: a\n    deploy:\n      replicas: -1\n", nil,
			[]string{`c.yml:5:17: services.web.deploy.replicas: must be greater than or equal to 0`}},
		{"services:\n  web:\n    image: a\nsecrets:\n  s: {}\n", nil,
			[]string{`c.yml:5:3: secrets.s: one of file|environment must be set`}},
		{"services:\n  web:\n    image: a\n    labels:\n      1: a\n", nil,
			[]string{`c.yml:4:5: services.web.labels: key 1 is not a string: quote it`}},
		{"services:\n  web:\n    image: a\n    image: b\n", nil,
			[]string{`c.yml:4: invalid YAML: key "image" is already set at line 3: remove one of them`}},
		{"services:\n  web:\n    image: a\n   bad: [\n", nil,
			[]string{`c.yml:4:4: invalid YAML: did not find expected key (while parsing a block mapping at line 2, column 3): check this line's indentation against the lines above it`}},
	}
	for _, tt := range tests {
		err := loadWithComposeGo(t, tt.yaml, tt.env)
		if err == nil {
			t.Errorf("compose-go accepted:\n%s", tt.yaml)
			continue
		}
		s := mustSourcesLoose([]string{"c.yml"}, tt.yaml)
		var got []string
		for _, e := range s.wrap(err) {
			got = append(got, e.Error())
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("wrap(%q):\n got:\n  %s\nwant:\n  %s", err, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
		}
	}
}

// TestWrapMessageForms covers the forms that are hard to make compose-go
// produce, and the errors wrap must leave alone.
func TestWrapMessageForms(t *testing.T) {
	const file = "services:\n  web:\n    image: a\n    secrets:\n      - source: s\n        mode: rw\n    volumes:\n      - /a:/x\n      - /b:/x\n"
	s := mustSources(t, []string{"c.yml"}, file)
	positioned := &Error{File: "c.yml", Line: 9, Path: "x", Msg: "already placed"}
	tests := []struct {
		err  error
		want []string
	}{
		{errors.New("decoding failed due to the following error(s):\n\n'services[web].secrets[0].mode' strconv.ParseInt: parsing \"rw\": invalid syntax"),
			[]string{`c.yml:6:15: services.web.secrets.0.mode: must be an octal file mode such as 0440, got "rw"`}},
		{errors.New("services.web.volumes[1]: target /x already mounted as services.web.volumes[0]"),
			[]string{`c.yml:9:9: services.web.volumes.1: target /x already mounted as services.web.volumes[0]`}},
		{errors.New("cannot override services.web.image"),
			[]string{`c.yml:3:12: services.web.image: cannot be overridden by a later file: set it in one file only`}},
		{fmt.Errorf("validating other.yml: %w", errors.New("services.web.secrets.0 missing property 'target'")),
			[]string{`c.yml:5:9: services.web.secrets.0: missing required key "target"`}},
		{errors.Join(
			errors.New("error while interpolating services.web.image: required variable A is missing a value"),
			errors.New("dependency cycle detected: a -> b -> a"),
		), []string{
			`c.yml:1:1: dependency cycle detected: a -> b -> a`,
			`c.yml:3:12: services.web.image: required variable A is missing a value: set A in the environment or the .env file`,
		}},
		{fmt.Errorf("load stack: %w", errors.New("services.web.image: must not be empty")),
			[]string{`c.yml:3:12: services.web.image: must not be empty`}},
		{errors.New("service \"web\" refers to undefined network front: invalid compose project"),
			[]string{`c.yml:2:3: services.web.networks: undefined network "front": declare it under the top-level networks: key`}},
		{ErrorList{positioned}, []string{positioned.Error()}},
		{positioned, []string{positioned.Error()}},
		{errors.New("something compose-go says\nover two lines: invalid compose project"),
			[]string{`c.yml:1:1: something compose-go says over two lines`}},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range s.wrap(tt.err) {
			got = append(got, e.Error())
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("wrap(%q):\n got:\n  %s\nwant:\n  %s", tt.err, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
		}
	}
	if s.wrap(nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
}

func TestWrapOverrideNamesTheRightFile(t *testing.T) {
	base := "services:\n  web:\n    image: a\n    deploy:\n      replicas: 2\n"
	override := "services:\n  web:\n    deploy:\n      replica: 3\n"
	s := mustSources(t, []string{"base.yml", "override.yml"}, base, override)
	err := fmt.Errorf("validating override.yml: %w", errors.New("services.web.deploy additional properties 'replica' not allowed"))
	got := s.wrap(err).Error()
	want := `override.yml:4:7: services.web.deploy.replica: unknown key "replica" (did you mean "replicas"?)`
	if got != want {
		t.Errorf("wrap:\n got %s\nwant %s", got, want)
	}
}

func TestErrorListSorted(t *testing.T) {
	l := ErrorList{
		{File: "b.yml", Line: 2, Path: "p", Msg: "m"},
		{File: "a.yml", Line: 9, Column: 3, Path: "q", Msg: "m"},
		{File: "a.yml", Line: 9, Column: 1, Path: "q", Msg: "m"},
		{File: "b.yml", Line: 2, Path: "other.path", Msg: "m"}, // the same place and message: once
		{File: "z.yml", Msg: "no line"},
		{File: "a.yml", Line: 9, Column: 1, Path: "q", Msg: "m"},
		{Msg: "no file"},
	}
	var got []string
	for _, e := range l.sorted([]string{"b.yml", "a.yml"}) {
		got = append(got, e.Error())
	}
	sameLines(t, got, []string{
		"b.yml:2: other.path: m",
		"a.yml:9:1: q: m",
		"a.yml:9:3: q: m",
		"no file",
		"z.yml: no line",
	})
	if ErrorList(nil).sorted(nil) != nil {
		t.Error("an empty list sorts to a non-nil list")
	}
}

// mustSourcesLoose is mustSources for YAML that may not parse: compose-go's
// syntax errors are wrapped against what did.
func mustSourcesLoose(files []string, contents ...string) *sources {
	bs := make([][]byte, len(contents))
	for i, c := range contents {
		bs[i] = []byte(c)
	}
	s, _ := newSources(files, bs)
	return s
}
