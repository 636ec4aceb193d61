package stackspec

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestConvertResources(t *testing.T) {
	tests := []struct {
		name    string
		keys    string
		environ map[string]string
		want    *swarm.ResourceRequirements
	}{
		{"none: an empty structure, as Docker sends", "", nil, &swarm.ResourceRequirements{}},
		{"limits and reservations", `    deploy:
      resources:
        limits:
          cpus: "0.50"
          memory: 512M
          pids: 100
        reservations:
          cpus: "0.1"
          memory: 128M
          generic_resources:
            - discrete_resource_spec:
                kind: gpu
                value: 2
`, nil, &swarm.ResourceRequirements{
			Limits: &swarm.Limit{NanoCPUs: 500_000_000, MemoryBytes: 512 << 20, Pids: 100},
			Reservations: &swarm.Resources{NanoCPUs: 100_000_000, MemoryBytes: 128 << 20, GenericResources: []swarm.GenericResource{
				{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: "gpu", Value: 2}},
			}},
		}},
		{"interpolated cpus", "    deploy:\n      resources:\n        limits:\n          cpus: ${CPUS:-2}\n", nil,
			&swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 2_000_000_000}}},
		{"fractions stay exact", "    deploy:\n      resources:\n        limits:\n          cpus: \"0.333\"\n", nil,
			&swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 333_000_000}}},
		// Docker's version 3 schema wants a string; the compose
		// specification allows a number, and it means the same.
		{"cpus written as a number", "    deploy:\n      resources:\n        limits:\n          cpus: 0.50\n        reservations:\n          cpus: 2\n", nil,
			&swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 500_000_000}, Reservations: &swarm.Resources{NanoCPUs: 2_000_000_000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceOf(t, inlineStack{yaml: serviceYAML(tt.keys), environ: tt.environ}.convert(t), "web").TaskTemplate.Resources
			sameJSONish(t, "resources", got, tt.want)
		})
	}
}

func TestConvertResourceErrors(t *testing.T) {
	tests := []struct{ name, keys, path, msg string }{
		{"too fine", "    deploy:\n      resources:\n        limits:\n          cpus: \"0.0000000001\"\n",
			"services.web.deploy.resources.limits.cpus", "finer than a billionth"},
		{"devices", "    deploy:\n      resources:\n        reservations:\n          devices:\n            - capabilities: [gpu]\n",
			"services.web.deploy.resources.reservations.devices", "does not accept devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorAt(t, inlineStack{yaml: serviceYAML(tt.keys)}.convertErr(t), tt.path, tt.msg)
		})
	}
}

// TestLoadRefusesMemoryAsNumber pins the one resource type check kept from
// Docker's format: the compose specification wants a memory amount as a
// string too, and a bare number would count bytes.
func TestLoadRefusesMemoryAsNumber(t *testing.T) {
	errs := inlineStack{yaml: serviceYAML("    deploy:\n      resources:\n        reservations:\n          memory: 512\n")}.loadErr(t)
	wantErrorAt(t, errs, "services.web.deploy.resources.reservations.memory", "must be a string")
}
