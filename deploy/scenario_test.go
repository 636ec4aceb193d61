package deploy_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/control"
	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

var update = flag.Bool("update", false, "rewrite deploy/testdata/*.golden from the scenarios' output")

// TestScenarios runs each testdata/*.txt script against the real control
// planners (the orchestrator, which drives Step, and the scheduler) over a
// real store, with scripted agents, and compares what it prints with the
// .golden file beside it. `go test ./deploy -update` rewrites them.
func TestScenarios(t *testing.T) {
	scripts, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scenarios in testdata (%v)", err)
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".txt")
		t.Run(name, func(t *testing.T) {
			got := runScript(t, script)
			golden := strings.TrimSuffix(script, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./deploy -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n%s", script, golden, lineDiff(string(want), got))
			}
		})
	}
}

// TestLeaderChangesChangeNothing runs the leader-change scenarios without
// their leader changes: after every command the service and its slots
// must be as they are with them (task IDs aside: a pass cut short makes
// its remaining tasks under other IDs).
func TestLeaderChangesChangeNothing(t *testing.T) {
	for _, name := range []string{"leader-change", "leader-change-mid-pass", "progress-deadline-rollback-stalls"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".txt")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var without []string
			changes := 0
			for _, l := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(l, "leader-change") || strings.HasPrefix(l, "crash-after") {
					changes++
					continue
				}
				without = append(without, l)
			}
			if changes == 0 {
				t.Fatalf("%s changes no leader", path)
			}
			ids := regexp.MustCompile(`\bt[0-9]+\b`)
			// states lists the state printed after each command; a leader
			// change prints the state it found again, which is dropped.
			states := func(out string) []string {
				var blocks []string
				for _, l := range strings.Split(out, "\n") {
					switch {
					case strings.HasPrefix(l, "  +"):
						blocks = append(blocks, l)
					case strings.HasPrefix(l, "    slot ") && len(blocks) > 0:
						blocks[len(blocks)-1] += "\n" + ids.ReplaceAllString(l, "t#")
					}
				}
				return slices.Compact(blocks)
			}
			with := states(runLines(t, path, string(data)))
			alone := states(runLines(t, path, strings.Join(without, "\n")))
			if got, want := strings.Join(with, "\n"), strings.Join(alone, "\n"); got != want {
				t.Errorf("with leader changes:\n%s\n\nwithout:\n%s", got, want)
			}
		})
	}
}

// lineDiff shows the first lines where want and got part.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			end := min(i+12, len(g))
			return fmt.Sprintf("line %d:\nwant: %s\n got: %s\n\ngot from there:\n%s", i+1, wl, gl, strings.Join(g[i:end], "\n"))
		}
	}
	return "(equal)"
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const serviceID = "web"

// world is the cluster a script drives: a store and the time; agents
// follow the behaviours the script gives images.
type world struct {
	t     *testing.T
	st    *store.Store
	index uint64
	now   time.Time
	ids   int
	// draft is the spec the next create or update writes.
	draft   swarm.ServiceSpec
	created bool
	// behave is what agents do with a task of an image: "ok" (it runs),
	// "fail" (it exits 1 as it starts), "stuck" (it stays starting: its
	// healthcheck never passes).
	behave map[string]string
	out    strings.Builder
	wake   time.Time
	// crash, when not negative, is how many more of the orchestrator's
	// groups the leader commits before it loses leadership.
	crash int
}

func runScript(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return runLines(t, path, string(data))
}

func runLines(t *testing.T, path, script string) string {
	one := uint64(1)
	w := &world{t: t, st: store.New(), now: epoch, behave: map[string]string{}, crash: -1,
		draft: swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: serviceID, Labels: map[string]string{}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1"}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		}}
	sc := bufio.NewScanner(strings.NewReader(script))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			w.out.WriteString(sc.Text() + "\n")
			continue
		}
		w.out.WriteString("> " + line + "\n")
		if err := w.do(strings.Fields(line)); err != nil {
			t.Fatalf("%s:%d: %s: %v", path, n, line, err)
		}
	}
	return w.out.String()
}

func (w *world) printf(format string, args ...any) {
	fmt.Fprintf(&w.out, format, args...)
}

// at shows a time as seconds since the script's start.
func at(t time.Time) string {
	return "+" + t.Sub(epoch).String()
}

func (w *world) do(f []string) error {
	args := kv(f[1:])
	switch f[0] {
	case "nodes":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		var muts []store.Mutation
		for i := 1; i <= n; i++ {
			node := &swarm.Node{ID: fmt.Sprintf("n%d", i)}
			node.Spec.Role = swarm.NodeRoleWorker
			node.Spec.Availability = swarm.NodeAvailabilityActive
			node.Status.State = swarm.NodeStateReady
			node.Description.Hostname = node.ID
			node.Description.Platform = swarm.Platform{OS: "linux", Architecture: "x86_64"}
			node.Description.Resources = swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}
			muts = append(muts, store.Create(node))
		}
		return w.apply(muts...)
	case "service":
		return w.edit(args)
	case "update_config", "rollback_config":
		return w.editConfig(f[0], args)
	case "gates":
		return w.editGates(args)
	case "behave":
		w.behave[f[1]] = f[2]
		return nil
	case "create":
		svc := &swarm.Service{ID: serviceID, Spec: w.draft}
		if w.draft.Mode.ReplicatedJob != nil {
			svc.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}, LastExecution: w.now}
		}
		w.created = true
		if err := w.apply(store.Create(svc)); err != nil {
			return err
		}
		return w.settle()
	case "update":
		if err := w.edit(args); err != nil {
			return err
		}
		return w.apiUpdate(false)
	case "rollback":
		return w.apiUpdate(true)
	case "advance":
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return err
		}
		w.now = w.now.Add(d)
		return w.settle()
	case "fail":
		return w.report(f[1], swarm.TaskStateFailed, "task: non-zero exit (1)")
	case "leader-change":
		return w.leaderChange()
	case "crash-after":
		n, err := strconv.Atoi(f[1])
		w.crash = n
		return err
	}
	return fmt.Errorf("unknown command %q", f[0])
}

func kv(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// edit changes the draft spec: image=, replicas=, global, replicated-job,
// force, max_replicas=, restart_delay=.
func (w *world) edit(args map[string]string) error {
	s := &w.draft
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v := args[k]
		switch k {
		case "image":
			cs := *s.TaskTemplate.ContainerSpec
			cs.Image = v
			s.TaskTemplate.ContainerSpec = &cs
		case "replicas":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return err
			}
			s.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
		case "global":
			s.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		case "replicated-job":
			one := uint64(1)
			total, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return err
			}
			s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &total}}
		case "force":
			s.TaskTemplate.ForceUpdate++
		case "max_replicas":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return err
			}
			s.TaskTemplate.Placement = &swarm.Placement{MaxReplicas: n}
		case "restart_delay":
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &d}
		default:
			return fmt.Errorf("unknown service setting %q", k)
		}
	}
	return nil
}

// editConfig sets an update_config or rollback_config as the docker CLI
// and `docker stack deploy` send one: parallelism 1 unless given.
func (w *world) editConfig(which string, args map[string]string) error {
	c := &swarm.UpdateConfig{Parallelism: 1}
	for k, v := range args {
		var err error
		switch k {
		case "parallelism":
			c.Parallelism, err = strconv.ParseUint(v, 10, 64)
		case "delay":
			c.Delay, err = time.ParseDuration(v)
		case "monitor":
			c.Monitor, err = time.ParseDuration(v)
		case "order":
			c.Order = v
		case "failure_action":
			c.FailureAction = v
		case "max_failure_ratio":
			var r float64
			r, err = strconv.ParseFloat(v, 32)
			c.MaxFailureRatio = float32(r)
		default:
			err = fmt.Errorf("unknown %s setting %q", which, k)
		}
		if err != nil {
			return err
		}
	}
	if which == "update_config" {
		w.draft.UpdateConfig = c
	} else {
		w.draft.RollbackConfig = c
	}
	return nil
}

var gateLabels = map[string]string{
	"min_healthy_time":  deploy.LabelMinHealthyTime,
	"healthy_deadline":  deploy.LabelHealthyDeadline,
	"progress_deadline": deploy.LabelProgressDeadline,
	"auto_rollback":     deploy.LabelAutoRollback,
}

func (w *world) editGates(args map[string]string) error {
	labels := map[string]string{}
	for k, v := range args {
		l, ok := gateLabels[k]
		if !ok {
			return fmt.Errorf("unknown gate %q", k)
		}
		labels[l] = v
	}
	w.draft.Labels = labels
	return nil
}

// apiUpdate writes the draft as the API's service update does (the
// current spec becomes the previous one, the update status is reset, a
// job runs again), or with rollback the API's rollback=previous.
func (w *world) apiUpdate(rollback bool) error {
	cur := w.service()
	next, err := store.Clone(cur)
	if err != nil {
		return err
	}
	if next.JobStatus != nil {
		next.JobStatus.JobIteration.Index++
	}
	if rollback {
		if cur.PreviousSpec == nil {
			return fmt.Errorf("no previous spec")
		}
		current := next.Spec
		next.Spec, next.PreviousSpec = *next.PreviousSpec, &current
		now := w.now
		next.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &now, Message: deploy.MessageManualRollback}
		w.draft = next.Spec
	} else {
		prev := next.Spec
		next.PreviousSpec, next.Spec = &prev, w.draft
		next.UpdateStatus = nil
	}
	if err := w.apply(store.Update(next, cur.Meta.Version.Index)); err != nil {
		return err
	}
	return w.settle()
}

func (w *world) apply(muts ...store.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return err
	}
	w.index++
	return w.st.Apply(w.index, w.now, data)
}

func (w *world) snapshot() *control.Snapshot {
	snap, err := control.Read(w.st)
	if err != nil {
		w.t.Fatal(err)
	}
	return snap
}

func (w *world) service() *swarm.Service {
	for _, s := range w.snapshot().Services {
		if s.ID == serviceID {
			return s
		}
	}
	w.t.Fatal("no service")
	return nil
}

// decision is what Step decides in the orchestrator's pass over snap.
func decision(snap *control.Snapshot, now time.Time) deploy.Decision {
	var svc *swarm.Service
	for _, s := range snap.Services {
		if s.ID == serviceID {
			svc = s
		}
	}
	if svc == nil {
		return deploy.Decision{}
	}
	n := 0
	p := orchestrator.Reconcile(orchestrator.Input{Service: svc, Tasks: snap.Tasks, Nodes: snap.Nodes, Now: now,
		NewID: func() string { n++; return fmt.Sprintf("probe%d", n) }})
	return p.Rollout
}

// settle runs the leader's passes and the agents until nothing moves,
// printing every decision of the rollout engine, then the state.
func (w *world) settle() error {
	if !w.created {
		return nil
	}
	for range 50 {
		snap := w.snapshot()
		if d := decision(snap, w.now); !d.Empty() {
			w.printf("  decide: %s\n", describeDecision(d))
		}
		groups, wake := control.Orchestrate(snap, w.now, w.newID)
		w.wake = wake
		moved := len(groups) > 0
		for i, g := range groups {
			if w.crash == 0 {
				w.crash = -1
				w.printf("  the leader committed its plan up to group %d of %d and lost leadership\n", i, len(groups))
				return w.leaderChange()
			}
			if w.crash > 0 {
				w.crash--
			}
			if err := w.apply(g...); err != nil {
				return fmt.Errorf("commit the orchestrator's plan: %w", err)
			}
		}
		sched := control.Schedule(w.snapshot(), w.now)
		for _, m := range sched {
			if err := w.apply(m); err != nil {
				return fmt.Errorf("commit the scheduler's decision: %w", err)
			}
		}
		agents, err := w.agents()
		if err != nil {
			return err
		}
		if !moved && !agents && len(sched) == 0 {
			w.state()
			return nil
		}
	}
	return fmt.Errorf("not settled after 50 passes")
}

func (w *world) newID() string {
	w.ids++
	return fmt.Sprintf("t%d", w.ids)
}

// agents move every placed task as its image behaves: toward its desired
// state, or not. It reports whether any moved.
func (w *world) agents() (bool, error) {
	var muts []store.Mutation
	for _, t := range w.snapshot().Tasks {
		r, _ := api.TaskStateRank(t.Status.State)
		assigned, _ := api.TaskStateRank(swarm.TaskStateAssigned)
		running, _ := api.TaskStateRank(swarm.TaskStateRunning)
		desired, _ := api.TaskStateRank(t.DesiredState)
		if r < assigned || r > running {
			continue
		}
		next, msg, errText := t.Status.State, t.Status.Message, ""
		switch {
		case t.DesiredState == swarm.TaskStateComplete:
			next, msg = swarm.TaskStateComplete, "finished"
		case desired > running:
			next, msg = swarm.TaskStateShutdown, "shutdown"
		case t.DesiredState != swarm.TaskStateRunning || t.Status.State == swarm.TaskStateRunning:
		case w.behave[t.Spec.ContainerSpec.Image] == "fail":
			next, msg, errText = swarm.TaskStateFailed, "started", "task: non-zero exit (1)"
		case w.behave[t.Spec.ContainerSpec.Image] == "stuck":
			next, msg = swarm.TaskStateStarting, "starting"
		default:
			next, msg = swarm.TaskStateRunning, "started"
		}
		if next == t.Status.State {
			continue
		}
		muts = append(muts, store.SetTaskStatus(t.ID, t.NodeID, swarm.TaskStatus{State: next, Message: msg, Err: errText, Timestamp: w.now}))
	}
	return len(muts) > 0, w.apply(muts...)
}

// report is an agent's report on one task.
func (w *world) report(id string, state swarm.TaskState, errText string) error {
	for _, t := range w.snapshot().Tasks {
		if t.ID == id {
			if err := w.apply(store.SetTaskStatus(id, t.NodeID, swarm.TaskStatus{State: state, Message: "started", Err: errText, Timestamp: w.now})); err != nil {
				return err
			}
			return w.settle()
		}
	}
	return fmt.Errorf("no task %s", id)
}

// leaderChange is a new leader: the store is rebuilt from a snapshot and
// nothing else survives. The rollout engine must decide as before.
func (w *world) leaderChange() error {
	before := describeDecision(decision(w.snapshot(), w.now))
	var buf bytes.Buffer
	if err := w.st.Save(&buf); err != nil {
		return err
	}
	st := store.New()
	if err := st.Restore(&buf); err != nil {
		return err
	}
	w.st = st
	after := describeDecision(decision(w.snapshot(), w.now))
	if after != before {
		return fmt.Errorf("the new leader decides %q, the old one decided %q", after, before)
	}
	w.printf("  new leader: store restored from a snapshot; same decision (%s)\n", after)
	return w.settle()
}

func describeDecision(d deploy.Decision) string {
	var parts []string
	for _, u := range d.Updated {
		parts = append(parts, fmt.Sprintf("%s updated at %s", u.TaskID, at(u.At)))
	}
	for _, f := range d.Fail {
		parts = append(parts, fmt.Sprintf("fail %s (%s)", f.TaskID, f.Err))
	}
	for _, id := range d.Shutdown {
		parts = append(parts, "shut down "+id)
	}
	for _, r := range d.Replace {
		order := "stop-first"
		if r.StartFirst {
			order = "start-first"
		}
		parts = append(parts, fmt.Sprintf("replace %s %s", r.TaskID, order))
		for _, id := range r.Stop {
			parts = append(parts, "with it shut down "+id)
		}
	}
	if d.Rollback {
		parts = append(parts, "roll back to the previous spec")
	}
	if st := d.Status; st != nil {
		parts = append(parts, fmt.Sprintf("status %s %q", st.State, st.Message))
	}
	if !d.Wake.IsZero() {
		parts = append(parts, "wake "+at(d.Wake))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// state prints the service's update status and specs, then its tasks by
// slot (node, for global services), newest first, as state/desired.
func (w *world) state() {
	snap := w.snapshot()
	svc := w.service()
	status := "no update status"
	if st := svc.UpdateStatus; st != nil {
		status = fmt.Sprintf("%s %q", st.State, st.Message)
		if st.StartedAt != nil {
			status += " started " + at(*st.StartedAt)
		}
		if st.CompletedAt != nil {
			status += " completed " + at(*st.CompletedAt)
		}
	}
	prev := "none"
	if svc.PreviousSpec != nil {
		prev = specName(svc.PreviousSpec.TaskTemplate)
	}
	w.printf("  %s: %s; spec %s, previous %s\n", at(w.now), status, specName(svc.Spec.TaskTemplate), prev)
	global := svc.Spec.Mode.Global != nil
	groups := map[string][]*swarm.Task{}
	var keys []string
	for _, t := range snap.Tasks {
		key := fmt.Sprintf("slot %d", t.Slot)
		if global {
			key = "node " + t.NodeID
		}
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], t)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ts := groups[k]
		slices.SortFunc(ts, func(a, b *swarm.Task) int { return taskNumber(b) - taskNumber(a) })
		var cells []string
		for _, t := range ts {
			cells = append(cells, describeTask(t, global))
		}
		w.printf("    %s: %s\n", k, strings.Join(cells, " | "))
	}
	if !w.wake.IsZero() {
		w.printf("  wake %s\n", at(w.wake))
	}
}

// taskNumber is n of task tn: the order tasks were made in.
func taskNumber(t *swarm.Task) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(t.ID, "t"))
	return n
}

func specName(ts swarm.TaskSpec) string {
	s := ts.ContainerSpec.Image
	if ts.ForceUpdate > 0 {
		s += fmt.Sprintf(" force=%d", ts.ForceUpdate)
	}
	return s
}

func describeTask(t *swarm.Task, global bool) string {
	s := fmt.Sprintf("%s %s %s/%s", t.ID, specName(t.Spec), t.Status.State, t.DesiredState)
	if !global && t.NodeID != "" {
		s += " on " + t.NodeID
	}
	if t.Status.Err != "" {
		s += fmt.Sprintf(" (%s)", t.Status.Err)
	}
	if v := t.Labels[deploy.LabelUpdatedAt]; v != "" {
		u, _ := time.Parse(time.RFC3339Nano, v)
		s += " updated " + at(u)
	}
	if v := t.Labels[deploy.LabelFailed]; v != "" {
		s += " gate-failed"
	}
	return s
}
