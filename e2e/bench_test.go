package e2e

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// The cluster benchmarks run three managers of the real binary on
// loopback with Raft's default timeouts. They measure; nothing asserts a
// duration. docs/bench.md has the commands and the numbers.

// BenchmarkClusterAPIWrites measures writes per second through the Engine
// API, each a Raft entry replicated to three managers and fsynced on
// each: POST /services/create from one client in turn and from sixteen at
// once, sent to the leader or to a follower that forwards them; and POST
// /configs/create, a write the API server does not serialise, for
// comparison.
func BenchmarkClusterAPIWrites(b *testing.B) {
	c := startClusterWith(b, clusterOptions{Managers: 3})
	leader := c.leader(b)
	follower := others(c.Managers, leader)[0]
	var seq atomic.Int64
	services := func(via *node) error {
		name := fmt.Sprintf("bench-%d", seq.Add(1))
		if _, err := c.createService(context.Background(), via, name); err != nil {
			return fmt.Errorf("create service %s via %s: %w", name, via.Name, err)
		}
		return nil
	}
	configs := func(via *node) error {
		name := fmt.Sprintf("bench-%d", seq.Add(1))
		spec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte(name)}
		if err := c.call(context.Background(), via, http.MethodPost, "/v1.41/configs/create", spec, nil); err != nil {
			return fmt.Errorf("create config %s via %s: %w", name, via.Name, err)
		}
		return nil
	}
	for _, bc := range []struct {
		name    string
		via     *node
		clients int
		write   func(*node) error
	}{
		{"services/leader/clients=1", leader, 1, services},
		{"services/leader/clients=16", leader, 16, services},
		{"services/follower/clients=1", follower, 1, services},
		{"services/follower/clients=16", follower, 16, services},
		{"configs/leader/clients=1", leader, 1, configs},
		{"configs/leader/clients=16", leader, 16, configs},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.clients == 1 {
				for b.Loop() {
					if err := bc.write(bc.via); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				b.SetParallelism(max(1, bc.clients/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := bc.write(bc.via); err != nil {
							b.Error(err) // not Fatal: this is not the benchmark's goroutine
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkClusterFailover kills the leader with SIGKILL and measures the
// time until a write through a surviving manager first succeeds: failure
// detection (the heartbeat timeout), the election, and the first commit.
// Between runs the killed manager is restarted and caught up, untimed.
// Run it with -benchtime=Nx for N failovers; it reports their median.
func BenchmarkClusterFailover(b *testing.B) {
	c := startClusterWith(b, clusterOptions{Managers: 3})
	var runs []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		leader := c.leader(b)
		survivor := others(c.Managers, leader)[0]
		c.WaitCaughtUp(b)
		b.StartTimer()

		start := time.Now()
		leader.kill()
		tick := time.NewTicker(5 * time.Millisecond)
		for n := 0; ; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := c.createService(ctx, survivor, fmt.Sprintf("failover-%d-%d", i, n))
			cancel()
			if err == nil {
				break
			}
			if time.Since(start) > electionTimeout {
				b.Fatalf("no write succeeded through %s %s after killing leader %s: %v", survivor.Name, electionTimeout, leader.Name, err)
			}
			<-tick.C
		}
		tick.Stop()
		d := time.Since(start)

		b.StopTimer()
		runs = append(runs, d)
		b.Logf("run %d: killed %s, first write through %s after %s", i, leader.Name, survivor.Name, d.Round(time.Millisecond))
		leader.restart(b)
		b.StartTimer()
		i++
	}
	slices.Sort(runs)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(runs[len(runs)/2]), "ms-median")
	b.ReportMetric(ms(runs[0]), "ms-min")
	b.ReportMetric(ms(runs[len(runs)-1]), "ms-max")
}
