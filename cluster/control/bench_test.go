package control

import (
	"context"
	"fmt"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// benchSnapshot is nodes nodes over three zones and services services of
// perService replicas each; a quarter of the services reserve resources,
// a quarter are constrained to a zone. With placed, every task exists and
// runs (the steady state); without, there are no tasks yet.
func benchSnapshot(nodes, services, perService int, placed bool) *Snapshot {
	snap := &Snapshot{}
	for i := range nodes {
		snap.Nodes = append(snap.Nodes, node(fmt.Sprintf("node%05d", i), label("zone", fmt.Sprint(i%3)), resources(16, 64<<30)))
	}
	for s := range services {
		var opts []svcOpt
		switch s % 4 {
		case 1:
			opts = append(opts, reserve(0.1, 64<<20))
		case 2:
			opts = append(opts, constraints(fmt.Sprintf("node.labels.zone==%d", s%3)))
		}
		sv := service(fmt.Sprintf("svc%05d", s), append(opts, replicas(uint64(perService)))...)
		snap.Services = append(snap.Services, sv)
		if !placed {
			continue
		}
		for r := range perService {
			n := (s*perService + r) % nodes
			if s%4 == 2 {
				n = n - n%3 + s%3
				if n >= nodes {
					n -= 3
				}
			}
			snap.Tasks = append(snap.Tasks, running(sv, fmt.Sprintf("t%05d.%d", s, r+1), r+1, snap.Nodes[n].ID, 0))
		}
	}
	return snap
}

// BenchmarkPass is one control pass, planning only (no store): enforce,
// orchestrate and schedule over 1k services and 10k tasks on 1k nodes.
func BenchmarkPass(b *testing.B) {
	b.Run("steady/services=1000/tasks=10000/nodes=1000", func(b *testing.B) {
		snap := benchSnapshot(1000, 1000, 10, true)
		b.ReportAllocs()
		for b.Loop() {
			groups, _ := Orchestrate(snap, t0, counter("x"))
			muts := Schedule(snap, t0)
			if len(groups)+len(muts) != 0 {
				b.Fatalf("steady state planned %d groups and %d placements", len(groups), len(muts))
			}
		}
	})
	b.Run("fresh/services=1000/tasks=10000/nodes=1000", func(b *testing.B) {
		snap := benchSnapshot(1000, 1000, 10, false)
		b.ReportAllocs()
		for b.Loop() {
			groups, _ := Orchestrate(snap, t0, counter("x"))
			withTasks := *snap
			withTasks.Tasks = nil
			for _, g := range groups {
				withTasks.Tasks = append(withTasks.Tasks, g[0].Object.(*swarm.Task))
			}
			muts := Schedule(&withTasks, t0)
			if len(withTasks.Tasks) != 10000 || len(muts) != 10000 {
				b.Fatalf("created %d tasks, placed %d", len(withTasks.Tasks), len(muts))
			}
		}
	})
}

// BenchmarkSettle is the whole shell from an empty cluster: read the store,
// plan, commit 10k creates and 10k assignments through an in-memory store
// (no Raft), and a quiet pass.
func BenchmarkSettle(b *testing.B) {
	snap := benchSnapshot(1000, 1000, 10, false)
	for b.Loop() {
		b.StopTimer()
		c := newCluster()
		var muts []store.Mutation
		for _, n := range snap.Nodes {
			muts = append(muts, store.Create(n))
		}
		for _, sv := range snap.Services {
			muts = append(muts, store.Create(sv))
		}
		if err := c.apply(muts...); err != nil {
			b.Fatal(err)
		}
		l, err := New(c.config())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := l.Settle(context.Background())
		if err != nil || !res.Settled || res.Committed != 20000 {
			b.Fatalf("%+v, %v", res, err)
		}
	}
}
