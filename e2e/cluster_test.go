package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Small Raft snapshot settings (hidden flags of init, join and daemon), so
// a test forces a snapshot, and a follower's catch-up from one, with a
// hundred writes instead of ten thousand. Everything a test writes before
// it forces a snapshot stays well under the threshold, so until then every
// catch-up comes from the log.
const (
	testSnapshotThreshold = 64
	testTrailingLogs      = 32
)

var snapshotArgs = []string{
	"--raft-snapshot-threshold", strconv.Itoa(testSnapshotThreshold),
	"--raft-trailing-logs", strconv.Itoa(testTrailingLogs),
	"--raft-snapshot-interval", "100ms",
}

// writeTimeout bounds one write through the API.
const writeTimeout = 10 * time.Second

// createService creates a service named name through via and returns its
// ID. Its error is an *apiError when the API answered. The service has no
// replicas: these tests count the writes of clients, and a task's life
// (created, scheduled, its statuses) would add entries of its own.
func (c *testCluster) createService(ctx context.Context, via *node, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	replicas := uint64(0)
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name, Labels: map[string]string{"e2e": "cluster"}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:1.36"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	var resp struct{ ID string }
	if err := c.call(ctx, via, http.MethodPost, "/v1.41/services/create", spec, &resp); err != nil {
		return "", err
	}
	if resp.ID == "" {
		return "", errors.New("services/create answered without an ID")
	}
	return resp.ID, nil
}

// services lists the services m's store holds, by name.
func (c *testCluster) services(t testing.TB, m *node) map[string]string {
	t.Helper()
	var list []swarm.Service
	if err := c.call(context.Background(), m, http.MethodGet, "/v1.41/services", nil, &list); err != nil {
		t.Fatalf("list services on %s: %v", m.Name, err)
	}
	out := make(map[string]string, len(list))
	for _, s := range list {
		out[s.Spec.Name] = s.ID
	}
	return out
}

// acked records the writes the API acknowledged: name -> ID.
type acked struct {
	mu   sync.Mutex
	byID map[string]string
}

func newAcked() *acked { return &acked{byID: map[string]string{}} }

func (a *acked) add(name, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID[name] = id
}

func (a *acked) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byID)
}

// requireAll fails unless every acknowledged write is listed through m,
// with the ID the API answered. Followers hand reads to the leader, as
// Swarm's do, so this sees the leader's store; requireOnDisk checks a
// replica's own copy.
func (a *acked) requireAll(t testing.TB, c *testCluster, m *node) {
	t.Helper()
	have := c.services(t, m)
	a.mu.Lock()
	defer a.mu.Unlock()
	var missing []string
	for name, id := range a.byID {
		if have[name] != id {
			missing = append(missing, fmt.Sprintf("%s (%s, found %q)", name, id, have[name]))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lost %d of %d acknowledged writes: %s", m.Name, len(missing), len(a.byID), strings.Join(missing, ", "))
	}
}

// requireOnDisk fails unless the ID of every acknowledged write is in a
// file of n's data directory: its Raft log (raft.db) or a snapshot. With
// n's applied index caught up with the leader (WaitCaughtUp), this shows
// n's own replica holds the writes, whoever answers reads.
func (a *acked) requireOnDisk(t testing.TB, n *node) {
	t.Helper()
	var files [][]byte
	err := filepath.WalkDir(filepath.Join(n.DataDir, "raft"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		files = append(files, data)
		return err
	})
	if err != nil {
		t.Fatalf("read %s's raft directory: %v", n.Name, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var missing []string
	for name, id := range a.byID {
		found := false
		for _, f := range files {
			if bytes.Contains(f, []byte(id)) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%s (%s)", name, id))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s's log and snapshots lack %d of %d acknowledged writes: %s", n.Name, len(missing), len(a.byID), strings.Join(missing, ", "))
	}
}

// writeN creates n services named prefix-i through via, all of which must
// succeed.
func (a *acked) writeN(t testing.TB, c *testCluster, via *node, prefix string, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		id, err := c.createService(context.Background(), via, name)
		if err != nil {
			t.Fatalf("create service %s via %s: %v", name, via.Name, err)
		}
		a.add(name, id)
	}
}

// writer creates services through one manager in a loop, recording what
// the API acknowledged; a failed write is retried under a new name, since
// its outcome may be unknown.
type writer struct {
	acks  *acked
	count chan int
	stop  chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	failures int
	lastErr  error
}

func (w *writer) failed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures++
	w.lastErr = err
}

// failures says how many writes failed, and the last error.
func (w *writer) failuresSoFar() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures, w.lastErr
}

func startWriter(c *testCluster, via *node, prefix string, acks *acked) *writer {
	w := &writer{acks: acks, count: make(chan int, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		n := 0
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			name := fmt.Sprintf("%s-%d", prefix, i)
			id, err := c.createService(context.Background(), via, name)
			if err != nil {
				w.failed(err)
				// The leader is gone or an election is running; don't
				// spin on instant refusals.
				select {
				case <-w.stop:
					return
				case <-time.After(pollEvery):
				}
				continue
			}
			acks.add(name, id)
			n++
			select {
			case <-w.count:
			default:
			}
			w.count <- n
		}
	}()
	return w
}

// waitAcks waits until the writer has had at least n writes acknowledged.
func (w *writer) waitAcks(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-w.count:
			if got >= n {
				return
			}
		case <-w.done:
			t.Fatalf("writer stopped before %d acknowledged writes", n)
		case <-deadline:
			failures, last := w.failuresSoFar()
			t.Fatalf("no %d acknowledged writes after %s (failures %d, last error: %v)", n, timeout, failures, last)
		}
	}
}

func (w *writer) halt() {
	close(w.stop)
	<-w.done
}

func others(all []*node, not ...*node) []*node {
	var out []*node
	for _, n := range all {
		skip := false
		for _, x := range not {
			skip = skip || n == x
		}
		if !skip {
			out = append(out, n)
		}
	}
	return out
}

// TestClusterSurvivesLeaderLoss kills the leader of three managers with
// SIGKILL while a client writes through a follower: a new leader is
// elected, writes succeed again, and nothing acknowledged is lost. The old
// leader, started again, catches up from the log; a follower that misses
// more than the leader keeps in its log catches up from a snapshot.
func TestClusterSurvivesLeaderLoss(t *testing.T) {
	c := startClusterWith(t, clusterOptions{Managers: 3, NodeArgs: snapshotArgs})
	acks := newAcked()
	old := c.Leader(t)
	followers := others(c.Managers, old)
	acks.writeN(t, c, old, "before-leader", 5)
	acks.writeN(t, c, followers[0], "before-follower", 5)

	// Writes through a follower that survives: forwarded to the leader
	// before the kill, refused while there is none, accepted again once a
	// new leader is elected.
	w := startWriter(c, followers[0], "during", acks)
	w.waitAcks(t, 3, writeTimeout)
	oldLast := c.Status(t, old).Raft.LastLogIndex
	old.Kill9(t)
	// Everything acknowledged before the kill was committed on the old
	// leader's log; the survivors' log may be ahead of what it wrote.
	before := acks.len()
	elected := c.Leader(t)
	if elected == old {
		t.Fatalf("the killed manager %s is still named leader", old.Name)
	}
	w.waitAcks(t, before+5, electionTimeout)
	w.halt()
	failures, last := w.failuresSoFar()
	t.Logf("leader %s killed; %s elected; %d writes failed meanwhile (last: %v)", old.Name, elected.Name, failures, last)
	acks.writeN(t, c, elected, "after-election", 3)
	c.WaitCaughtUp(t)
	for _, m := range followers {
		acks.requireAll(t, c, m)
		acks.requireOnDisk(t, m)
	}

	t.Run("restarted leader catches up from the log", func(t *testing.T) {
		old.Restart(t)
		c.WaitCaughtUp(t)
		acks.requireAll(t, c, old)
		acks.requireOnDisk(t, old)
		// The leader kept every entry the old leader missed (fewer than
		// the trailing logs), so none came in a snapshot.
		if st := c.Status(t, old); st.Raft.LastSnapshotIndex > oldLast {
			t.Errorf("%s installed a snapshot up to %d; want a catch-up from the log (it had entries up to %d)", old.Name, st.Raft.LastSnapshotIndex, oldLast)
		}
		if got := c.Leader(t); got != elected {
			t.Logf("leadership moved to %s after the restart", got.Name)
		}
	})

	t.Run("follower far behind catches up from a snapshot", func(t *testing.T) {
		leader := c.Leader(t)
		victim := others(c.Managers, leader)[0]
		victim.Kill9(t)
		// The victim's log ends at most where the leader's did when it
		// died.
		victimLast := c.Status(t, leader).Raft.LastLogIndex
		// Write until the leader has snapshotted and compacted its log
		// past what the victim holds: it can then only send a snapshot.
		var snap uint64
		for i := 0; ; i++ {
			acks.writeN(t, c, leader, fmt.Sprintf("snap-%d", i), 16)
			snap = c.Status(t, leader).Raft.LastSnapshotIndex
			if snap > victimLast+testTrailingLogs {
				break
			}
			if i > 100 {
				t.Fatalf("the leader took no snapshot past %d after %d writes (last snapshot %d)", victimLast+testTrailingLogs, 16*(i+1), snap)
			}
		}
		victim.Restart(t)
		c.WaitCaughtUp(t)
		acks.requireAll(t, c, victim)
		acks.requireOnDisk(t, victim)
		if st := c.Status(t, victim); st.Raft.LastSnapshotIndex < snap {
			t.Errorf("%s has a snapshot up to %d, want one up to at least %d installed from the leader", victim.Name, st.Raft.LastSnapshotIndex, snap)
		}
		for _, m := range c.Managers {
			acks.requireAll(t, c, m)
			acks.requireOnDisk(t, m)
		}
	})
}

// TestClusterWithoutQuorum stops two of three managers: writes fail with
// Docker's own "no leader" message through the docker CLI, and once the
// two return, nothing acknowledged is lost and writes work again.
func TestClusterWithoutQuorum(t *testing.T) {
	requireDockerCLI(t)
	c := startCluster(t, 3, 0)
	acks := newAcked()
	survivor := c.Leader(t)
	down := others(c.Managers, survivor)
	acks.writeN(t, c, survivor, "before", 5)
	acks.writeN(t, c, down[0], "before-follower", 3)
	if out, err := c.Docker(t, down[1], "service", "create", "--detach", "--no-resolve-image", "--name", "before-cli", "busybox:1.36"); err != nil {
		t.Fatalf("docker service create with every manager up: %v\n%s", err, out)
	}
	acks.add("before-cli", c.services(t, down[1])["before-cli"])

	for _, m := range down {
		m.Kill9(t)
	}
	// The survivor led; without a majority it must step down, and then it
	// knows no leader.
	poll(t, electionTimeout, survivor.Name+" to know it has no quorum", func() error {
		st, err := c.status(survivor)
		if err != nil {
			return err
		}
		if st.IsLeader || st.LeaderAddr != "" {
			return fmt.Errorf("still names leader %q (is leader: %v)", st.LeaderAddr, st.IsLeader)
		}
		return nil
	})

	out, err := c.Docker(t, survivor, "service", "create", "--detach", "--no-resolve-image", "--name", "during-outage", "busybox:1.36")
	t.Logf("docker service create without quorum: %v\n%s", err, out)
	if err == nil {
		t.Fatalf("docker service create succeeded with two of three managers down:\n%s", out)
	}
	for _, want := range []string{"does not have a leader", "more than half of the managers are online"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker service create without quorum printed %q; want it to say %q", out, want)
		}
	}
	_, err = c.createService(context.Background(), survivor, "during-outage-api")
	var apiErr *apiError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
		t.Errorf("services/create without quorum: %v, want HTTP 503", err)
	}

	for _, m := range down {
		m.Restart(t)
	}
	leader := c.Leader(t)
	c.WaitCaughtUp(t)
	for _, m := range c.Managers {
		acks.requireAll(t, c, m)
		acks.requireOnDisk(t, m)
		for _, name := range []string{"during-outage", "during-outage-api"} {
			if id, ok := c.services(t, m)[name]; ok {
				t.Errorf("%s holds service %s (%s), whose create was refused without quorum", m.Name, name, id)
			}
		}
	}
	out, err = c.Docker(t, down[0], "service", "create", "--detach", "--no-resolve-image", "--name", "after-outage", "busybox:1.36")
	if err != nil {
		t.Fatalf("docker service create after the managers returned (leader %s): %v\n%s", leader.Name, err, out)
	}
	c.WaitCaughtUp(t)
	if _, ok := c.services(t, survivor)["after-outage"]; !ok {
		t.Errorf("service after-outage, created after the outage, is missing on %s", survivor.Name)
	}
}
