package apiserver

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// These tests run the real docker CLI through the flows of a rollout
// (create, update with its flags, rollback, following the progress) and
// of jobs. No control loop runs in the harness: where the CLI waits for
// the cluster, the test plays the orchestrator and the rollout engine by
// writing tasks and update states, as they would.

// cliRun is a docker CLI process started in the background.
type cliRun struct {
	args        []string
	out, errOut *notifyBuffer
	exited      chan error
}

// start runs the CLI without waiting for its end; the test's end kills it.
func (d *dockerCLI) start(t *testing.T, args ...string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	r := &cliRun{args: args, out: newNotifyBuffer(), errOut: newNotifyBuffer(), exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.out, r.errOut
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { r.exited <- cmd.Wait() }()
	t.Cleanup(cancel)
	return r
}

// wait waits for the CLI's end and returns how it ended.
func (r *cliRun) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-r.exited:
		return err
	case <-time.After(within):
		t.Fatalf("docker %s: no end within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), within, r.out, r.errOut)
		return nil
	}
}

// waitStore waits until cond holds on st, checking it again after every
// change the store applies.
func waitStore(t *testing.T, st *store.Store, within time.Duration, what string, cond func(tx store.ReadTx) bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		// Take the change channel first: a change after it closes it.
		_, changed, _ := st.Events(st.LastIndex())
		ok := false
		if err := st.View(func(tx store.ReadTx) error {
			ok = cond(tx)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no %s within %s", what, within)
		}
	}
}

// service reads a service from m's store by name.
func (h *harness) service(m *manager, name string) *swarm.Service {
	h.t.Helper()
	var svc *swarm.Service
	if err := m.store.View(func(tx store.ReadTx) error {
		s, err := tx.ServiceByName(name)
		svc = s
		return err
	}); err != nil {
		h.t.Fatalf("service %s: %v", name, err)
	}
	return svc
}

// waitServiceWith waits until the service named name exists and ok holds
// for it, and returns it.
func (h *harness) waitServiceWith(m *manager, name, what string, ok func(*swarm.Service) bool) *swarm.Service {
	h.t.Helper()
	var svc *swarm.Service
	waitStore(h.t, m.store, 30*time.Second, what, func(tx store.ReadTx) bool {
		s, err := tx.ServiceByName(name)
		if err != nil || !ok(s) {
			return false
		}
		svc = s
		return true
	})
	return svc
}

// taskOf is a task of svc's current spec, as the orchestrator makes it.
func taskOf(svc *swarm.Service, id string, slot int, node string, state swarm.TaskState) *swarm.Task {
	t := &swarm.Task{ID: id, ServiceID: svc.ID, Slot: slot, NodeID: node, Spec: svc.Spec.TaskTemplate,
		DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state}}
	if svc.JobStatus != nil {
		it := svc.JobStatus.JobIteration
		t.JobIteration = &it
		t.DesiredState = swarm.TaskStateComplete
	}
	return t
}

// setTaskState records a new observed state of a task, as its node's
// report would.
func (h *harness) setTaskState(m *manager, id string, state swarm.TaskState) {
	h.t.Helper()
	var task *swarm.Task
	if err := m.store.View(func(tx store.ReadTx) error {
		var err error
		task, err = tx.Task(id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	next := *task
	next.Status.State = state
	h.propose(store.Update(&next, task.Version.Index))
}

// taskID makes a 25-character task ID from a short name.
func taskID(name string) string {
	return (name + strings.Repeat("0", 25))[:25]
}

func TestDockerCLIServiceCreatePrintsMonitorWarning(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	d := newDockerCLI(t, h, m)
	stdout, stderr, err := d.run(t, "service", "create", "--detach", "--no-resolve-image", "--name", "web",
		"--health-cmd", "/probe", "--health-interval", "10s", "busybox:1")
	if err != nil {
		t.Fatalf("docker service create: %v\n%s%s", err, stdout, stderr)
	}
	want := "service web: UpdateConfig.Monitor 5s is shorter than the 30s its healthcheck may take to report a failure (StartPeriod 0s + Interval 10s × Retries 3): a release that fails later counts as a success; set --update-monitor (or the label com.swarmops.update.min-healthy-time) to 30s or more\n"
	if stderr != want {
		t.Errorf("stderr:\n%q\nwant the monitor warning:\n%q", stderr, want)
	}
	if id := strings.TrimSpace(stdout); id != h.service(m, "web").ID {
		t.Errorf("stdout %q, want the service ID", stdout)
	}

	// The update that follows the advice is not warned.
	stdout, stderr, err = d.run(t, "service", "update", "--detach", "--update-monitor", "30s", "web")
	if err != nil || stderr != "" {
		t.Errorf("docker service update --update-monitor 30s: %v\nstdout %q\nstderr %q", err, stdout, stderr)
	}
	if mon := h.service(m, "web").Spec.UpdateConfig.Monitor; mon != 30*time.Second {
		t.Errorf("monitor %s, want 30s", mon)
	}
}

func TestDockerCLIServiceUpdateFlagsAndRollback(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	d := newDockerCLI(t, h, m)
	mustRun := func(args ...string) {
		t.Helper()
		if stdout, stderr, err := d.run(t, args...); err != nil {
			t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
		}
	}
	mustRun("service", "create", "--detach", "--no-resolve-image", "--name", "web", "--replicas", "2", "busybox:1")
	svc := h.service(m, "web")
	tasks := []*swarm.Task{
		taskOf(svc, taskID("webone"), 1, m.id, swarm.TaskStateRunning),
		taskOf(svc, taskID("webtwo"), 2, m.id, swarm.TaskStateRunning),
	}
	h.propose(store.Create(tasks[0]), store.Create(tasks[1]))

	// Only update_config changes: the task template, and so every task,
	// stays as it is.
	mustRun("service", "update", "--detach", "--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first",
		"--update-failure-action", "rollback", "--update-monitor", "20s", "web")
	after := h.service(m, "web")
	wantUC := swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 20 * time.Second, Order: "start-first"}
	if after.Spec.UpdateConfig == nil || *after.Spec.UpdateConfig != wantUC {
		t.Errorf("update config %+v, want %+v", after.Spec.UpdateConfig, wantUC)
	}
	if !reflect.DeepEqual(after.Spec.TaskTemplate, svc.Spec.TaskTemplate) {
		t.Errorf("an update_config-only update changed the task template:\n got %+v\nwant %+v", after.Spec.TaskTemplate, svc.Spec.TaskTemplate)
	}
	for _, task := range tasks {
		if deploy.Dirty(after, task) {
			t.Errorf("task %s is out of date after an update_config-only update", task.ID)
		}
	}

	// --force bumps ForceUpdate, which makes every task out of date.
	mustRun("service", "update", "--detach", "--force", "web")
	forced := h.service(m, "web")
	if forced.Spec.TaskTemplate.ForceUpdate != svc.Spec.TaskTemplate.ForceUpdate+1 {
		t.Errorf("ForceUpdate %d, want %d", forced.Spec.TaskTemplate.ForceUpdate, svc.Spec.TaskTemplate.ForceUpdate+1)
	}
	if !deploy.Dirty(forced, tasks[0]) {
		t.Error("a forced update left the tasks up to date")
	}

	// A finished rollout's status is reset by the next update, so that
	// the CLI following it does not read the old "completed".
	done := *forced
	done.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, Message: "update completed"}
	h.propose(store.Update(&done, forced.Version.Index))
	mustRun("service", "update", "--detach", "--no-resolve-image", "--image", "busybox:2", "web")
	updated := h.service(m, "web")
	if updated.UpdateStatus != nil || updated.Spec.TaskTemplate.ContainerSpec.Image != "busybox:2" ||
		updated.PreviousSpec == nil || updated.PreviousSpec.TaskTemplate.ContainerSpec.Image != "busybox:1" {
		t.Errorf("after --image: status %+v, image %s, previous %+v", updated.UpdateStatus, updated.Spec.TaskTemplate.ContainerSpec.Image, updated.PreviousSpec)
	}

	// `update --rollback` and `rollback` both swap in the previous spec
	// and mark a manual rollback, as SwarmKit's control API does.
	for i, args := range [][]string{{"service", "update", "--detach", "--rollback", "web"}, {"service", "rollback", "--detach", "web"}} {
		before := h.service(m, "web")
		mustRun(args...)
		got := h.service(m, "web")
		if !reflect.DeepEqual(got.Spec, *before.PreviousSpec) || !reflect.DeepEqual(*got.PreviousSpec, before.Spec) {
			t.Errorf("docker %s did not swap the specs: image %s, previous %s", strings.Join(args, " "),
				got.Spec.TaskTemplate.ContainerSpec.Image, got.PreviousSpec.TaskTemplate.ContainerSpec.Image)
		}
		if us := got.UpdateStatus; us == nil || us.State != swarm.UpdateStateRollbackStarted || us.Message != "manually requested rollback" {
			t.Errorf("docker %s: update status %+v", strings.Join(args, " "), us)
		}
		if want := []string{"busybox:1", "busybox:2"}[i]; got.Spec.TaskTemplate.ContainerSpec.Image != want {
			t.Errorf("docker %s: image %s, want %s", strings.Join(args, " "), got.Spec.TaskTemplate.ContainerSpec.Image, want)
		}
	}
}

// followedService is a replicated service of two running tasks, with a
// monitor of 1s so that the CLI's verify wait is short.
func followedService(t *testing.T, h *harness, m *manager, name string) *swarm.Service {
	t.Helper()
	spec := minimalSpec(name, "busybox:1")
	spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(2))}
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second}
	if _, err := h.docker(m, h.clientCert()).ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := h.service(m, name)
	h.propose(store.Create(taskOf(svc, taskID(name+"a"), 1, m.id, swarm.TaskStateRunning)),
		store.Create(taskOf(svc, taskID(name+"b"), 2, m.id, swarm.TaskStateRunning)))
	return svc
}

// replaceTasks does what a rollout does to the service's two slots: the
// old tasks shut down and tasks of the current spec run.
func replaceTasks(h *harness, m *manager, svc *swarm.Service, status *swarm.UpdateStatus) {
	h.t.Helper()
	muts := shutDownTasks(h, m, svc.ID)
	next := *svc
	next.UpdateStatus = status
	muts = append(muts, store.Update(&next, svc.Version.Index),
		store.Create(taskOf(svc, taskID(svc.Spec.Name+"new1"), 1, m.id, swarm.TaskStateRunning)),
		store.Create(taskOf(svc, taskID(svc.Spec.Name+"new2"), 2, m.id, swarm.TaskStateRunning)))
	h.propose(muts...)
}

// shutDownTasks are the mutations that shut down every task of a service.
func shutDownTasks(h *harness, m *manager, serviceID string) []store.Mutation {
	h.t.Helper()
	var muts []store.Mutation
	if err := m.store.View(func(tx store.ReadTx) error {
		old, err := tx.TasksByService(serviceID)
		for _, o := range old {
			c := *o
			c.DesiredState, c.Status.State = swarm.TaskStateShutdown, swarm.TaskStateShutdown
			muts = append(muts, store.Update(&c, o.Version.Index))
		}
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return muts
}

func TestDockerCLIFollowsAnUpdate(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	d := newDockerCLI(t, h, m)
	imageIs := func(image string) func(*swarm.Service) bool {
		return func(s *swarm.Service) bool { return s.Spec.TaskTemplate.ContainerSpec.Image == image }
	}

	t.Run("converges", func(t *testing.T) {
		followedService(t, h, m, "ok")
		run := d.start(t, "service", "update", "--no-resolve-image", "--image", "busybox:2", "ok")
		svc := h.waitServiceWith(m, "ok", "update of ok", imageIs("busybox:2"))
		replaceTasks(h, m, svc, &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, Message: "update in progress"})
		if err := run.wait(t, time.Minute); err != nil {
			t.Fatalf("exit %v, want 0\nstdout:\n%s\nstderr:\n%s", err, run.out, run.errOut)
		}
		for _, want := range []string{"overall progress: 2 out of 2 tasks", "verify: Service ok converged"} {
			if !strings.Contains(run.out.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, run.out)
			}
		}
	})

	t.Run("paused", func(t *testing.T) {
		followedService(t, h, m, "paused")
		run := d.start(t, "service", "update", "--no-resolve-image", "--image", "busybox:2", "paused")
		svc := h.waitServiceWith(m, "paused", "update of paused", imageIs("busybox:2"))
		next := *svc
		next.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task " + taskID("pausednew1")}
		h.propose(store.Update(&next, svc.Version.Index))
		err := run.wait(t, time.Minute)
		if err == nil {
			t.Fatalf("exit 0 for a paused update\nstdout:\n%s", run.out)
		}
		if want := "service update paused: update paused due to failure or early termination of task " + taskID("pausednew1"); !strings.Contains(run.errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", run.errOut, want)
		}
	})

	// An update the rollout engine rolls back: the CLI shows the rollback
	// and its progress. docker CLI 28 then exits 0 (only a paused update
	// or rollback ends it with an error), so this pins what a script sees.
	t.Run("rolled back", func(t *testing.T) {
		followedService(t, h, m, "back")
		run := d.start(t, "service", "update", "--no-resolve-image", "--image", "busybox:2", "back")
		svc := h.waitServiceWith(m, "back", "update of back", imageIs("busybox:2"))
		msg := "update rolled back due to failure or early termination of task " + taskID("backnew1")
		back := *svc
		back.Spec, back.PreviousSpec = *svc.PreviousSpec, &svc.Spec
		back.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, Message: msg}
		// The failed update had already stopped the old tasks, as a real
		// rollout does; were they left running, the swapped-back spec would
		// make them up to date at once and the CLI could count them as
		// converged before it reads the rollback status.
		h.propose(append(shutDownTasks(h, m, svc.ID), store.Update(&back, svc.Version.Index))...)
		run.out.waitFor(t, 30*time.Second, "rollback: "+msg)
		rolled := h.service(m, "back")
		replaceTasks(h, m, rolled, &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "rollback completed"})
		if err := run.wait(t, time.Minute); err != nil {
			t.Fatalf("exit %v\nstdout:\n%s\nstderr:\n%s", err, run.out, run.errOut)
		}
		if want := "overall progress: rolling back update: 2 out of 2 tasks"; !strings.Contains(run.out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, run.out)
		}
	})
}

func TestDockerCLIJobProgressEnds(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	h.addWorker("worker1aaaaaaaaaaaaaaaaaa", "w1", swarm.NodeStateReady, nil)
	d := newDockerCLI(t, h, m)
	ls := func(name string) string {
		t.Helper()
		stdout, stderr, err := d.run(t, "service", "ls", "--filter", "name="+name, "--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
		if err != nil {
			t.Fatalf("docker service ls: %v\n%s", err, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	iteration := func(n uint64) func(*swarm.Service) bool {
		return func(s *swarm.Service) bool { return s.JobStatus != nil && s.JobStatus.JobIteration.Index == n }
	}

	t.Run("replicated", func(t *testing.T) {
		run := d.start(t, "service", "create", "--no-resolve-image", "--name", "migrate", "--mode", "replicated-job", "--replicas", "2", "busybox")
		svc := h.waitServiceWith(m, "migrate", "job migrate", iteration(0))
		h.propose(store.Create(taskOf(svc, taskID("migrate0"), 0, m.id, swarm.TaskStateComplete)),
			store.Create(taskOf(svc, taskID("migrate1"), 1, m.id, swarm.TaskStateComplete)))
		if err := run.wait(t, time.Minute); err != nil {
			t.Fatalf("exit %v\nstdout:\n%s\nstderr:\n%s", err, run.out, run.errOut)
		}
		// Without a terminal the CLI leaves out its progress bars ("job
		// progress: 2 out of 2 complete"); the counts of active tasks and
		// the end remain.
		for _, want := range []string{"active tasks: 0 out of 2 tasks", "job complete"} {
			if !strings.Contains(run.out.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, run.out)
			}
		}
		if got, want := ls("migrate"), "migrate replicated job 0/2 (2/2 completed)"; got != want {
			t.Errorf("service ls: %q, want %q", got, want)
		}

		// Running it again is a new iteration: the completed tasks of
		// the first count for nothing, and the CLI waits for the new ones.
		run = d.start(t, "service", "update", "--force", "migrate")
		svc = h.waitServiceWith(m, "migrate", "second iteration of migrate", iteration(1))
		if got, want := ls("migrate"), "migrate replicated job 0/2 (0/2 completed)"; got != want {
			t.Errorf("service ls in the new iteration: %q, want %q", got, want)
		}
		h.propose(store.Create(taskOf(svc, taskID("migrate2"), 0, m.id, swarm.TaskStateRunning)),
			store.Create(taskOf(svc, taskID("migrate3"), 1, m.id, swarm.TaskStateComplete)))
		run.out.waitFor(t, 30*time.Second, "active tasks: 1 out of 1 tasks")
		if got, want := ls("migrate"), "migrate replicated job 1/2 (1/2 completed)"; got != want {
			t.Errorf("service ls halfway: %q, want %q", got, want)
		}
		h.setTaskState(m, taskID("migrate2"), swarm.TaskStateComplete)
		if err := run.wait(t, time.Minute); err != nil {
			t.Fatalf("second iteration: exit %v\nstdout:\n%s\nstderr:\n%s", err, run.out, run.errOut)
		}
		if !strings.Contains(run.out.String(), "job complete") {
			t.Errorf("second iteration: stdout lacks job complete:\n%s", run.out)
		}
	})

	t.Run("global", func(t *testing.T) {
		run := d.start(t, "service", "create", "--no-resolve-image", "--name", "sweep", "--mode", "global-job", "busybox")
		svc := h.waitServiceWith(m, "sweep", "job sweep", iteration(0))
		h.propose(store.Create(taskOf(svc, taskID("sweepmgr"), 0, m.id, swarm.TaskStateComplete)),
			store.Create(taskOf(svc, taskID("sweepw1"), 0, "worker1aaaaaaaaaaaaaaaaaa", swarm.TaskStateRunning)))
		// The CLI draws a global job's progress only as bars, which it
		// leaves out without a terminal: what shows that it waits is
		// that it has not ended.
		if got, want := ls("sweep"), "sweep global job 1/1 (1/2 completed)"; got != want {
			t.Errorf("service ls halfway: %q, want %q", got, want)
		}
		select {
		case err := <-run.exited:
			t.Fatalf("the CLI ended (%v) with one of two tasks complete:\n%s", err, run.out)
		default:
		}
		h.setTaskState(m, taskID("sweepw1"), swarm.TaskStateComplete)
		if err := run.wait(t, time.Minute); err != nil {
			t.Fatalf("exit %v\nstdout:\n%s\nstderr:\n%s", err, run.out, run.errOut)
		}
		if !strings.Contains(run.out.String(), "job complete") {
			t.Errorf("stdout lacks job complete:\n%s", run.out)
		}
		if got, want := ls("sweep"), "sweep global job 0/0 (2/2 completed)"; got != want {
			t.Errorf("service ls: %q, want %q", got, want)
		}
	})
}
