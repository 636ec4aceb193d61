package stackspec

import (
	"maps"
	"strings"
	"testing"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
)

func TestConvertSwarmopsDriver(t *testing.T) {
	got := serviceOf(t, inlineStack{yaml: serviceYAML("    x-swarmops:\n      driver: exec\n")}.convert(t), "web")
	if d := got.TaskTemplate.ContainerSpec.Labels[api.LabelDriver]; d != "exec" {
		t.Fatalf("container label %s = %q, want exec", api.LabelDriver, d)
	}
	plain := serviceOf(t, inlineStack{yaml: serviceYAML("")}.convert(t), "web")
	if _, ok := plain.TaskTemplate.ContainerSpec.Labels[api.LabelDriver]; ok {
		t.Fatalf("a service without x-swarmops got a driver label: %v", plain.TaskTemplate.ContainerSpec.Labels)
	}
}

// gateLabelsOf is the service's health-gate labels, nothing else.
func gateLabelsOf(labels map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range gateLabels {
		if v, ok := labels[l]; ok {
			out[l] = v
		}
	}
	return out
}

func TestConvertSwarmopsHealthGates(t *testing.T) {
	tests := []struct {
		name    string
		keys    string
		environ map[string]string
		want    map[string]string
	}{
		{"none", "", nil, map[string]string{}},
		{"all, as Go durations", "    x-swarmops:\n      min_healthy_time: 10s\n      healthy_deadline: 5m\n      progress_deadline: 1h\n      auto_rollback: true\n", nil,
			map[string]string{deploy.LabelMinHealthyTime: "10s", deploy.LabelHealthyDeadline: "5m0s", deploy.LabelProgressDeadline: "1h0m0s", deploy.LabelAutoRollback: "true"}},
		{"compose units and zero", "    x-swarmops:\n      progress_deadline: 1d\n      min_healthy_time: 0\n      auto_rollback: false\n", nil,
			map[string]string{deploy.LabelProgressDeadline: "24h0m0s", deploy.LabelMinHealthyTime: "0s", deploy.LabelAutoRollback: "false"}},
		{"from variables", "    x-swarmops:\n      min_healthy_time: ${MIN}\n      auto_rollback: ${AUTO:-true}\n", map[string]string{"MIN": "1m30s"},
			map[string]string{deploy.LabelMinHealthyTime: "1m30s", deploy.LabelAutoRollback: "true"}},
		{"the service's own block wins over its label", "    deploy:\n      labels:\n        com.swarmops.update.auto-rollback: \"false\"\n    x-swarmops:\n      auto_rollback: true\n", nil,
			map[string]string{deploy.LabelAutoRollback: "true"}},
		{"a label written by hand", "    deploy:\n      labels:\n        com.swarmops.update.min-healthy-time: 20s\n", nil,
			map[string]string{deploy.LabelMinHealthyTime: "20s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys), environ: tt.environ}.convert(t), "web")
			if got := gateLabelsOf(svc.Labels); !maps.Equal(got, tt.want) {
				t.Errorf("health-gate labels %v, want %v", got, tt.want)
			}
			if svc.Labels[api.LabelNamespace] == "" {
				t.Errorf("the stack's own labels were lost: %v", svc.Labels)
			}
		})
	}
}

func TestConvertSwarmopsStackDefaults(t *testing.T) {
	spec := inlineStack{yaml: `x-swarmops:
  driver: exec
  min_healthy_time: 10s
  auto_rollback: true
services:
  plain:
    image: a
  own:
    image: b
    x-swarmops:
      driver: docker
      min_healthy_time: 30s
  labelled:
    image: c
    labels:
      com.swarmops.driver: docker
    deploy:
      labels:
        com.swarmops.update.auto-rollback: "false"
`}.convert(t)
	tests := []struct {
		service, driver string
		gates           map[string]string
	}{
		{"plain", "exec", map[string]string{deploy.LabelMinHealthyTime: "10s", deploy.LabelAutoRollback: "true"}},
		{"own", "docker", map[string]string{deploy.LabelMinHealthyTime: "30s", deploy.LabelAutoRollback: "true"}},
		{"labelled", "docker", map[string]string{deploy.LabelMinHealthyTime: "10s", deploy.LabelAutoRollback: "false"}},
	}
	for _, tt := range tests {
		svc := serviceOf(t, spec, tt.service)
		if d := svc.TaskTemplate.ContainerSpec.Labels[api.LabelDriver]; d != tt.driver {
			t.Errorf("%s: driver %q, want %q", tt.service, d, tt.driver)
		}
		if got := gateLabelsOf(svc.Labels); !maps.Equal(got, tt.gates) {
			t.Errorf("%s: health-gate labels %v, want %v", tt.service, got, tt.gates)
		}
	}
}

func TestConvertSwarmopsErrors(t *testing.T) {
	for keys, want := range map[string]struct{ path, msg string }{
		"    x-swarmops:\n      driver: podman\n":          {"services.web.x-swarmops.driver", "unknown driver podman: use one of docker, exec"},
		"    x-swarmops:\n      drivr: exec\n":             {"services.web.x-swarmops.drivr", `unknown key "drivr": x-swarmops knows auto_rollback, healthy_deadline, min_healthy_time, progress_deadline and driver`},
		"    x-swarmops: exec\n":                           {"services.web.x-swarmops", "must be a mapping"},
		"    x-swarmops:\n      min_healthy_time: ten\n":   {"services.web.x-swarmops.min_healthy_time", `"ten" is not a duration: write one such as 10s or 1m30s`},
		"    x-swarmops:\n      min_healthy_time: 10\n":    {"services.web.x-swarmops.min_healthy_time", `"10" is not a duration`},
		"    x-swarmops:\n      healthy_deadline: -5s\n":   {"services.web.x-swarmops.healthy_deadline", "must not be negative, got -5s"},
		"    x-swarmops:\n      progress_deadline: [1m]\n": {"services.web.x-swarmops.progress_deadline", "must be a duration such as 10s or 1m30s, not a list"},
		"    x-swarmops:\n      auto_rollback: yes\n":      {"services.web.x-swarmops.auto_rollback", `must be true or false, got "yes"`},
		"    x-swarmops:\n      auto_rollback: 1\n":        {"services.web.x-swarmops.auto_rollback", "must be true or false, got 1"},
		"    deploy:\n      labels:\n        com.swarmops.update.healthy-deadline: 1d\n": {"services.web.deploy.labels.com.swarmops.update.healthy-deadline",
			`"1d" is not a Go duration: write one such as 10s or 1m30s, or set x-swarmops.healthy_deadline instead`},
		"    x-swarmops:\n      min_healthy_time: 1m\n      healthy_deadline: 30s\n": {"services.web.x-swarmops.healthy_deadline",
			"healthy_deadline 30s must be longer than min_healthy_time 1m0s"},
		"    x-swarmops:\n      healthy_deadline: 5m\n      progress_deadline: 5m\n": {"services.web.x-swarmops.progress_deadline",
			"progress_deadline 5m0s must be longer than healthy_deadline 5m0s"},
	} {
		wantErrorAt(t, inlineStack{yaml: serviceYAML(keys)}.convertErr(t), want.path, want.msg)
	}
}

func TestConvertSwarmopsStackErrors(t *testing.T) {
	errs := inlineStack{yaml: "x-swarmops:\n  min_healthy_time: soon\n  colour: red\nservices:\n  web:\n    image: a\n  api:\n    image: b\n"}.convertErr(t)
	wantErrorAt(t, errs, "x-swarmops.min_healthy_time", `"soon" is not a duration`)
	wantErrorAt(t, errs, "x-swarmops.colour", `unknown key "colour"`)
	if len(errs) != 2 {
		t.Errorf("a bad stack-level block is reported once, not once per service: %v", errs)
	}
	for _, e := range errs {
		if e.Path == "x-swarmops.min_healthy_time" && (e.Line != 2 || e.Column != 21) {
			t.Errorf("error placed at %d:%d, want the value at 2:21", e.Line, e.Column)
		}
	}

	// A default that conflicts with a service's own value is reported
	// where the service's value is written.
	errs = inlineStack{yaml: "x-swarmops:\n  min_healthy_time: 1m\nservices:\n  web:\n    image: a\n    x-swarmops:\n      healthy_deadline: 45s\n"}.convertErr(t)
	wantErrorAt(t, errs, "services.web.x-swarmops.healthy_deadline", "must be longer than min_healthy_time 1m0s")

	errs = inlineStack{yaml: "x-swarmops: [driver]\nservices:\n  web:\n    image: a\n"}.convertErr(t)
	wantErrorAt(t, errs, "x-swarmops", "must be a mapping, e.g. {driver: exec} or {min_healthy_time: 10s}, not a list")
}

func TestConvertWarnsOfShortMonitor(t *testing.T) {
	const hc = "    healthcheck:\n      test: [CMD, /probe]\n"
	tests := []struct {
		name string
		keys string
		want string // a part of the one warning; "" for none
	}{
		{"no healthcheck", "", ""},
		{"disabled", "    healthcheck:\n      disable: true\n", ""},
		{"inherited from the image", "    healthcheck:\n      interval: 1m\n", ""},
		{"Docker's defaults", hc,
			"service web: update_config.monitor 5s is shorter than the 1m30s its healthcheck may take to report a failure (start_period 0s + interval 30s × retries 3): a release that fails later counts as a success; set monitor (or x-swarmops.min_healthy_time) to 1m30s or more"},
		{"start period counts", hc + "      interval: 10s\n      retries: 2\n      start_period: 40s\n",
			"shorter than the 1m0s its healthcheck may take to report a failure (start_period 40s + interval 10s × retries 2)"},
		{"long enough monitor", hc + "      interval: 10s\n    deploy:\n      update_config:\n        monitor: 30s\n", ""},
		{"short monitor", hc + "      interval: 10s\n    deploy:\n      update_config:\n        monitor: 29s\n", "update_config.monitor 29s is shorter than the 30s"},
		{"min_healthy_time makes up the rest", hc + "      interval: 10s\n    x-swarmops:\n      min_healthy_time: 25s\n", ""},
		{"min_healthy_time too short", hc + "      interval: 10s\n    x-swarmops:\n      min_healthy_time: 20s\n",
			"update_config.monitor 5s plus x-swarmops.min_healthy_time 20s is shorter than the 30s its healthcheck may take to report a failure (start_period 0s + interval 10s × retries 3): a release that fails later counts as a success; raise monitor or min_healthy_time so that together they make 30s or more"},
		{"job", hc + "    deploy:\n      mode: replicated-job\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := inlineStack{yaml: serviceYAML(tt.keys)}.convert(t)
			var got []string
			for _, w := range spec.Warnings {
				if strings.Contains(w, "healthcheck") {
					got = append(got, w)
				}
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("warnings %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestConvertSwarmopsMergesAcrossFiles(t *testing.T) {
	spec := inlineStack{
		yaml:  "x-swarmops:\n  min_healthy_time: 10s\n  auto_rollback: true\nservices:\n  web:\n    image: a\n    x-swarmops:\n      healthy_deadline: 1m\n",
		extra: []string{"x-swarmops:\n  min_healthy_time: 20s\nservices:\n  web:\n    x-swarmops:\n      progress_deadline: 5m\n"},
	}.convert(t)
	want := map[string]string{deploy.LabelMinHealthyTime: "20s", deploy.LabelAutoRollback: "true",
		deploy.LabelHealthyDeadline: "1m0s", deploy.LabelProgressDeadline: "5m0s"}
	if got := gateLabelsOf(serviceOf(t, spec, "web").Labels); !maps.Equal(got, want) {
		t.Errorf("health-gate labels %v, want %v (a later file overrides key by key)", got, want)
	}

	errs := inlineStack{
		yaml:  "x-swarmops:\n  min_healthy_time: 10s\nservices:\n  web:\n    image: a\n",
		extra: []string{"x-swarmops:\n  min_healthy_time: bad\n"},
	}.convertErr(t)
	wantErrorAt(t, errs, "x-swarmops.min_healthy_time", `"bad" is not a duration`)
	if len(errs) != 1 || !strings.HasSuffix(errs[0].File, "overridea.yml") || errs[0].Line != 2 {
		t.Errorf("the error belongs to the override's line 2: %v", errs)
	}
}
