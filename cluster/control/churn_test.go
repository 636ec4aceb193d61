package control

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// churnCluster is n running tasks of service "web" over ten nodes, with
// the service already scaled to zero: the loop has n desired-state updates
// to commit.
func churnCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := newCluster()
	web := service("web", replicas(0))
	muts := []store.Mutation{store.Create(web)}
	for i := range 10 {
		muts = append(muts, store.Create(node(fmt.Sprintf("n%d", i))))
	}
	for i := range n {
		muts = append(muts, store.Create(running(web, fmt.Sprintf("w%04d", i), i+1, fmt.Sprintf("n%d", i%10), 0)))
	}
	c.write(t, muts...)
	return c
}

// bump re-reports the status of k tasks of web picked by rng, as agents'
// status reports reach the store through the dispatcher (a task told to go
// still reports until it stops); the caller holds c.mu.
func (c *cluster) bump(rng *rand.Rand, k, tasks int) {
	for range k {
		id := fmt.Sprintf("w%04d", rng.IntN(tasks))
		t, err := readTask(c.st, id)
		if err != nil {
			panic(err)
		}
		st := t.Status
		st.Timestamp = c.clock.Now()
		st.Message = fmt.Sprintf("re-reported at %d", c.index)
		if err := c.apply(store.SetTaskStatus(id, t.NodeID, st)); err != nil {
			panic(err)
		}
	}
}

func remaining(c *cluster, t *testing.T) int {
	return count(c.tasks(t, "web"), func(tk *swarm.Task) bool { return tk.DesiredState == swarm.TaskStateRunning })
}

// TestStatusChurnCannotLivelock lets k agent status updates land on the
// service's tasks while every proposal of the loop is in flight — harsher
// than agents, which report transitions only. Committing the scale-down as
// one batch would never succeed; with one group per task and refused
// batches bisected, every pass commits most of what is left.
func TestStatusChurnCannotLivelock(t *testing.T) {
	const tasks = 200
	t.Run("one batch of every update never commits", func(t *testing.T) {
		c := churnCluster(t, tasks)
		rng := rand.New(rand.NewPCG(1, 2))
		c.before = func() { c.bump(rng, 1, tasks) }
		l := c.loop(t)
		for range 20 {
			groups, _ := Orchestrate(c.snapshot(t), c.clock.Now(), counter("x"))
			var all []store.Mutation
			for _, g := range groups {
				all = append(all, g...)
			}
			if n, refused, err := l.propose(context.Background(), "test", [][]store.Mutation{all}); err != nil || n != 0 || refused != 1 {
				t.Fatalf("committed %d, refused %d, %v: the bump should always hit the whole batch", n, refused, err)
			}
		}
	})
	for _, k := range []int{1, 5, 20} {
		t.Run(fmt.Sprintf("%d updates per proposal", k), func(t *testing.T) {
			c := churnCluster(t, tasks)
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			c.before = func() { c.bump(rng, k, tasks) }
			l := c.loop(t)
			var settles, passes, conflicts int
			for remaining(c, t) > 0 {
				if settles++; settles > 20 {
					t.Fatalf("%d tasks still desired running after 20 Settles", remaining(c, t))
				}
				res, err := l.Settle(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				passes += res.Passes
				conflicts += res.Conflicts
			}
			t.Logf("%d tasks, %d updates per proposal: %d settles, %d passes, %d proposals, %d refused",
				tasks, k, settles, passes, c.proposals, conflicts)
		})
	}
}

// TestConcurrentStatusWriters runs the loop against writers that re-report
// task statuses as fast as they can, concurrently, and expects the
// scale-down to go through.
func TestConcurrentStatusWriters(t *testing.T) {
	const tasks = 200
	c := churnCluster(t, tasks)
	// Writers this fast can keep a Settle from settling within its passes;
	// the loop then backs off, and the fake clock would never end that
	// backoff: here it ends at once.
	cfg := c.config()
	cfg.After = func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		ch <- c.clock.Now()
		return ch
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	results, stop := runLoop(t, l)
	var wg sync.WaitGroup
	quit := make(chan struct{})
	var writes [4]int
	for w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for {
				select {
				case <-quit:
					return
				default:
				}
				c.mu.Lock()
				c.bump(rng, 1, tasks)
				c.mu.Unlock()
				writes[w]++
			}
		}()
	}
	c.waitFor(t, "every task told to go", func(s *Snapshot) bool {
		for _, tk := range s.Tasks {
			if tk.DesiredState == swarm.TaskStateRunning {
				return false
			}
		}
		return true
	})
	close(quit)
	wg.Wait()
	if err := stop(); err == nil {
		t.Fatal("Run returned nil")
	}
	var settles, conflicts int
	for len(results) > 0 {
		r := <-results
		settles++
		conflicts += r.Conflicts
	}
	t.Logf("%d tasks, %d concurrent status writes: %d settles, %d proposals, %d refused",
		tasks, writes[0]+writes[1]+writes[2]+writes[3], settles, c.proposals, conflicts)
}
