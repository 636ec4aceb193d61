package stackspec

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// BenchmarkConvert loads and converts every shared stack (with its
// fixtures) per iteration: the work the reconciler does for a repository of
// real stack files on each new commit. Stacks Docker rejects are loaded to
// their error, as the reconciler would.

func BenchmarkConvert(b *testing.B) {
	stacks := sharedStacks(b)
	opts := make([]Options, len(stacks))
	for i, s := range stacks {
		_, opts[i] = s.stage(b)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, o := range opts {
			loaded, err := Load(ctx, o)
			if err != nil {
				continue
			}
			_, _ = Convert(loaded) // a rejected stack costs its error, as in the reconciler

		}
	}
	b.ReportMetric(float64(len(opts)), "stacks/op")
}

// BenchmarkDigest hashes every service of the shared stacks per iteration:
// the cost of deciding whether a commit changed anything.
func BenchmarkDigest(b *testing.B) {
	var services []swarm.ServiceSpec
	for _, s := range sharedStacks(b) {
		_, o := s.stage(b)
		loaded, err := Load(context.Background(), o)
		if err != nil {
			continue
		}
		spec, err := Convert(loaded)
		if err != nil {
			continue // a stack Docker rejects has nothing to hash
		}
		for _, svc := range spec.Services {
			services = append(services, svc)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, svc := range services {
			Digest(svc)
		}
	}
	b.ReportMetric(float64(len(services)), "services/op")
}
