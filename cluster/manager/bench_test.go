package manager

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// BenchmarkRaftTaskUpdates measures task status updates committed through
// Raft on three managers in this process, over loopback mutual TLS, each
// fsyncing its log: the path the dispatcher's batched status reports take.
// The API has no route that writes tasks yet (agents report in the next
// issue), so this goes to the leader's Propose directly. One op is one
// batch, one log entry; tasks/s counts the tasks updated.
func BenchmarkRaftTaskUpdates(b *testing.B) {
	leader := benchCluster(b)
	const tasks = 1000
	ids := benchTasks(b, leader, tasks)

	for _, batch := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			next := 0
			for b.Loop() {
				muts := make([]store.Mutation, 0, batch)
				for range batch {
					muts = append(muts, benchTaskUpdate(leader, ids[next%tasks]))
					next++
				}
				benchPropose(b, leader, muts)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
	// Proposers in parallel, one task each per entry: raft pipelines
	// and batches their entries into fewer disk writes.
	b.Run("batch=1/proposers=16", func(b *testing.B) {
		var mu sync.Mutex
		next := 0
		take := func() string {
			mu.Lock()
			defer mu.Unlock()
			next++
			return ids[next%tasks]
		}
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := propose(leader, []store.Mutation{benchTaskUpdate(leader, take())}); err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
}

// benchCluster starts three managers and returns the leader.
func benchCluster(b *testing.B) *Manager {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m1, err := Init(ctx, InitConfig{Config: Config{DataDir: b.TempDir()}, Advertise: benchAddr(b), Hostname: "bench-1"})
	if err != nil {
		b.Fatalf("Init: %v", err)
	}
	b.Cleanup(func() { m1.Shutdown(context.Background()) })
	tokens, err := m1.JoinTokens()
	if err != nil {
		b.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		cfg := Config{DataDir: b.TempDir()}
		if _, err := JoinCluster(ctx, JoinConfig{Config: cfg, Remote: m1.Identity().Advertise, Token: tokens.Manager, Advertise: benchAddr(b), Hostname: fmt.Sprintf("bench-%d", i)}); err != nil {
			b.Fatalf("join manager %d: %v", i, err)
		}
		m, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Shutdown(context.Background()) })
		if err := m.JoinRaft(ctx, m1.Identity().Advertise); err != nil {
			b.Fatalf("join raft %d: %v", i, err)
		}
	}
	servers, err := m1.Raft().Servers()
	if err != nil || len(servers) != 3 {
		b.Fatalf("raft servers %v (%v), want 3", servers, err)
	}
	return m1
}

func benchAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// benchTasks creates a service and n of its tasks, in batches.
func benchTasks(b *testing.B, m *Manager, n int) []string {
	b.Helper()
	svc := &swarm.Service{ID: store.NewID(), Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "bench"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
	}}
	benchPropose(b, m, []store.Mutation{store.Create(svc)})
	ids := make([]string, n)
	var muts []store.Mutation
	for i := range ids {
		ids[i] = store.NewID()
		muts = append(muts, store.Create(&swarm.Task{
			ID: ids[i], ServiceID: svc.ID, Slot: i + 1, DesiredState: swarm.TaskStateRunning,
			Status: swarm.TaskStatus{State: swarm.TaskStateNew, Timestamp: time.Now()},
		}))
		if len(muts) == 100 {
			benchPropose(b, m, muts)
			muts = nil
		}
	}
	if len(muts) > 0 {
		benchPropose(b, m, muts)
	}
	return ids
}

// benchTaskUpdate reads a task and returns its update to a new status
// timestamp, at the version read. The tasks exist: a failed read is a bug
// and panics, which is safe from RunParallel's goroutines too.
func benchTaskUpdate(m *Manager, id string) store.Mutation {
	var t *swarm.Task
	if err := m.Store().View(func(tx store.ReadTx) error {
		var err error
		t, err = tx.Task(id)
		return err
	}); err != nil {
		panic(fmt.Sprintf("read task %s: %v", id, err))
	}
	next := *t
	next.Status.State = swarm.TaskStateRunning
	next.Status.Timestamp = time.Now()
	return store.Update(&next, t.Version.Index)
}

func benchPropose(b *testing.B, m *Manager, muts []store.Mutation) {
	if err := propose(m, muts); err != nil {
		b.Fatal(err)
	}
}

func propose(m *Manager, muts []store.Mutation) error {
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return err
	}
	if _, err := m.Propose(context.Background(), data); err != nil {
		return fmt.Errorf("propose %d mutations: %w", len(muts), err)
	}
	return nil
}
