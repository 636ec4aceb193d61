package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPendingReasonsAndLabels(t *testing.T) {
	tc := startTaskCluster(t, 1)
	tc.docker(t, "service", "create", "-d", "--name", "big", "--reserve-memory", "100000GB", "-e", "PORT=none", tc.image)
	tc.docker(t, "service", "create", "-d", "--name", "east", "--constraint", "node.labels.zone==east", "-e", "PORT=none", tc.image)
	for svc, reason := range map[string]string{
		"big":  "no suitable node (insufficient resources on 2 nodes)",
		"east": "no suitable node (scheduling constraints not satisfied on 2 nodes)",
	} {
		poll(t, taskTimeout, svc+" pending with its reason", func() error {
			lines := tc.psLines(t, svc, "running")
			if len(lines) != 1 {
				return fmt.Errorf("%d tasks", len(lines))
			}
			f := strings.Split(lines[0], "|")
			if !strings.HasPrefix(f[3], "Pending") || f[4] != reason {
				return fmt.Errorf("task %q: current %q, error %q; want Pending with %q", f[0], f[3], f[4], reason)
			}
			return nil
		})
	}
	// The reason is also in docker service inspect's view of the task.
	id := strings.TrimSpace(tc.docker(t, "service", "ps", "east", "-q", "--no-trunc", "--filter", "desired-state=running"))
	out := tc.docker(t, "inspect", "--format", "{{.Status.Err}}", id)
	if !strings.Contains(out, "scheduling constraints not satisfied") {
		t.Errorf("docker inspect of the pending task: %q", out)
	}
	// Giving a node the label schedules the task there.
	tc.docker(t, "node", "update", "--label-add", "zone=east", "w1")
	tc.waitPlacement(t, "east", map[string]int{"w1": 1})
	if n := total(tc.running(t, "big")); n != 0 {
		t.Errorf("big runs %d containers, though no node has its memory", n)
	}
}

func TestRestartPolicyHistory(t *testing.T) {
	tc := startTaskCluster(t, 0)
	const delay = 2 * time.Second
	tc.docker(t, "service", "create", "-d", "--name", "crash",
		"--restart-condition", "on-failure", "--restart-delay", delay.String(),
		"--restart-max-attempts", "2", "--restart-window", "5m",
		"-e", "PORT=none", "-e", "EXIT_AFTER=300ms", "-e", "EXIT_CODE=3", tc.image)
	// max_attempts 2: the first task and two restarts fail, then the slot
	// stays empty.
	poll(t, taskTimeout, "three failed tasks of crash and none left to run", func() error {
		if live := tc.psLines(t, "crash", "running"); len(live) != 0 {
			return fmt.Errorf("a task is still desired running: %v", live)
		}
		lines := tc.psLines(t, "crash", "")
		failed := 0
		for _, l := range lines {
			f := strings.Split(l, "|")
			if strings.HasPrefix(f[3], "Failed") && f[4] == "task: non-zero exit (3)" {
				failed++
			}
		}
		if failed != 3 {
			return fmt.Errorf("%d failed:\n%s", failed, strings.Join(lines, "\n"))
		}
		return nil
	})
	// docker service ps shows the slot's history as Swarm does: the
	// newest task first under the slot's name, older ones as \_ lines.
	out := tc.docker(t, "service", "ps", "crash")
	if strings.Count(out, " crash.1 ") != 3 || strings.Count(out, ` \_ crash.1 `) != 2 {
		t.Errorf("docker service ps crash: want crash.1 then two \\_ crash.1 lines:\n%s", out)
	}
	// Each restart waited the delay after the failure it replaces.
	ids := strings.Fields(tc.docker(t, "service", "ps", "crash", "-q", "--no-trunc"))
	type times struct{ created, ended time.Time }
	var ts []times
	for _, id := range ids {
		out := strings.TrimSpace(tc.docker(t, "inspect", "--format", "{{.CreatedAt.Format \"2006-01-02T15:04:05.999999999Z07:00\"}} {{.Status.Timestamp.Format \"2006-01-02T15:04:05.999999999Z07:00\"}}", id))
		f := strings.Fields(out)
		c, err1 := time.Parse(time.RFC3339Nano, f[0])
		e, err2 := time.Parse(time.RFC3339Nano, f[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("task %s times %q: %v %v", id, out, err1, err2)
		}
		ts = append(ts, times{c, e})
	}
	// ps lists newest first.
	for i := 0; i+1 < len(ts); i++ {
		newer, older := ts[i], ts[i+1]
		if started := newer.ended.Sub(older.ended); started < delay {
			t.Errorf("a restart ended %s after the failure before it; its delay alone is %s", started, delay)
		}
	}
}

func TestExecDriverRunsPlainProcesses(t *testing.T) {
	tc := startTaskCluster(t, 1)
	// The exec runtime runs the command on the node itself; the image is
	// only a name here.
	tc.docker(t, "service", "create", "-d", "--name", "plain", "--replicas", "2",
		"--container-label", "com.swarmops.driver=exec", "-e", "GREETING=plain",
		"none:exec", "/bin/sh", "-c", `echo "$GREETING from $(hostname)"; exec sleep 300`)
	poll(t, taskTimeout, "two running exec tasks", func() error {
		n := 0
		for _, l := range tc.psLines(t, "plain", "running") {
			if strings.HasPrefix(strings.Split(l, "|")[3], "Running") {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
	if n := total(tc.running(t, "plain")); n != 0 {
		t.Errorf("the engine runs %d containers of an exec service", n)
	}
	out := tc.docker(t, "service", "logs", "plain")
	if strings.Count(out, "| plain from ") != 2 {
		t.Errorf("docker service logs plain:\n%s", out)
	}
	tc.docker(t, "service", "rm", "plain")
	// The processes' task directories (under each node's data dir) go
	// with them.
	poll(t, taskTimeout, "the exec tasks gone", func() error {
		for _, n := range tc.nodes() {
			entries, err := os.ReadDir(filepath.Join(n.DataDir, "exec"))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			if len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				return fmt.Errorf("%s still holds exec tasks %v", n.Name, names)
			}
		}
		return nil
	})
}
