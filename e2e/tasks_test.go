package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmops/swarmops/cluster/manager"
)

// converged is the docker CLI's last progress line once a service
// converged; newer CLIs name the service in it.
var converged = regexp.MustCompile(`verify: Service (\S+ )?converged`)

// taskTimeout bounds the waits on tasks: a container start on this
// machine's engine takes a fraction of a second, a node marked down takes
// three heartbeat periods.
const taskTimeout = 60 * time.Second

// testHeartbeat is the managers' heartbeat period in the task tests, so a
// killed node is down in three seconds rather than fifteen.
const testHeartbeat = time.Second

// taskCluster is a cluster whose agents run containers on this machine's
// engine, and that engine.
type taskCluster struct {
	*testCluster
	eng   *engine
	image string
}

// startTaskCluster starts one manager and workers workers, all running
// their tasks on the Docker engine, and builds the workload image. Every
// container the nodes leave behind (a killed agent's) is removed at the
// end.
func startTaskCluster(t *testing.T, workers int) *taskCluster {
	t.Helper()
	return startTaskClusterWith(t, clusterOptions{Managers: 1, Workers: workers})
}

// startTaskClusterWith is startTaskCluster for any number of managers
// (each runs an agent too); the managers' heartbeat period is
// testHeartbeat.
func startTaskClusterWith(t *testing.T, opts clusterOptions) *taskCluster {
	t.Helper()
	ctx := context.Background()
	eng := requireEngine(t, ctx)
	img := buildWorkloadImage(t, eng)
	opts.NodeArgs = append(opts.NodeArgs, "--heartbeat-period", testHeartbeat.String())
	c := startClusterWith(t, opts)
	tc := &taskCluster{testCluster: c, eng: eng, image: img}
	ids := map[string]bool{}
	for _, n := range c.nodes() {
		// A worker is listed as soon as the managers admit it, a moment
		// before its identity is on disk.
		poll(t, startTimeout, n.Name+"'s identity on disk", func() error {
			id, err := (manager.DataDir{Dir: n.DataDir}).LoadIdentity()
			if err != nil {
				return err
			}
			ids[id.NodeID] = true
			return nil
		})
	}
	t.Cleanup(func() {
		for _, n := range c.nodes() {
			n.kill()
		}
		cs, err := tc.containers(ctx, "")
		if err != nil {
			t.Errorf("list the test's containers: %v", err)
			return
		}
		for _, ct := range cs {
			if ids[ct.Labels["com.docker.swarm.node.id"]] {
				eng.call(ctx, http.MethodDelete, "/containers/"+ct.ID+"?force=1&v=1", nil, nil)
			}
		}
	})
	// Every node's agent has registered once every node is ready.
	poll(t, startTimeout, "every node ready", func() error {
		out, err := tc.Docker(t, c.Managers[0], "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if n := strings.Count(out, " Ready"); n != len(c.nodes()) {
			return fmt.Errorf("%d of %d nodes ready:\n%s", n, len(c.nodes()), out)
		}
		return nil
	})
	return tc
}

// container is what the tests read of a container on the engine.
type container struct {
	ID     string
	State  string
	Labels map[string]string
}

// containers lists the containers swarmops's docker runtime made, of
// service svc ("" for all).
func (tc *taskCluster) containers(ctx context.Context, svc string) ([]container, error) {
	f := `{"label":["com.swarmops.runtime=docker"`
	if svc != "" {
		f += `,"com.docker.swarm.service.name=` + svc + `"`
	}
	f += `]}`
	var out []container
	err := tc.eng.call(ctx, http.MethodGet, "/containers/json?all=1&filters="+url.QueryEscape(f), nil, &out)
	return out, err
}

// running counts svc's running containers per node ID.
func (tc *taskCluster) running(t *testing.T, svc string) map[string]int {
	t.Helper()
	cs, err := tc.containers(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cs {
		if c.State == "running" {
			out[c.Labels["com.docker.swarm.node.id"]]++
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// docker runs the docker CLI through the first manager and fails the test
// on an error.
func (tc *taskCluster) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tc.Docker(t, tc.Managers[0], args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// psLines is `docker service ps` of svc, one "name node desired current"
// line per task, for tasks desired in state desired ("" for all).
func (tc *taskCluster) psLines(t *testing.T, svc, desired string) []string {
	t.Helper()
	args := []string{"service", "ps", svc, "--no-trunc", "--format", "{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}"}
	if desired != "" {
		args = append(args, "--filter", "desired-state="+desired)
	}
	out := strings.TrimSpace(tc.docker(t, args...))
	if out == "" {
		return nil
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		// The CLI prints errors quoted ("task: non-zero exit (1)").
		f := strings.Split(l, "|")
		if e, err := strconv.Unquote(f[4]); err == nil {
			f[4] = e
		}
		lines[i] = strings.Join(f, "|")
	}
	return lines
}

// waitRunning waits until svc runs want containers and `docker service ps`
// agrees.
func (tc *taskCluster) waitRunning(t *testing.T, svc string, want int) {
	t.Helper()
	poll(t, taskTimeout, fmt.Sprintf("%d running tasks of %s", want, svc), func() error {
		if got := total(tc.running(t, svc)); got != want {
			return fmt.Errorf("%d containers running", got)
		}
		n := 0
		for _, l := range tc.psLines(t, svc, "running") {
			if strings.Split(l, "|")[3] != "" && strings.HasPrefix(strings.Split(l, "|")[3], "Running") {
				n++
			}
		}
		if n != want {
			return fmt.Errorf("docker service ps shows %d running", n)
		}
		return nil
	})
}

func TestServiceLifecycleThroughDockerCLI(t *testing.T) {
	tc := startTaskCluster(t, 2)
	out := tc.docker(t, "service", "create", "--name", "web", "--replicas", "3", tc.image)
	if !strings.Contains(out, "overall progress: 3 out of 3 tasks") || !converged.MatchString(out) {
		t.Errorf("docker service create printed no \"overall progress: 3 out of 3 tasks\" and \"verify: Service converged\":\n%s", out)
	}
	lines := tc.psLines(t, "web", "")
	if len(lines) != 3 {
		t.Fatalf("docker service ps web: %d tasks, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var names, nodes []string
	for _, l := range lines {
		f := strings.Split(l, "|")
		names, nodes = append(names, f[0]), append(nodes, f[1])
		if f[2] != "Running" || !strings.HasPrefix(f[3], "Running ") {
			t.Errorf("task %s: desired %q, current %q; want Running, Running ...", f[0], f[2], f[3])
		}
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "web.1 web.2 web.3" {
		t.Errorf("slots: %v, want web.1 web.2 web.3", names)
	}
	slices.Sort(nodes)
	if strings.Join(nodes, " ") != "m1 w1 w2" {
		t.Errorf("the three tasks run on %v, want one on each of m1 w1 w2 (spread)", nodes)
	}
	if got := tc.running(t, "web"); total(got) != 3 || len(got) != 3 {
		t.Errorf("the engine runs %v containers of web per node, want one on each of 3 nodes", got)
	}

	tc.checkLogs(t)

	out = tc.docker(t, "service", "scale", "web=5")
	if !strings.Contains(out, "web scaled to 5") || !converged.MatchString(out) {
		t.Errorf("docker service scale web=5 printed:\n%s", out)
	}
	tc.waitRunning(t, "web", 5)

	out = tc.docker(t, "service", "update", "--env-add", "GREETING=hi", "web")
	if !converged.MatchString(out) {
		t.Errorf("docker service update printed:\n%s", out)
	}
	tc.waitRunning(t, "web", 5)
	cs, err := tc.containers(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	withEnv := 0
	for _, c := range cs {
		if c.State != "running" {
			continue
		}
		var inspect struct{ Config struct{ Env []string } }
		if err := tc.eng.call(context.Background(), http.MethodGet, "/containers/"+c.ID+"/json", nil, &inspect); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(inspect.Config.Env, "GREETING=hi") {
			withEnv++
		}
	}
	if withEnv != 5 {
		t.Errorf("%d of the running containers have GREETING=hi after the update, want 5", withEnv)
	}

	tc.docker(t, "service", "rm", "web")
	poll(t, taskTimeout, "no container of web left", func() error {
		cs, err := tc.containers(context.Background(), "web")
		if err != nil {
			return err
		}
		if len(cs) != 0 {
			return fmt.Errorf("%d containers of web remain", len(cs))
		}
		return nil
	})
}

// checkLogs reads web's logs through the manager, which asks each task's
// node: all of them, one task's with --tail and --timestamps, and a
// followed stream that a new task joins.
func (tc *taskCluster) checkLogs(t *testing.T) {
	t.Helper()
	out := tc.docker(t, "service", "logs", "web")
	for _, slot := range []string{"web.1.", "web.2.", "web.3."} {
		if !regexp.MustCompile(regexp.QuoteMeta(slot) + `\w+@(m1|w1|w2) +\| hello v1 from `).MatchString(out) {
			t.Errorf("docker service logs web has no greeting of %s:\n%s", slot, out)
		}
	}
	id := strings.Fields(tc.docker(t, "service", "ps", "web", "-q", "--no-trunc", "--filter", "name=web.2"))[0]
	out = strings.TrimSpace(tc.docker(t, "service", "logs", "--tail", "1", "--timestamps", id))
	if lines := strings.Split(out, "\n"); len(lines) != 1 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+ web\.2\.\w+@\w+ +\| hello v1`).MatchString(lines[0]) {
		t.Errorf("docker service logs --tail 1 --timestamps %s:\n%s", id, out)
	}

	// --follow: a task started while the stream is open joins it.
	ctx, cancel := context.WithTimeout(context.Background(), taskTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "service", "logs", "--follow", "web")
	cmd.Env = tc.dockerEnv(tc.Managers[0])
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	seen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "web.4.") {
				seen <- sc.Text()
				return
			}
		}
		close(seen)
	}()
	tc.docker(t, "service", "scale", "-d", "web=4")
	select {
	case line, ok := <-seen:
		if !ok || !strings.Contains(line, "| hello v1 from") {
			t.Errorf("docker service logs --follow: the new task's line %q", line)
		}
	case <-ctx.Done():
		t.Error("docker service logs --follow never showed the task started after it began")
	}
}
