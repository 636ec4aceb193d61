package stackspec

import (
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

func ptrTo[T any](v T) *T { return &v }

// serviceYAML wraps the keys of one service "web" (indented four spaces
// in the literal) into a stack file.
func serviceYAML(keys string) string {
	return "services:\n  web:\n    image: nginx:1\n" + keys
}

func TestConvertMode(t *testing.T) {
	tests := []struct {
		name string
		keys string
		want swarm.ServiceMode
	}{
		{"no deploy section", "", swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}},
		{"replicas", "    deploy:\n      replicas: 3\n", swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptrTo[uint64](3)}}},
		{"zero replicas", "    deploy:\n      mode: replicated\n      replicas: 0\n", swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptrTo[uint64](0)}}},
		{"global", "    deploy:\n      mode: global\n", swarm.ServiceMode{Global: &swarm.GlobalService{}}},
		{"replicated job", "    deploy:\n      mode: replicated-job\n      replicas: 2\n", swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: ptrTo[uint64](2), TotalCompletions: ptrTo[uint64](2)}}},
		{"replicated job without replicas", "    deploy:\n      mode: replicated-job\n", swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}},
		{"global job", "    deploy:\n      mode: global-job\n", swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys)}.convert(t), "web").Mode
			sameJSONish(t, "mode", got, tt.want)
		})
	}
}

func TestConvertModeRejectsReplicasOnGlobal(t *testing.T) {
	for _, mode := range []string{"global", "global-job"} {
		errs := inlineStack{yaml: serviceYAML("    deploy:\n      mode: " + mode + "\n      replicas: 2\n")}.convertErr(t)
		wantErrorAt(t, errs, "services.web.deploy.replicas", "takes no replicas")
	}
}

func TestConvertUpdateAndRollbackConfig(t *testing.T) {
	svc := serviceOf(t, inlineStack{yaml: serviceYAML(`    deploy:
      update_config:
        parallelism: 2
        delay: 10s
        failure_action: rollback
        monitor: 1m
        max_failure_ratio: 0.5
        order: start-first
      rollback_config:
        delay: 5s
`)}.convert(t), "web")
	sameJSONish(t, "update config", svc.UpdateConfig, &swarm.UpdateConfig{
		Parallelism: 2, Delay: 10 * time.Second, FailureAction: "rollback",
		Monitor: time.Minute, MaxFailureRatio: 0.5, Order: "start-first",
	})
	// Docker sends a parallelism of 1 when the file sets none.
	sameJSONish(t, "rollback config", svc.RollbackConfig, &swarm.UpdateConfig{Parallelism: 1, Delay: 5 * time.Second})

	plain := serviceOf(t, inlineStack{yaml: serviceYAML("")}.convert(t), "web")
	if plain.UpdateConfig != nil || plain.RollbackConfig != nil {
		t.Errorf("update/rollback config without a section = %+v / %+v, want nil", plain.UpdateConfig, plain.RollbackConfig)
	}
}

func TestConvertRestartPolicy(t *testing.T) {
	tests := []struct {
		name string
		keys string
		want *swarm.RestartPolicy
	}{
		{"none given", "", nil},
		{"deploy.restart_policy", "    deploy:\n      restart_policy:\n        condition: on-failure\n        delay: 5s\n        max_attempts: 3\n        window: 2m\n",
			&swarm.RestartPolicy{Condition: "on-failure", Delay: ptrTo(5 * time.Second), MaxAttempts: ptrTo[uint64](3), Window: ptrTo(2 * time.Minute)}},
		{"restart_policy without condition", "    deploy:\n      restart_policy:\n        delay: 600s\n",
			&swarm.RestartPolicy{Delay: ptrTo(600 * time.Second)}},
		{"restart: always", "    restart: always\n", &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}},
		{"restart: unless-stopped", "    restart: unless-stopped\n", &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}},
		{"restart: on-failure", "    restart: on-failure\n", &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: ptrTo[uint64](0)}},
		{"restart: on-failure:5", "    restart: on-failure:5\n", &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: ptrTo[uint64](5)}},
		{"restart: no", "    restart: \"no\"\n", nil},
		{"restart_policy wins over restart", "    restart: always\n    deploy:\n      restart_policy:\n        condition: none\n", &swarm.RestartPolicy{Condition: "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys)}.convert(t), "web").TaskTemplate.RestartPolicy
			sameJSONish(t, "restart policy", got, tt.want)
		})
	}
}

func TestConvertRestartPolicyErrors(t *testing.T) {
	for keys, msg := range map[string]string{
		"    restart: sometimes\n":    "unknown restart policy",
		"    restart: on-failure:x\n": "must be an integer",
		"    restart: \":3\"\n":       "no policy before the colon",
	} {
		wantErrorAt(t, inlineStack{yaml: serviceYAML(keys)}.convertErr(t), "services.web.restart", msg)
	}
}

func TestConvertHealthcheck(t *testing.T) {
	tests := []struct {
		name string
		keys string
		want *container.HealthConfig
	}{
		{"none", "", nil},
		{"string test runs in a shell", "    healthcheck:\n      test: curl -f http://localhost\n",
			&container.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost"}}},
		{"list test and every duration", `    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 10s
      timeout: 3s
      retries: 5
      start_period: 30s
      start_interval: 1s
`, &container.HealthConfig{Test: []string{"CMD", "pg_isready"}, Interval: 10 * time.Second, Timeout: 3 * time.Second,
			Retries: 5, StartPeriod: 30 * time.Second, StartInterval: time.Second}},
		{"disable", "    healthcheck:\n      disable: true\n", &container.HealthConfig{Test: []string{"NONE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys)}.convert(t), "web").TaskTemplate.ContainerSpec.Healthcheck
			sameJSONish(t, "healthcheck", got, tt.want)
		})
	}
	errs := inlineStack{yaml: serviceYAML("    healthcheck:\n      test: [\"CMD\", \"true\"]\n      disable: true\n")}.convertErr(t)
	wantErrorAt(t, errs, "services.web.healthcheck.disable", "takes no test")
}

func TestConvertEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		keys    string
		environ map[string]string
		files   map[string]string
		want    []string
	}{
		{"sorted", "    environment:\n      Z: last\n      A: first\n      M: \"1\"\n", nil, nil, []string{"A=first", "M=1", "Z=last"}},
		{"list form", "    environment:\n      - B=2\n      - A=1\n", nil, nil, []string{"A=1", "B=2"}},
		{"a bare name takes the host's value", "    environment:\n      - TOKEN\n", map[string]string{"TOKEN": "s3cret"}, nil, []string{"TOKEN=s3cret"}},
		{"a bare name the host lacks stays bare", "    environment:\n      - TOKEN\n", nil, nil, []string{"TOKEN"}},
		{"a null value takes the host's value", "    environment:\n      TOKEN:\n", map[string]string{"TOKEN": "x"}, nil, []string{"TOKEN=x"}},
		{"an empty value takes the host's value, as Docker does", "    environment:\n      - TOKEN=\n", map[string]string{"TOKEN": "x"}, nil, []string{"TOKEN=x"}},
		{"an empty value stays empty without one", "    environment:\n      - TOKEN=\n", nil, nil, []string{"TOKEN="}},
		{"numbers and booleans become text", "    environment:\n      N: 5\n      F: 1.5\n      B: true\n", nil, nil, []string{"B=true", "F=1.5", "N=5"}},
		{"env_file under environment", "    env_file: [a.env]\n    environment:\n      A: mine\n", nil, map[string]string{"a.env": "A=file\nB=file\n"}, []string{"A=mine", "B=file"}},
		{"later env files win", "    env_file: [a.env, b.env]\n", nil, map[string]string{"a.env": "A=a\nB=a\n", "b.env": "B=b\n"}, []string{"A=a", "B=b"}},
		{"env files are read as Docker reads them", "    env_file: a.env\n", map[string]string{"BARE": "from-host", "EMPTY": "from-host", "HOME": "/root"},
			map[string]string{"a.env": "# comment\n  Q=\"quoted\"\nD=$HOME\nT=trailing  \nBARE\nMISSING\nEMPTY=\n"},
			[]string{"BARE=from-host", "D=$HOME", "EMPTY=from-host", "Q=\"quoted\"", "T=trailing  "}},
		{"a missing optional env file is skipped", "    env_file:\n      - path: none.env\n        required: false\n", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys), environ: tt.environ, files: tt.files}.convert(t), "web").TaskTemplate.ContainerSpec.Env
			if !slices.Equal(got, tt.want) {
				t.Errorf("env = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConvertCommandAndEntrypoint(t *testing.T) {
	tests := []struct {
		name              string
		keys              string
		wantCmd, wantArgs []string
	}{
		{"entrypoint is Command, command is Args", "    entrypoint: [\"/bin/sh\", \"-c\"]\n    command: [\"echo hi\"]\n", []string{"/bin/sh", "-c"}, []string{"echo hi"}},
		{"strings split like a shell", "    entrypoint: /docker-entrypoint.sh --verbose\n    command: sh -c 'a && b' \"c d\"\n",
			[]string{"/docker-entrypoint.sh", "--verbose"}, []string{"sh", "-c", "a && b", "c d"}},
		{"&& and ; are words, as Docker splits", "    command: kong migrations bootstrap && kong migrations up; echo done\n",
			nil, []string{"kong", "migrations", "bootstrap", "&&", "kong", "migrations", "up;", "echo", "done"}},
		{"neither", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys)}.convert(t), "web").TaskTemplate.ContainerSpec
			if !slices.Equal(cs.Command, tt.wantCmd) || !slices.Equal(cs.Args, tt.wantArgs) {
				t.Errorf("Command %q Args %q, want %q %q", cs.Command, cs.Args, tt.wantCmd, tt.wantArgs)
			}
		})
	}
	errs := inlineStack{yaml: serviceYAML("    command: echo 'unclosed\n")}.loadErr(t)
	wantErrorAt(t, errs, "services.web.command", "")
}

func TestConvertContainerFields(t *testing.T) {
	cs := serviceOf(t, inlineStack{yaml: serviceYAML(`    user: "1000:1000"
    working_dir: /app
    hostname: web-1
    stop_grace_period: 1m30s
    stop_signal: SIGINT
    init: true
    read_only: true
    tty: true
    stdin_open: true
    isolation: default
    oom_score_adj: -500
    sysctls:
      - net.core.somaxconn=1024
    dns: 8.8.8.8
    dns_search: [example.com]
    cap_add: [net_admin, CAP_SYS_TIME, NET_ADMIN, chown]
    cap_drop: [chown, mknod]
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    extra_hosts:
      - "somehost:162.242.195.82"
      - "otherhost=50.31.209.229"
      - "v6host:[::1]"
`)}.convert(t), "web").TaskTemplate.ContainerSpec
	if cs.User != "1000:1000" || cs.Dir != "/app" || cs.Hostname != "web-1" || cs.StopSignal != "SIGINT" {
		t.Errorf("user %q dir %q hostname %q stop signal %q", cs.User, cs.Dir, cs.Hostname, cs.StopSignal)
	}
	sameJSONish(t, "stop grace period", cs.StopGracePeriod, ptrTo(90*time.Second))
	sameJSONish(t, "init", cs.Init, ptrTo(true))
	if !cs.ReadOnly || !cs.TTY || !cs.OpenStdin || cs.Isolation != "default" || cs.OomScoreAdj != -500 {
		t.Errorf("read only %v tty %v stdin %v isolation %q oom %d", cs.ReadOnly, cs.TTY, cs.OpenStdin, cs.Isolation, cs.OomScoreAdj)
	}
	sameJSONish(t, "sysctls", cs.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	sameJSONish(t, "dns", cs.DNSConfig, &swarm.DNSConfig{Nameservers: []string{"8.8.8.8"}, Search: []string{"example.com"}})
	sameJSONish(t, "cap_add", cs.CapabilityAdd, []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_TIME"})
	sameJSONish(t, "cap_drop (cap_add wins)", cs.CapabilityDrop, []string{"CAP_MKNOD"})
	sameJSONish(t, "ulimits", cs.Ulimits, []*container.Ulimit{
		{Name: "nofile", Soft: 20000, Hard: 40000},
		{Name: "nproc", Soft: 65535, Hard: 65535},
	})
	sameJSONish(t, "hosts", cs.Hosts, []string{"162.242.195.82 somehost", "50.31.209.229 otherhost", "::1 v6host"})
	sameJSONish(t, "privileges", cs.Privileges, &swarm.Privileges{})
}

func TestConvertCapabilitiesAll(t *testing.T) {
	add, drop := effectiveCapabilities([]string{"all", "net_admin"}, []string{"ALL"})
	if !slices.Equal(add, []string{"ALL"}) || drop != nil {
		t.Errorf("add %q drop %q, want [ALL] and nothing dropped", add, drop)
	}
	add, drop = effectiveCapabilities(nil, []string{"all", "chown"})
	if add != nil || !slices.Equal(drop, []string{"ALL"}) {
		t.Errorf("add %q drop %q, want nothing added and [ALL] dropped", add, drop)
	}
}

func TestConvertExtraHostsMappingIsSorted(t *testing.T) {
	cs := serviceOf(t, inlineStack{yaml: serviceYAML("    extra_hosts:\n      zeta: 10.0.0.2\n      alpha: 10.0.0.1\n")}.convert(t), "web").TaskTemplate.ContainerSpec
	sameJSONish(t, "hosts", cs.Hosts, []string{"10.0.0.1 alpha", "10.0.0.2 zeta"})
}

func TestConvertLogging(t *testing.T) {
	svc := serviceOf(t, inlineStack{yaml: serviceYAML("    logging:\n      driver: gelf\n      options:\n        gelf-address: udp://1.2.3.4:12201\n")}.convert(t), "web")
	sameJSONish(t, "log driver", svc.TaskTemplate.LogDriver, &swarm.Driver{Name: "gelf", Options: map[string]string{"gelf-address": "udp://1.2.3.4:12201"}})
	svc = serviceOf(t, inlineStack{yaml: serviceYAML("    logging:\n      options:\n        max-size: 1m\n")}.convert(t), "web")
	sameJSONish(t, "options without a driver", svc.TaskTemplate.LogDriver, &swarm.Driver{Options: map[string]string{"max-size": "1m"}})
	if got := serviceOf(t, inlineStack{yaml: serviceYAML("")}.convert(t), "web").TaskTemplate.LogDriver; got != nil {
		t.Errorf("log driver without logging = %+v, want nil", got)
	}
}

func TestConvertPlacement(t *testing.T) {
	svc := serviceOf(t, inlineStack{yaml: serviceYAML(`    deploy:
      placement:
        constraints: [node.role == manager, "node.labels.zone==a"]
        preferences:
          - spread: node.labels.zone
        max_replicas_per_node: 2
`)}.convert(t), "web")
	sameJSONish(t, "placement", svc.TaskTemplate.Placement, &swarm.Placement{
		Constraints: []string{"node.role == manager", "node.labels.zone==a"},
		Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}},
		MaxReplicas: 2,
	})
	empty := serviceOf(t, inlineStack{yaml: serviceYAML("")}.convert(t), "web")
	sameJSONish(t, "placement without a section", empty.TaskTemplate.Placement, &swarm.Placement{Preferences: []swarm.PlacementPreference{}})
}

func TestConvertImageTagging(t *testing.T) {
	tests := []struct{ image, want string }{
		{"redis", "redis:latest"},
		{"redis:7", "redis:7"},
		{"registry.example.com:5000/team/app", "registry.example.com:5000/team/app:latest"},
		{"nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000", "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			svc := serviceOf(t, inlineStack{yaml: "services:\n  web:\n    image: " + tt.image + "\n"}.convert(t), "web")
			if got := svc.TaskTemplate.ContainerSpec.Image; got != tt.want {
				t.Errorf("image = %q, want %q", got, tt.want)
			}
			if got := svc.Labels["com.docker.stack.image"]; got != tt.image {
				t.Errorf("image label = %q, want the file's %q", got, tt.image)
			}
		})
	}
}

func TestConvertCredentialSpec(t *testing.T) {
	svc := serviceOf(t, inlineStack{yaml: serviceYAML(`    credential_spec:
      config: gmsa
configs:
  gmsa:
    file: ./gmsa.json
`), files: map[string]string{"gmsa.json": "{}"}}.convert(t), "web")
	cs := svc.TaskTemplate.ContainerSpec
	sameJSONish(t, "credential spec", cs.Privileges.CredentialSpec, &swarm.CredentialSpec{Config: "shop_gmsa"})
	sameJSONish(t, "config references", cs.Configs, []*swarm.ConfigReference{{ConfigName: "shop_gmsa", Runtime: &swarm.ConfigReferenceRuntimeTarget{}}})

	errs := inlineStack{yaml: serviceYAML("    credential_spec:\n      file: a.json\n      registry: x\n")}.convertErr(t)
	wantErrorAt(t, errs, "services.web.credential_spec", "set only one")
}

func TestConvertEnvFileErrors(t *testing.T) {
	errs := inlineStack{yaml: serviceYAML("    env_file: [ok.env, bad.env, none.env]\n"), files: map[string]string{"ok.env": "A=1\n", "bad.env": "MY VAR=1\n"}}.loadErr(t)
	wantErrorAt(t, errs, "services.web.env_file.1", "holds a blank")
	wantErrorAt(t, errs, "services.web.env_file.2", "no such file")
}
