package scheduler

import (
	"fmt"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// benchCluster builds m nodes over three zones and n pending tasks in
// services of perService replicas, a quarter of them spreading over zones,
// a quarter reserving CPU and memory, a quarter constrained to a label,
// a tenth limited to two replicas a node.
func benchCluster(n, m, perService int) ([]*swarm.Node, []*swarm.Task, map[string]*swarm.Service) {
	nodes := make([]*swarm.Node, m)
	for i := range nodes {
		tier := "web"
		if i%2 == 0 {
			tier = "db"
		}
		nodes[i] = node(fmt.Sprintf("node%05d", i), capacity(16, 64*gib), labels("zone", fmt.Sprint(i%3), "tier", tier))
	}
	services := map[string]*swarm.Service{}
	var pending []*swarm.Task
	for s := 0; len(pending) < n; s++ {
		var opts []svcOpt
		switch s % 4 {
		case 0:
			opts = append(opts, spread("node.labels.zone"))
		case 1:
			opts = append(opts, reserve(0.1, 128<<20))
		case 2:
			opts = append(opts, constraints("node.labels.tier==web", "node.role!=manager"))
		}
		if s%10 == 9 {
			opts = append(opts, maxReplicas(2))
		}
		svc := service(fmt.Sprintf("svc%05d", s), opts...)
		services[svc.ID] = svc
		pending = append(pending, tasks(svc, min(perService, n-len(pending)))...)
	}
	return nodes, pending, services
}

// BenchmarkSchedule places every task of a fresh cluster in one call:
// tasks and nodes grown together, then tasks alone on 1,000 nodes, then
// nodes alone under 10,000 tasks, then one service of 10,000 replicas.
func BenchmarkSchedule(b *testing.B) {
	for _, size := range []struct{ tasks, nodes, perService int }{
		{1_000, 100, 20},
		{10_000, 1_000, 20},
		{50_000, 5_000, 20},
		{1_000, 1_000, 20},
		{50_000, 1_000, 20},
		{10_000, 100, 20},
		{10_000, 5_000, 20},
		{10_000, 1_000, 10_000},
	} {
		name := fmt.Sprintf("tasks=%d/nodes=%d/replicas=%d", size.tasks, size.nodes, size.perService)
		b.Run(name, func(b *testing.B) {
			nodes, pending, services := benchCluster(size.tasks, size.nodes, size.perService)
			b.ReportAllocs()
			for b.Loop() {
				ds, us := Schedule(nodes, nil, pending, services)
				if len(ds) != size.tasks {
					b.Fatalf("placed %d of %d tasks (first refusal: %v)", len(ds), size.tasks, us[:min(1, len(us))])
				}
			}
			b.ReportMetric(float64(size.tasks*b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
