package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// nodeOf maps the cluster's node IDs to node names.
func (tc *taskCluster) nodeNames(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range tc.nodes() {
		out[n.NodeID(t)] = n.Name
	}
	return out
}

// placement is where svc's containers run on the engine, by node name.
func (tc *taskCluster) placement(t *testing.T, svc string) map[string]int {
	t.Helper()
	names := tc.nodeNames(t)
	out := map[string]int{}
	for id, n := range tc.running(t, svc) {
		out[names[id]] += n
	}
	return out
}

// waitPlacement waits until svc runs exactly want containers per node.
func (tc *taskCluster) waitPlacement(t *testing.T, svc string, want map[string]int) {
	t.Helper()
	poll(t, taskTimeout, fmt.Sprintf("%s placed as %v", svc, want), func() error {
		got := tc.placement(t, svc)
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("placed %v", got)
			}
		}
		for k, v := range got {
			if want[k] != v {
				return fmt.Errorf("placed %v", got)
			}
		}
		return nil
	})
}

func TestGlobalDrainAndNodeLoss(t *testing.T) {
	tc := startTaskCluster(t, 2)
	tc.docker(t, "service", "create", "-d", "--name", "g", "--mode", "global", "-e", "PORT=none", tc.image)
	tc.docker(t, "service", "create", "-d", "--name", "r", "--replicas", "4", "-e", "PORT=none", tc.image)
	tc.waitPlacement(t, "g", map[string]int{"m1": 1, "w1": 1, "w2": 1})
	tc.waitRunning(t, "r", 4)

	// Drain: w1's replicated tasks move, its global task stops.
	tc.docker(t, "node", "update", "--availability", "drain", "w1")
	poll(t, taskTimeout, "r off the drained w1", func() error {
		p := tc.placement(t, "r")
		if p["w1"] != 0 || p["m1"]+p["w2"] != 4 {
			return fmt.Errorf("r placed %v", p)
		}
		return nil
	})
	tc.waitPlacement(t, "g", map[string]int{"m1": 1, "w2": 1})
	tc.docker(t, "node", "update", "--availability", "active", "w1")
	tc.waitPlacement(t, "g", map[string]int{"m1": 1, "w1": 1, "w2": 1})

	// Pause: w2 keeps its tasks but gets no new one.
	kept := tc.placement(t, "r")["w2"]
	tc.docker(t, "node", "update", "--availability", "pause", "w2")
	tc.docker(t, "service", "scale", "-d", "r=7")
	tc.waitRunning(t, "r", 7)
	if p := tc.placement(t, "r"); p["w2"] != kept {
		t.Errorf("r placed %v after scaling with w2 paused; w2 had %d and must keep exactly those", p, kept)
	}
	tc.docker(t, "node", "update", "--availability", "active", "w2")
	tc.docker(t, "service", "scale", "-d", "r=4")
	tc.waitRunning(t, "r", 4)

	// kill -9 w2: once it is down, its replicated tasks run elsewhere.
	// Its containers outlive it on the engine; the store says what runs.
	w2 := tc.Workers[1]
	w2.Kill9(t)
	poll(t, taskTimeout, "w2 down and r running elsewhere", func() error {
		out := tc.docker(t, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		if !strings.Contains(out, "w2 Down") {
			return fmt.Errorf("nodes:\n%s", out)
		}
		n := 0
		for _, l := range tc.psLines(t, "r", "running") {
			f := strings.Split(l, "|")
			if f[1] == "w2" {
				return fmt.Errorf("a task is still desired running on w2: %s", l)
			}
			if strings.HasPrefix(f[3], "Running") {
				n++
			}
		}
		if n != 4 {
			return fmt.Errorf("%d tasks of r running", n)
		}
		return nil
	})
	// Restarted, w2's agent stops what the cluster moved away: nothing
	// runs twice, and w2 gets its global task again.
	w2.Restart(t)
	poll(t, taskTimeout, "w2 back with nothing running twice", func() error {
		r, g := tc.placement(t, "r"), tc.placement(t, "g")
		if r["w2"] != 0 && total(r) != 4 {
			return fmt.Errorf("r placed %v", r)
		}
		if total(r) != 4 {
			return fmt.Errorf("r placed %v", r)
		}
		if g["m1"] != 1 || g["w1"] != 1 || g["w2"] != 1 {
			return fmt.Errorf("g placed %v", g)
		}
		return nil
	})
}

// startedAt is a container's start time as the engine recorded it.
func (tc *taskCluster) startedAt(t *testing.T, id string) string {
	t.Helper()
	var c struct{ State struct{ StartedAt string } }
	if err := tc.eng.call(context.Background(), http.MethodGet, "/containers/"+id+"/json", nil, &c); err != nil {
		t.Fatal(err)
	}
	return c.State.StartedAt
}

func TestAgentRestartAdoptsContainers(t *testing.T) {
	// The default heartbeat: the restart must be over before the node
	// could be marked down.
	ctx := context.Background()
	eng := requireEngine(t, ctx)
	img := buildWorkloadImage(t, eng)
	tc := &taskCluster{testCluster: startClusterWith(t, clusterOptions{Managers: 1, Workers: 1}), eng: eng, image: img}
	w1ID := tc.Workers[0].NodeID(t)
	t.Cleanup(func() {
		for _, n := range tc.nodes() {
			n.kill()
		}
		cs, _ := tc.containers(ctx, "adopt")
		for _, c := range cs {
			eng.call(ctx, http.MethodDelete, "/containers/"+c.ID+"?force=1", nil, nil)
		}
	})
	tc.docker(t, "service", "create", "-d", "--name", "adopt", "--replicas", "2", "-e", "PORT=none", "--constraint", "node.hostname==w1", tc.image)
	tc.waitRunning(t, "adopt", 2)
	before := map[string]string{}
	cs, err := tc.containers(ctx, "adopt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels["com.docker.swarm.node.id"] == w1ID && c.State == "running" {
			before[c.ID] = tc.startedAt(t, c.ID)
		}
	}
	if len(before) != 2 {
		t.Fatalf("w1 runs %d containers of adopt, want 2", len(before))
	}
	psBefore := strings.Join(tc.psLines(t, "adopt", ""), "\n")

	w1 := tc.Workers[0]
	w1.Kill9(t)
	w1.Restart(t)
	poll(t, taskTimeout, "w1's agent to adopt its tasks", func() error {
		if !strings.Contains(w1.Output(), "adopted running tasks") {
			return fmt.Errorf("not adopted yet")
		}
		return nil
	})
	// Adopted: the same containers, never restarted, and the same tasks.
	cs, err = tc.containers(ctx, "adopt")
	if err != nil {
		t.Fatal(err)
	}
	after := map[string]string{}
	for _, c := range cs {
		if c.State == "running" {
			after[c.ID] = tc.startedAt(t, c.ID)
		}
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("containers after the agent's restart %v, want the same as before %v", after, before)
	}
	if ps := strings.Join(tc.psLines(t, "adopt", ""), "\n"); strings.Count(ps, "\n") != strings.Count(psBefore, "\n") {
		t.Errorf("docker service ps changed across the agent's restart:\nbefore:\n%s\nafter:\n%s", psBefore, ps)
	}
}
