package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The rollout tests drive rolling updates and rollbacks through the docker
// CLI on clusters whose agents run the release images (buildReleases) on
// this machine's engine, and read the outcome from `docker service ps`,
// `docker service inspect` and the engine's own containers.

// rolloutTimeout bounds a whole rollout: a few slots, each started, given
// its delay, and the monitor window at the end.
const rolloutTimeout = 2 * time.Minute

// psRow is one line of `docker service ps`'s table.
type psRow struct {
	ID       string
	Indented bool // a " \_ " line: an older task of the slot above
	Name     string
	Image    string
	Node     string
	Desired  string
	Current  string // the first word of CURRENT STATE
}

var psLine = regexp.MustCompile(`^(\S+)\s+(\\_ )?(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)`)

// psTable runs `docker service ps --no-trunc svc` through via and parses
// its table, in the CLI's order (by slot, newest task first).
func (tc *taskCluster) psTable(t *testing.T, via *node, svc string) (rows []psRow, raw string) {
	t.Helper()
	out, err := tc.Docker(t, via, "service", "ps", "--no-trunc", svc)
	if err != nil {
		t.Fatalf("docker service ps %s: %v\n%s", svc, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[1:] {
		m := psLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("docker service ps %s: cannot read line %q:\n%s", svc, l, out)
		}
		rows = append(rows, psRow{ID: m[1], Indented: m[2] != "", Name: m[3], Image: m[4], Node: m[5], Desired: m[6], Current: m[7]})
	}
	return rows, out
}

// updateStatus is the service's UpdateStatus as "state|message", "" when
// it has none.
func (tc *taskCluster) updateStatus(t *testing.T, via *node, svc string) (string, error) {
	t.Helper()
	out, err := tc.Docker(t, via, "service", "inspect", svc, "--format",
		"{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.Message}}{{end}}")
	if err != nil {
		return "", fmt.Errorf("docker service inspect %s: %v: %s", svc, err, out)
	}
	return strings.TrimSpace(out), nil
}

// waitUpdateState waits until svc's update status is in state.
func (tc *taskCluster) waitUpdateState(t *testing.T, via *node, svc, state string) string {
	t.Helper()
	var got string
	poll(t, rolloutTimeout, fmt.Sprintf("the update status of %s to be %s", svc, state), func() error {
		var err error
		if got, err = tc.updateStatus(t, via, svc); err != nil {
			return err
		}
		if s, _, _ := strings.Cut(got, "|"); s != state {
			return fmt.Errorf("it is %q", got)
		}
		return nil
	})
	return got
}

// runningImages counts svc's running containers on the engine by image.
func (tc *taskCluster) runningImages(t *testing.T, svc string) map[string]int {
	t.Helper()
	cs, err := tc.containers(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cs {
		if c.State != "running" {
			continue
		}
		var inspect struct{ Config struct{ Image string } }
		if err := tc.eng.call(context.Background(), http.MethodGet, "/containers/"+c.ID+"/json", nil, &inspect); err != nil {
			t.Fatal(err)
		}
		out[inspect.Config.Image]++
	}
	return out
}

// createdAt is a task's creation time, from `docker inspect`.
func (tc *taskCluster) createdAt(t *testing.T, via *node, taskID string) time.Time {
	t.Helper()
	out, err := tc.Docker(t, via, "inspect", "--format", `{{.CreatedAt.Format "2006-01-02T15:04:05.999999999Z07:00"}}`, taskID)
	if err != nil {
		t.Fatalf("docker inspect %s: %v\n%s", taskID, err, out)
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("task %s created at %q: %v", taskID, out, err)
	}
	return at
}

// checkProgress checks the final screen of the docker CLI's progress
// display (dockerTTY's output) for a replicated service of n tasks that
// converged: the overall line with n out of n (prefixed as a rollback's
// when rollback is set), every slot's line at running, and the verdict.
func checkProgress(t *testing.T, what, out string, n int, rollback bool) {
	t.Helper()
	out = finalScreen(out)
	overall := fmt.Sprintf("overall progress: %d out of %d tasks", n, n)
	if rollback {
		overall = fmt.Sprintf("overall progress: rolling back update: %d out of %d tasks", n, n)
	}
	if !strings.Contains(out, overall) {
		t.Errorf("%s printed no %q:\n%s", what, overall, out)
	}
	for i := 1; i <= n; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d/%d: running`, i, n)).MatchString(out) {
			t.Errorf("%s printed no \"%d/%d: running\":\n%s", what, i, n, out)
		}
	}
	if !converged.MatchString(out) {
		t.Errorf("%s printed no \"verify: Service converged\":\n%s", what, out)
	}
}

// slots groups ps rows by task name (the slot), newest first, checking
// that the table shows each slot's newest task unindented and its older
// ones as " \_ " lines.
func slots(t *testing.T, rows []psRow, raw string) map[string][]psRow {
	t.Helper()
	out := map[string][]psRow{}
	for i, r := range rows {
		first := i == 0 || rows[i-1].Name != r.Name
		if r.Indented == first {
			t.Errorf("docker service ps: %s (%s) indented=%v, want \\_ on every task of a slot but the newest:\n%s", r.Name, r.ID, r.Indented, raw)
		}
		out[r.Name] = append(out[r.Name], r)
	}
	return out
}

// TestRollingUpdateAndRollbackLikeSwarm is seed 004's walkthrough: a
// service of four replicas with an update delay, its image updated, then
// rolled back, each step printing what Docker Swarm prints. The delay is
// 2s rather than 10s, and the tasks' creation times show it was kept.
func TestRollingUpdateAndRollbackLikeSwarm(t *testing.T) {
	tc := startTaskCluster(t, 1)
	rel := buildReleases(t, tc.eng)
	m1 := tc.Managers[0]
	const delay = 2 * time.Second

	// On a terminal, as in the seed, so that the CLI draws every slot.
	tty := func(args ...string) string {
		t.Helper()
		out, err := tc.dockerTTY(t, m1, args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	out := tty("service", "create", "--name", "ping", "--replicas", "4", "--update-delay", delay.String(), "-e", "PORT=none", rel.V1)
	checkProgress(t, "docker service create", out, 4, false)
	t.Logf("docker service create ... ping, its final screen:\n%s", finalScreen(out))

	out = tc.docker(t, "service", "inspect", "--pretty", "ping")
	for _, want := range []string{`(?m)^Name:\s+ping$`, `(?m)^Service Mode:\s+Replicated$`, `(?m)^ Replicas:\s+4$`,
		`(?m)^ Delay:\s+2s$`, `(?m)^ Image:\s+` + regexp.QuoteMeta(rel.V1) + `$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("docker service inspect --pretty ping: no line matching %s:\n%s", want, out)
		}
	}

	rows, raw := tc.psTable(t, m1, "ping")
	original := map[string]string{} // slot name -> v1 task ID
	for _, r := range rows {
		if r.Indented || r.Image != rel.V1 || r.Desired != "Running" || r.Current != "Running" {
			t.Fatalf("before the update: %+v, want every task a running %s:\n%s", r, rel.V1, raw)
		}
		original[r.Name] = r.ID
	}
	if len(original) != 4 {
		t.Fatalf("before the update: %d slots, want 4:\n%s", len(original), raw)
	}

	out = tty("service", "update", "--image", rel.V2, "ping")
	if !regexp.MustCompile(`(?m)^ping$`).MatchString(out) {
		t.Errorf("docker service update did not print the service's name:\n%s", out)
	}
	checkProgress(t, "docker service update --image", out, 4, false)
	t.Logf("docker service update --image %s ping, its final screen:\n%s", rel.V2, finalScreen(out))

	// Each slot: the v2 task running, the v1 task shut down beneath it.
	rows, raw = tc.psTable(t, m1, "ping")
	bySlot := slots(t, rows, raw)
	var updated []string
	for name, v1 := range original {
		got := bySlot[name]
		if len(got) != 2 || got[0].Image != rel.V2 || got[0].Desired != "Running" || got[0].Current != "Running" ||
			got[1].ID != v1 || got[1].Image != rel.V1 || got[1].Desired != "Shutdown" || got[1].Current != "Shutdown" {
			t.Errorf("after the update, slot %s: %+v; want a running %s over the shut down %s (%s):\n%s", name, got, rel.V2, v1, rel.V1, raw)
			continue
		}
		updated = append(updated, got[0].ID)
	}
	if t.Failed() {
		t.FailNow()
	}
	// Parallelism 1 with a delay: each replacement was created at least
	// the delay after the one before.
	var created []time.Time
	for _, id := range updated {
		created = append(created, tc.createdAt(t, m1, id))
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })
	for i := 1; i < len(created); i++ {
		if gap := created[i].Sub(created[i-1]); gap < delay {
			t.Errorf("replacement %d was created %s after the one before it; the update delay is %s (creation times %v)", i+1, gap, delay, created)
		}
	}
	if got := tc.runningImages(t, "ping"); got[rel.V2] != 4 || len(got) != 1 {
		t.Errorf("the engine runs %v containers of ping by image, want 4 of %s only", got, rel.V2)
	}

	out = tty("service", "rollback", "ping")
	if !strings.Contains(out, "rollback: manually requested rollback") {
		t.Errorf("docker service rollback printed no \"rollback: manually requested rollback\":\n%s", out)
	}
	checkProgress(t, "docker service rollback", out, 4, true)
	t.Logf("docker service rollback ping, its final screen:\n%s", finalScreen(out))

	// Each slot: a new v1 task, over the v2 task, over the original v1.
	rows, raw = tc.psTable(t, m1, "ping")
	bySlot = slots(t, rows, raw)
	for name, v1 := range original {
		got := bySlot[name]
		if len(got) != 3 || got[0].Image != rel.V1 || got[0].Desired != "Running" || got[0].Current != "Running" || got[0].ID == v1 ||
			got[1].Image != rel.V2 || got[1].Desired != "Shutdown" || got[1].Current != "Shutdown" ||
			got[2].ID != v1 || got[2].Current != "Shutdown" {
			t.Errorf("after the rollback, slot %s: %+v; want a new running %s over the shut down %s and the original %s:\n%s", name, got, rel.V1, rel.V2, v1, raw)
		}
	}
	if got := tc.runningImages(t, "ping"); got[rel.V1] != 4 || len(got) != 1 {
		t.Errorf("the engine runs %v containers of ping by image, want 4 of %s only", got, rel.V1)
	}
	tc.waitUpdateState(t, m1, "ping", "rollback_completed")
}

// TestCrashingReleaseRollsBack: a release that exits a second after it
// starts, with failure_action rollback, is rolled back and every slot
// runs the old image again.
func TestCrashingReleaseRollsBack(t *testing.T) {
	tc := startTaskCluster(t, 1)
	rel := buildReleases(t, tc.eng)
	m1 := tc.Managers[0]
	tc.docker(t, "service", "create", "--name", "rel", "--replicas", "3", "-e", "PORT=none", rel.V1)
	tc.waitRunning(t, "rel", 3)

	out, err := tc.Docker(t, m1, "service", "update", "--image", rel.Crash, "--update-failure-action", "rollback", "--update-monitor", "3s", "rel")
	// The docker CLI exits 0 once a rollback it watched converged: Docker
	// Swarm's own transcript of this command (CLI 28.2, Engine 20.10)
	// ends "verify: Service converged" with status 0. What must show is
	// that it rolled back.
	if err != nil {
		t.Errorf("docker service update --image %s: %v (Docker Swarm exits 0 once the rollback converged):\n%s", rel.Crash, err, out)
	}
	if !regexp.MustCompile(`(?m)^rollback: update rolled back due to failure or early termination of task \w+`).MatchString(out) {
		t.Errorf("docker service update printed no \"rollback: update rolled back due to failure or early termination of task ...\":\n%s", out)
	}
	if !strings.Contains(out, "overall progress: rolling back update: 3 out of 3 tasks") {
		t.Errorf("docker service update printed no \"overall progress: rolling back update: 3 out of 3 tasks\":\n%s", out)
	}

	st := tc.waitUpdateState(t, m1, "rel", "rollback_completed")
	t.Logf("update status: %s", st)
	// As in Swarm, the spec is the one before the update, and there is no
	// previous spec left to roll back to.
	spec := strings.TrimSpace(tc.docker(t, "service", "inspect", "rel", "--format",
		"{{.Spec.TaskTemplate.ContainerSpec.Image}}|{{if .PreviousSpec}}{{.PreviousSpec.TaskTemplate.ContainerSpec.Image}}{{else}}none{{end}}"))
	if spec != rel.V1+"|none" {
		t.Errorf("after the rollback, image|previous image = %q, want %s|none", spec, rel.V1)
	}
	// Every slot runs the old image: in the store and on the engine.
	tc.waitRunning(t, "rel", 3)
	rows, raw := tc.psTable(t, m1, "rel")
	for _, r := range rows {
		if r.Desired == "Running" && (r.Image != rel.V1 || r.Current != "Running") {
			t.Errorf("after the rollback, %s (%s) is %s desired Running, want a running %s:\n%s", r.Name, r.ID, r.Image, rel.V1, raw)
		}
	}
	if got := tc.runningImages(t, "rel"); got[rel.V1] != 3 || len(got) != 1 {
		t.Errorf("the engine runs %v containers of rel by image, want 3 of %s only", got, rel.V1)
	}
}

// TestUnhealthyReleaseStoppedByHealthGate: a release whose healthcheck
// never passes is stopped before it replaces more than parallelism slots —
// paused when failure_action says pause, rolled back when it says rollback
// and the healthy_deadline gate fails a release that stays starting.
func TestUnhealthyReleaseStoppedByHealthGate(t *testing.T) {
	tc := startTaskCluster(t, 1)
	rel := buildReleases(t, tc.eng)
	m1 := tc.Managers[0]
	const parallelism = 2

	// sickSlots are the slots that ever ran, or started, a sick task;
	// healthyIDs the tasks of the healthy release desired running.
	sickSlots := func(t *testing.T, svc string) (sick map[string]bool, healthyIDs []string, raw string) {
		t.Helper()
		rows, raw := tc.psTable(t, m1, svc)
		sick = map[string]bool{}
		for _, r := range rows {
			switch {
			case r.Image == rel.Sick:
				sick[r.Name] = true
			case r.Desired == "Running":
				healthyIDs = append(healthyIDs, r.ID)
			}
		}
		slices.Sort(healthyIDs)
		return sick, healthyIDs, raw
	}

	t.Run("pause", func(t *testing.T) {
		tc.docker(t, "service", "create", "--name", "hp", "--replicas", "4", "-e", "PORT=none",
			"--health-interval", "500ms", "--health-retries", "2",
			"--update-parallelism", fmt.Sprint(parallelism), "--update-failure-action", "pause", rel.Healthy)
		tc.waitRunning(t, "hp", 4)
		out, err := tc.Docker(t, m1, "service", "update", "--image", rel.Sick, "hp")
		if err == nil || !strings.Contains(out, "service update paused: ") {
			t.Errorf("docker service update --image %s: %v, want it to fail with \"service update paused: ...\":\n%s", rel.Sick, err, out)
		}
		tc.waitUpdateState(t, m1, "hp", "paused")
		sick, kept, raw := sickSlots(t, "hp")
		if len(sick) == 0 || len(sick) > parallelism {
			t.Fatalf("paused with %d slots given the sick release, want 1 to %d (parallelism):\n%s", len(sick), parallelism, raw)
		}
		// Paused, the update moves no other slot: the failed sick tasks
		// restart in their slots (restart policy any), and meanwhile the
		// healthy tasks stay as they were.
		poll(t, rolloutTimeout, "a sick task restarted while the update is paused", func() error {
			rows, raw := tc.psTable(t, m1, "hp")
			n := 0
			for _, r := range rows {
				if r.Image == rel.Sick {
					n++
				}
			}
			if n <= len(sick) {
				return fmt.Errorf("%d sick tasks:\n%s", n, raw)
			}
			return nil
		})
		sickAfter, keptAfter, raw := sickSlots(t, "hp")
		if len(sickAfter) != len(sick) || !slices.Equal(kept, keptAfter) {
			t.Errorf("while paused, the sick release reached %d slots (was %d) and the healthy tasks went from %v to %v:\n%s",
				len(sickAfter), len(sick), kept, keptAfter, raw)
		}
		if st, err := tc.updateStatus(t, m1, "hp"); err != nil || !strings.HasPrefix(st, "paused|") {
			t.Errorf("update status %q (%v), want it still paused", st, err)
		}
	})

	t.Run("healthy deadline then rollback", func(t *testing.T) {
		tc.docker(t, "service", "create", "--name", "hr", "--replicas", "4", "-e", "PORT=none",
			"--health-interval", "500ms", "--health-retries", "2",
			"--update-parallelism", fmt.Sprint(parallelism), "--update-failure-action", "rollback",
			"--label", "com.swarmops.update.healthy-deadline=4s", rel.Healthy)
		tc.waitRunning(t, "hr", 4)
		// A start period of an hour: the failing checks do not count, so
		// the sick tasks stay starting — neither healthy nor unhealthy —
		// until the healthy_deadline gate fails them.
		out, err := tc.Docker(t, m1, "service", "update", "--image", rel.Sick, "--health-start-period", "1h", "hr")
		if err != nil || !regexp.MustCompile(`(?m)^rollback: `).MatchString(out) {
			t.Errorf("docker service update --image %s: %v, want a rollback that converges:\n%s", rel.Sick, err, out)
		}
		tc.waitUpdateState(t, m1, "hr", "rollback_completed")
		sick, _, raw := sickSlots(t, "hr")
		if len(sick) == 0 || len(sick) > parallelism {
			t.Errorf("rolled back after %d slots were given the sick release, want 1 to %d (parallelism):\n%s", len(sick), parallelism, raw)
		}
		// The gate, not the agent, failed them: the rollout engine's
		// label on the task says why.
		rows, raw := tc.psTable(t, m1, "hr")
		gated := 0
		for _, r := range rows {
			if r.Image != rel.Sick {
				continue
			}
			why := strings.TrimSpace(tc.docker(t, "inspect", "--format", `{{index .Labels "com.swarmops.update.failed"}}`, r.ID))
			if strings.Contains(why, "healthy deadline of 4s") {
				gated++
			}
		}
		if gated == 0 {
			t.Errorf("no sick task was failed by the healthy_deadline gate (label com.swarmops.update.failed):\n%s", raw)
		}
		for _, r := range rows {
			if r.Desired == "Running" && (r.Image != rel.Healthy || r.Current != "Running") {
				t.Errorf("after the rollback, %s (%s) is %s %s, want a running %s:\n%s", r.Name, r.ID, r.Image, r.Current, rel.Healthy, raw)
			}
		}
		if got := tc.runningImages(t, "hr"); got[rel.Healthy] != 4 || len(got) != 1 {
			t.Errorf("the engine runs %v containers of hr by image, want 4 of %s only", got, rel.Healthy)
		}
	})
}

// TestLeaderKilledMidRollout: kill -9 the leader while a rollout with
// parallelism 1 and a delay is under way; a new leader finishes it from
// where the store says it stopped, leaving the slots already updated
// alone.
func TestLeaderKilledMidRollout(t *testing.T) {
	tc := startTaskClusterWith(t, clusterOptions{Managers: 3})
	rel := buildReleases(t, tc.eng)
	leader := tc.Leader(t)
	var survivor *node
	for _, m := range tc.Managers {
		if m != leader {
			survivor = m
			break
		}
	}
	// The tasks run on the two other managers' agents, so that the kill
	// takes no task with it.
	out, err := tc.Docker(t, survivor, "service", "create", "-d", "--name", "roll", "--replicas", "4", "-e", "PORT=none",
		"--constraint", "node.hostname!="+leader.Name, "--update-parallelism", "1", "--update-delay", "4s", rel.V1)
	if err != nil {
		t.Fatalf("docker service create: %v\n%s", err, out)
	}
	tc.waitRunning(t, "roll", 4)
	if out, err := tc.Docker(t, survivor, "service", "update", "-d", "--image", rel.V2, "roll"); err != nil {
		t.Fatalf("docker service update: %v\n%s", err, out)
	}

	// finished are the slots whose new task runs, by task ID.
	finished := func() (map[string]string, string) {
		rows, raw := tc.psTable(t, survivor, "roll")
		done := map[string]string{}
		for _, r := range rows {
			if r.Image == rel.V2 && r.Desired == "Running" && r.Current == "Running" {
				done[r.ID] = r.Name
			}
		}
		return done, raw
	}
	var before map[string]string
	poll(t, rolloutTimeout, "the first slot updated", func() error {
		var raw string
		before, raw = finished()
		if len(before) == 0 {
			return fmt.Errorf("no slot updated yet:\n%s", raw)
		}
		return nil
	})
	leader.Kill9(t)
	t.Logf("killed the leader %s with %d of 4 slots updated: %v", leader.Name, len(before), before)
	if len(before) == 4 {
		t.Fatalf("every slot was updated before the kill: the delay (4s) did not hold the rollout back")
	}

	poll(t, rolloutTimeout, "the rollout completed under a new leader", func() error {
		st, err := tc.updateStatus(t, survivor, "roll")
		if err != nil {
			return err
		}
		done, raw := finished()
		if !strings.HasPrefix(st, "completed|") || len(done) != 4 {
			return fmt.Errorf("update status %q, %d slots updated:\n%s", st, len(done), raw)
		}
		return nil
	})
	after, raw := finished()
	for id, name := range before {
		if after[id] != name {
			t.Errorf("slot %s ran %s before the kill and runs something else after it: the new leader restarted a finished slot:\n%s", name, id, raw)
		}
	}
	if got := tc.runningImages(t, "roll"); got[rel.V2] != 4 || len(got) != 1 {
		t.Errorf("the engine runs %v containers of roll by image, want 4 of %s only", got, rel.V2)
	}
}
