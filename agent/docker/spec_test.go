package docker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/agent/runtime"
)

// mountOf finds target in a mountinfo(5) text and returns its mount
// options, its file system type and its super block options.
func mountOf(mountinfo, target string) (opts, fstype, super string, ok bool) {
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[4] != target {
			continue
		}
		sep := slices.Index(f, "-")
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		opts, fstype, super, ok = f[5], f[sep+1], f[sep+3], true // the last mount on target wins
	}
	return
}

func hasOpt(opts, o string) bool { return slices.Contains(strings.Split(opts, ","), o) }

// statusField returns a field of /proc/<pid>/status.
func statusField(status, name string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// firstFile returns the first of paths the probe could read: cgroup files
// sit at different places under cgroup v1 and v2.
func firstFile(p probeResult, paths ...string) (string, string) {
	for _, path := range paths {
		if v := p.Files[path]; !strings.HasPrefix(v, "error: ") {
			return path, strings.TrimSpace(v)
		}
	}
	return "", ""
}

// TestSpecReachesTheContainer runs one task with every setting of a
// service's container spec Swarm's executor passes to the engine, and
// checks each from inside the container (or, where the process cannot
// see it, on the container the engine made).
func TestSpecReachesTheContainer(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	roDir, rwDir := t.TempDir(), t.TempDir()
	for _, d := range []string{roDir, rwDir} {
		if err := os.Chmod(d, 0o777); err != nil { // reachable by the task's user
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(roDir, "in"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	grace, yes := 3*time.Second, true
	read := []string{
		"/ro/in", "/etc/hosts", "/etc/resolv.conf", "/proc/1/cmdline", "/proc/self/status", "/proc/self/limits",
		"/proc/self/oom_score_adj", "/proc/sys/net/core/somaxconn", "/proc/self/mountinfo",
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max",
		"/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max",
		"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu.max",
	}
	tk := task(2)
	tk.Annotations.Labels = map[string]string{"from": "task"}
	tk.GenericResources = []swarm.GenericResource{{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: "gpu", Value: 2}}}
	tk.Spec.Resources = &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: 500_000_000, MemoryBytes: 64 << 20, Pids: 50},
		Reservations: &swarm.Resources{MemoryBytes: 32 << 20},
	}
	tk.Spec.LogDriver = &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "1m"}}
	*tk.Spec.ContainerSpec = swarm.ContainerSpec{
		Image:   testImage,
		Labels:  map[string]string{"from": "spec", "spec.only": "x"},
		Command: []string{"/prog"},
		Args:    []string{"arg1", "arg2"},
		Env: []string{
			"PROBE=1", "SVC={{.Service.Name}}", "SLOT={{.Task.Slot}}", "NODE={{.Node.ID}}",
			"READ=" + strings.Join(read, ","), "WRITE=/tmp/w,/rw/w,/ro/w",
		},
		User:     "1000:1000",
		Groups:   []string{"2000"},
		Dir:      "/rw",
		Hostname: "{{.Service.Name}}-{{.Task.Slot}}",
		Init:     &yes,
		ReadOnly: true,
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: roDir, Target: "/ro", ReadOnly: true},
			{Type: mount.TypeBind, Source: rwDir, Target: "/rw"},
			{Type: mount.TypeVolume, Target: "/data"},
			{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
		},
		StopGracePeriod: &grace,
		CapabilityAdd:   []string{"CAP_NET_ADMIN"},
		CapabilityDrop:  []string{"CAP_MKNOD"},
		Sysctls:         map[string]string{"net.core.somaxconn": "1024"},
		Ulimits:         []*container.Ulimit{{Name: "nofile", Soft: 1000, Hard: 2000}},
		OomScoreAdj:     200,
		DNSConfig:       &swarm.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.org"}, Options: []string{"ndots:2"}},
		Hosts:           []string{"10.0.0.3 db db.local"},
		Privileges:      &swarm.Privileges{NoNewPrivileges: true},
	}
	spec := runtime.Spec{Task: tk, Service: "web"}
	if err := runSpec(t, rt, spec); err != nil {
		t.Fatalf("the probe failed: %v", err)
	}
	if err := rt.Prepare(ctx, spec); err != nil {
		t.Fatalf("prepare twice: %v", err)
	}
	p := probeOf(t, rt, tk.ID)

	check := func(what string, ok bool, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: got %v", what, got)
		}
	}
	check("command then args", slices.Equal(p.Args, []string{"/prog", "arg1", "arg2"}), p.Args)
	check("user 1000:1000", p.UID == 1000 && p.GID == 1000, []int{p.UID, p.GID})
	check("supplementary group 2000", slices.Contains(p.Groups, 2000), p.Groups)
	check("workdir /rw", p.Cwd == "/rw", p.Cwd)
	check("hostname from the template", p.Hostname == "web-2", p.Hostname)
	for _, e := range []string{"SVC=web", "SLOT=2", "NODE=" + rt.nodeID, "DOCKER_RESOURCE_GPU=2"} {
		check("env "+e, slices.Contains(p.Env, e), p.Env)
	}
	cmdline := p.Files["/proc/1/cmdline"]
	check("init is pid 1, the task is not", p.Pid != 1 && strings.Contains(cmdline, "init"), []any{p.Pid, cmdline})

	mi := p.Files["/proc/self/mountinfo"]
	rootOpts, _, _, _ := mountOf(mi, "/")
	check("read-only root", hasOpt(rootOpts, "ro"), rootOpts)
	roOpts, _, _, ok := mountOf(mi, "/ro")
	check("read-only bind", ok && hasOpt(roOpts, "ro") && p.Files["/ro/in"] == "from host", []any{roOpts, p.Files["/ro/in"]})
	check("no write through a read-only bind", strings.Contains(p.Writes["/ro/w"], "read-only"), p.Writes["/ro/w"])
	b, _ := os.ReadFile(filepath.Join(rwDir, "w"))
	check("write through a bind", p.Writes["/rw/w"] == "ok" && string(b) == "written", []any{p.Writes["/rw/w"], string(b)})
	_, fstype, super, ok := mountOf(mi, "/tmp")
	check("tmpfs of 1m", ok && fstype == "tmpfs" && hasOpt(super, "size=1024k") && p.Writes["/tmp/w"] == "ok", []any{fstype, super, p.Writes["/tmp/w"]})
	_, _, _, ok = mountOf(mi, "/data")
	check("volume at /data", ok, mi)

	status := p.Files["/proc/self/status"]
	check("no new privileges", statusField(status, "NoNewPrivs") == "1", status)
	bnd, _ := strconv.ParseUint(statusField(status, "CapBnd"), 16, 64)
	const capMknod, capNetAdmin = 27, 12
	check("CAP_NET_ADMIN added, CAP_MKNOD dropped", bnd&(1<<capNetAdmin) != 0 && bnd&(1<<capMknod) == 0, statusField(status, "CapBnd"))
	// The Go runtime raises its own soft limit at start: the hard one is
	// what the engine set.
	check("ulimit nofile hard 2000", regexp.MustCompile(`Max open files +\d+ +2000 `).MatchString(p.Files["/proc/self/limits"]), p.Files["/proc/self/limits"])
	check("oom score adj", strings.TrimSpace(p.Files["/proc/self/oom_score_adj"]) == "200", p.Files["/proc/self/oom_score_adj"])
	check("sysctl", strings.TrimSpace(p.Files["/proc/sys/net/core/somaxconn"]) == "1024", p.Files["/proc/sys/net/core/somaxconn"])

	_, mem := firstFile(p, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max")
	check("memory limit 64MiB", mem == strconv.Itoa(64<<20), mem)
	_, pids := firstFile(p, "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max")
	check("pids limit", pids == "50", pids)
	_, cpu := firstFile(p, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu.max")
	check("half a CPU", cpu == "50000" || cpu == "50000 100000", cpu)

	resolv := p.Files["/etc/resolv.conf"]
	for _, l := range []string{"nameserver 10.0.0.2", "search example.org", "options ndots:2"} {
		check("resolv.conf "+l, slices.Contains(lines(resolv), l), resolv)
	}
	hosts := strings.Join(strings.Fields(p.Files["/etc/hosts"]), " ")
	check("hosts", strings.Contains(hosts, "10.0.0.3 db") && strings.Contains(hosts, "10.0.0.3 db.local"), p.Files["/etc/hosts"])

	// What the process cannot see, the engine shows.
	c, err := engine.ContainerInspect(ctx, "web.2."+tk.ID)
	if err != nil {
		t.Fatalf("inspect by Swarm's name: %v", err)
	}
	for k, v := range map[string]string{
		"from": "task", "spec.only": "x", LabelTask: "", LabelTaskID: tk.ID,
		LabelTaskName: "web.2." + tk.ID, LabelServiceID: "svc-id", LabelServiceName: "web", LabelNodeID: rt.nodeID,
	} {
		if got, ok := c.Config.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	check("log driver", c.HostConfig.LogConfig.Type == "json-file" && c.HostConfig.LogConfig.Config["max-size"] == "1m", c.HostConfig.LogConfig)
	check("stop timeout", c.Config.StopTimeout != nil && *c.Config.StopTimeout == 3, c.Config.StopTimeout)
	check("reservations stay the scheduler's", c.HostConfig.MemoryReservation == 0, c.HostConfig.MemoryReservation)
}

func TestStopSignal(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1, "SLEEP=1h", "LINES=ready")
	tk.Spec.ContainerSpec.StopSignal = "SIGUSR1"
	start(t, rt, runtime.Spec{Task: tk, Service: "svc"})
	waitForLine(t, rt, tk.ID, "ready")
	if err := rt.Stop(ctx, tk.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := rt.Wait(ctx, tk.ID, nil); err != nil {
		t.Errorf("Wait = %v, want exit 0 on the stop signal", err)
	}
	if out, _ := logsOf(t, rt, tk.ID, false); !strings.Contains(out, "signal: user defined signal 1") {
		t.Errorf("stdout %q: the task did not get SIGUSR1", out)
	}
}

// waitForLine polls the task's logs until a line appears.
func waitForLine(t *testing.T, rt *Runtime, taskID, line string) {
	t.Helper()
	waitForLines(t, rt, taskID, line, 1)
}

// waitForLines polls the task's logs until a line appears n times.
func waitForLines(t *testing.T, rt *Runtime, taskID, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := logsOf(t, rt, taskID, false)
		seen := 0
		for _, l := range lines(out) {
			if l == line {
				seen++
			}
		}
		if seen >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s printed %q %d times, not %d: %q", taskID, line, seen, n, out)
		}
		time.Sleep(20 * time.Millisecond) // polling the logs, not waiting blind
	}
}

func TestHealthy(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1, "SLEEP=1h")
	tk.Spec.ContainerSpec.Healthcheck = &container.HealthConfig{
		Test: []string{"CMD", "/prog", "ok"}, Interval: 200 * time.Millisecond, Retries: 1,
	}
	start(t, rt, runtime.Spec{Task: tk, Service: "svc"})
	healthy := make(chan struct{})
	waitErr := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := make(chan string, 1)
	go func() {
		var once bool
		waitErr <- rt.Wait(wctx, tk.ID, func(s string) {
			select {
			case first <- s:
			default:
			}
			if s == "healthy" && !once {
				once = true
				close(healthy)
			}
		})
	}()
	select {
	case <-healthy:
	case err := <-waitErr:
		t.Fatalf("Wait ended before the task was healthy: %v", err)
	case <-ctx.Done():
		t.Fatal("the task never became healthy")
	}
	// The first report is the container's health as the engine has it:
	// a container with a healthcheck is never reported as having none.
	if f := <-first; f != "starting" && f != "healthy" {
		t.Errorf("first health report %q, want starting (or healthy)", f)
	}
	if err := rt.Stop(ctx, tk.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-waitErr; err != nil {
		t.Errorf("Wait after a stop = %v, want nil (exit 0 on SIGTERM)", err)
	}
}

func TestNoHealthcheckReportsNone(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	tk := task(1, "SLEEP=1h")
	start(t, rt, runtime.Spec{Task: tk, Service: "svc"})
	wctx, cancel := context.WithCancel(ctx)
	first := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- rt.Wait(wctx, tk.ID, func(s string) {
			select {
			case first <- s:
			default:
			}
		})
	}()
	select {
	case f := <-first:
		if f != "none" {
			t.Errorf("first health report of a container without a healthcheck: %q, want none", f)
		}
	case err := <-done:
		t.Fatalf("Wait ended first: %v", err)
	}
	cancel()
	<-done
	if err := rt.Stop(ctx, tk.ID, nil); err != nil {
		t.Fatal(err)
	}
}
