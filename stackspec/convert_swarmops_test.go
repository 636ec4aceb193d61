package stackspec

import (
	"testing"

	"github.com/swarmops/swarmops/api"
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

func TestConvertSwarmopsErrors(t *testing.T) {
	for keys, want := range map[string]struct{ path, msg string }{
		"    x-swarmops:\n      driver: podman\n": {"services.web.x-swarmops.driver", "unknown driver podman: use one of docker, exec"},
		"    x-swarmops:\n      drivr: exec\n":    {"services.web.x-swarmops.drivr", `unknown key "drivr"`},
		"    x-swarmops: exec\n":                  {"services.web.x-swarmops", "must be a mapping"},
	} {
		wantErrorAt(t, inlineStack{yaml: serviceYAML(keys)}.convertErr(t), want.path, want.msg)
	}
}
