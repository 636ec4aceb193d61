package api

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct{ a, b string }{{"1.9", "1.24"}, {"1.24", "1.41"}, {"1.41", "1.41.1"}, {"1", "1.0.1"}, {"3.3", "3.10"}} {
		if CompareVersions(c.a, c.b) >= 0 || CompareVersions(c.b, c.a) <= 0 {
			t.Errorf("%s should be older than %s", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{{"1.41", "1.41.0"}, {"3", "3.0"}, {"x", "0"}} {
		if CompareVersions(c.a, c.b) != 0 {
			t.Errorf("%s and %s should be equal", c.a, c.b)
		}
	}
}

func TestModeName(t *testing.T) {
	for want, m := range map[string]swarm.ServiceMode{
		"replicated":     {},
		"global":         {Global: &swarm.GlobalService{}},
		"replicated-job": {ReplicatedJob: &swarm.ReplicatedJob{}},
		"global-job":     {GlobalJob: &swarm.GlobalJob{}},
	} {
		if got := ModeName(m); got != want {
			t.Errorf("ModeName = %q, want %q", got, want)
		}
	}
}
