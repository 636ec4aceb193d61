package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// Rollouts in the simulation: services carry random update_config and
// rollback_config blocks, health-gate labels and healthchecks; the faults
// update their image (to a good release, one that crashes, or one that is
// never healthy), roll them back by hand, and make healthy containers
// flap. The four properties below are checked after every step, judged
// from the store and from what the simulation itself did, not from the
// rollout engine's reasoning.

// Images: app:N is a good release; the others misbehave only while the
// faults are on, as nothing fails on its own afterwards.
const (
	imageCrash = "app:crash" // exits soon after it runs
	imageSick  = "app:sick"  // its healthcheck never passes
)

// rollouts is what the simulation remembers to judge rollouts by.
type rollouts struct {
	// restore is, by service, the spec a rollback must put back: the spec
	// before the API's last update, or the one its manual rollback asked
	// for. It is what the API wrote, kept here independently of the
	// service's PreviousSpec.
	restore map[string][]byte
	// overlap maps a task to the task beside which it was started: a
	// start-first replacement (and its restarts) to the old task it
	// replaces, which keeps running meanwhile.
	overlap map[string]string
	// broken is a violation found while a batch was committed, reported by
	// the next check.
	broken error
	// prev is the state of the last check.
	prev *view
}

func newRollouts() *rollouts {
	return &rollouts{restore: map[string][]byte{}, overlap: map[string]string{}}
}

func specJSON(spec swarm.ServiceSpec) []byte {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("sim: service spec does not encode: %v", err))
	}
	return b
}

// randomUpdateConfig is an update_config or rollback_config block, or
// none (Swarm's defaults).
func randomUpdateConfig(r *rand.Rand) *swarm.UpdateConfig {
	if r.IntN(5) == 0 {
		return nil
	}
	c := &swarm.UpdateConfig{
		Parallelism:     uint64([]int{0, 1, 1, 2, 3}[r.IntN(5)]),
		Delay:           time.Duration(r.IntN(4)) * time.Second,
		Monitor:         time.Duration(r.IntN(8)) * time.Second,
		FailureAction:   []string{"", swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue, swarm.UpdateFailureActionRollback}[r.IntN(4)],
		MaxFailureRatio: []float32{0, 0, 0.3, 0.5}[r.IntN(4)],
		Order:           []string{"", swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst}[r.IntN(3)],
	}
	return c
}

// randomGates is, now and then, a set of health-gate labels (nil
// otherwise).
func randomGates(r *rand.Rand) map[string]string {
	if r.IntN(3) != 0 {
		return nil
	}
	gates := map[string]string{}
	if r.IntN(2) == 0 {
		gates[deploy.LabelMinHealthyTime] = fmt.Sprintf("%ds", r.IntN(4))
	}
	if r.IntN(2) == 0 {
		gates[deploy.LabelHealthyDeadline] = fmt.Sprintf("%ds", 3+r.IntN(8))
	}
	if r.IntN(3) == 0 {
		gates[deploy.LabelProgressDeadline] = fmt.Sprintf("%ds", 10+r.IntN(30))
	}
	return gates
}

// randomRollout gives spec random update and rollback blocks and, now and
// then, health-gate labels and a healthcheck.
func randomRollout(r *rand.Rand, spec *swarm.ServiceSpec) {
	spec.UpdateConfig = randomUpdateConfig(r)
	spec.RollbackConfig = randomUpdateConfig(r)
	spec.Labels = randomGates(r)
	if spec.Labels != nil && r.IntN(3) == 0 {
		spec.Labels[deploy.LabelAutoRollback] = "true"
	}
	cs := *spec.TaskTemplate.ContainerSpec
	cs.Healthcheck = nil
	if r.IntN(3) == 0 {
		cs.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/app", "health"}, Interval: time.Second, Retries: 2}
	}
	spec.TaskTemplate.ContainerSpec = &cs
}

func hasHealthcheck(t *swarm.Task) bool {
	cs := t.Spec.ContainerSpec
	return cs != nil && cs.Healthcheck != nil && len(cs.Healthcheck.Test) > 0 && cs.Healthcheck.Test[0] != "NONE"
}

func imageOf(t *swarm.Task) string {
	if t.Spec.ContainerSpec == nil {
		return ""
	}
	return t.Spec.ContainerSpec.Image
}

// rolled reports whether sv is a service a rollout rolls: replicated or
// global, not a job.
func rolled(sv *swarm.Service) bool {
	return sv.Spec.Mode.Replicated != nil || sv.Spec.Mode.Global != nil
}

// releaseFault is `docker service update --image` with new update and
// rollback blocks: a good release, or now and then a bad one.
func (s *Sim) releaseFault(st state) error {
	var svcs []*swarm.Service
	for _, sv := range st.services {
		if rolled(sv) {
			svcs = append(svcs, sv)
		}
	}
	if len(svcs) == 0 {
		return nil
	}
	s.release++
	image := fmt.Sprintf("app:%d", s.release+1)
	switch s.rng.IntN(5) {
	case 0:
		image = imageCrash
	case 1:
		image = imageSick
	}
	return s.updateService(state{services: svcs}, "docker service update --image "+image, func(c *swarm.Service) bool {
		randomRollout(s.rng, &c.Spec)
		cs := *c.Spec.TaskTemplate.ContainerSpec
		cs.Image = image
		c.Spec.TaskTemplate.ContainerSpec = &cs
		return true
	})
}

// rollbackFault is `docker service rollback`, as the API does it: the
// spec and the previous spec swap and the update status says a rollback
// was asked for.
func (s *Sim) rollbackFault(st state) error {
	var svcs []*swarm.Service
	for _, sv := range st.services {
		if rolled(sv) && sv.PreviousSpec != nil {
			svcs = append(svcs, sv)
		}
	}
	if len(svcs) == 0 {
		return nil
	}
	sv := svcs[s.rng.IntN(len(svcs))]
	c, err := s.manualRollback(sv)
	if err != nil {
		return err
	}
	s.logf("fault: docker service rollback %s: %s", sv.Spec.Name, describeService(c))
	return s.apply("rollback service", []store.Mutation{store.Update(c, sv.Meta.Version.Index)})
}

// healthFlap makes a running container with a healthcheck turn
// unhealthy: the agent stops it and reports it failed, as ours does.
func (s *Sim) healthFlap() error {
	type victim struct {
		a  *agent
		id string
	}
	var running []victim
	for _, a := range s.agents {
		if !a.present() {
			continue
		}
		for _, t := range a.asg.Tasks {
			if st, ok := a.containers[t.ID]; ok && st.State == swarm.TaskStateRunning && hasHealthcheck(&t) {
				running = append(running, victim{a, t.ID})
			}
		}
	}
	if len(running) == 0 {
		return nil
	}
	slices.SortFunc(running, func(x, y victim) int { return strings.Compare(x.a.nodeID+x.id, y.a.nodeID+y.id) })
	v := running[s.rng.IntN(len(running))]
	s.logf("fault: the container of task %s on %s turns unhealthy", v.id, v.a.nodeID)
	v.a.containers[v.id] = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStateFailed, Message: "started", Err: "task: unhealthy container"}
	return nil
}

// recordCreated remembers, as the store creates t, whether it starts
// beside another task of its slot as part of a start-first overlap: as a
// start-first replacement (which only order start-first allows), as a
// restart of such a replacement while the task it replaces still runs,
// or as a restart of the replaced task while its replacement, out of date
// by then, is still on its way.
func (r *rollouts) recordCreated(t *swarm.Task, after state) {
	byID := map[string]*swarm.Task{}
	for _, o := range after.tasks {
		byID[o.ID] = o
	}
	alive := func(id string) bool { o := byID[id]; return o != nil && meantToRun(o) }
	of := t.Labels[deploy.LabelUpdateOf]
	if restarted := t.Labels[orchestrator.LabelRestartOf]; of == "" && restarted != "" {
		if alive(r.overlap[restarted]) {
			of = r.overlap[restarted]
		} else {
			for _, repl := range slices.Sorted(maps.Keys(r.overlap)) {
				if r.overlap[repl] == restarted && alive(repl) {
					of = repl
					break
				}
			}
		}
	}
	if of == "" || !alive(of) {
		return
	}
	old := byID[of]
	r.overlap[t.ID] = old.ID
	sv := after.service(t.ServiceID)
	if t.Labels[deploy.LabelUpdateOf] != "" && sv != nil && !startFirst(sv) && r.broken == nil {
		r.broken = fmt.Errorf("task %s of %s starts beside %s, the task it replaces, but the rollout's order is stop-first (%s)",
			t.ID, sv.Spec.Name, old.ID, describeService(sv))
	}
}

// meantToRun reports whether t is still meant to run and has not ended.
func meantToRun(t *swarm.Task) bool {
	return rank(t.DesiredState) <= rank(swarm.TaskStateRunning) && rank(t.Status.State) <= rank(swarm.TaskStateRunning)
}

// rolloutConfig is the block the rollout in progress follows: the
// rollback_config of the spec rolled back to while rolling back, the
// update_config otherwise.
func rolloutConfig(sv *swarm.Service) (c *swarm.UpdateConfig, rollingBack bool) {
	if st := sv.UpdateStatus; st != nil && (st.State == swarm.UpdateStateRollbackStarted || st.State == swarm.UpdateStateRollbackPaused) {
		return sv.Spec.RollbackConfig, true
	}
	return sv.Spec.UpdateConfig, false
}

func startFirst(sv *swarm.Service) bool {
	c, _ := rolloutConfig(sv)
	return c != nil && c.Order == swarm.UpdateOrderStartFirst
}

// parallelism of the rollout in progress: Swarm's default 1 without a
// block, 0 for all at once.
func parallelism(sv *swarm.Service) int {
	c, _ := rolloutConfig(sv)
	if c == nil {
		return 1
	}
	return int(c.Parallelism)
}

func updateState(sv *swarm.Service) swarm.UpdateState {
	if sv == nil || sv.UpdateStatus == nil {
		return ""
	}
	return sv.UpdateStatus.State
}

func startedAt(sv *swarm.Service) time.Time {
	if sv == nil || sv.UpdateStatus == nil || sv.UpdateStatus.StartedAt == nil {
		return time.Time{}
	}
	return *sv.UpdateStatus.StartedAt
}

// checkRollouts checks the rollout properties on a state; fresh are the
// tasks new since the last check.
func (s *Sim) checkRollouts(v view, fresh map[string]bool) error {
	if err := s.roll.broken; err != nil {
		return err
	}
	byService := map[string][]*swarm.Task{}
	for _, t := range v.tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	for _, sv := range v.state.services {
		tasks := byService[sv.ID]
		for _, check := range []func(view, *swarm.Service, []*swarm.Task, map[string]bool) error{
			s.checkStopFirst, s.checkRollback, s.checkPaused,
		} {
			if err := check(v, sv, tasks, fresh); err != nil {
				return fmt.Errorf("service %s (%s): %w", sv.Spec.Name, describeService(sv), err)
			}
		}
	}
	s.roll.prev = &v
	return nil
}

// checkStopFirst: a stop-first rollout has no more than parallelism of its
// replacements on their way at once — made, their old tasks stopping or
// stopped, and not yet running — so no more than parallelism slots are
// down because of it. Replacements are the rollout's when they are of the
// current spec and made since it started; slots down for other reasons (a
// crash, a lost node) are not the rollout's doing.
func (s *Sim) checkStopFirst(v view, sv *swarm.Service, tasks []*swarm.Task, _ map[string]bool) error {
	switch updateState(sv) {
	case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
	default:
		return nil
	}
	p := parallelism(sv)
	if p == 0 || startFirst(sv) {
		return nil
	}
	tmpl := templateJSON(sv.Spec.TaskTemplate)
	var down []string
	for _, t := range tasks {
		if t.Labels[deploy.LabelUpdateOf] == "" || t.CreatedAt.Before(startedAt(sv)) || !meantToRun(t) ||
			t.Status.State == swarm.TaskStateRunning || string(templateJSON(t.Spec)) != string(tmpl) {
			continue
		}
		down = append(down, fmt.Sprintf("%s (slot %d, node %q, %s)", t.ID, t.Slot, t.NodeID, t.Status.State))
	}
	if len(down) > p {
		return fmt.Errorf("%s, stop-first with parallelism %d, has %d replacements on their way: %v", updateState(sv), p, len(down), down)
	}
	return nil
}

// checkRollback: once a rollback completed, the service's spec is the one
// the rollback had to restore, and every task meant to run is of it (but
// a global service's tasks on paused nodes, which no rollout touches).
func (s *Sim) checkRollback(v view, sv *swarm.Service, tasks []*swarm.Task, _ map[string]bool) error {
	if updateState(sv) != swarm.UpdateStateRollbackCompleted {
		return nil
	}
	if want, ok := s.roll.restore[sv.ID]; ok && string(specJSON(sv.Spec)) != string(want) {
		return fmt.Errorf("rollback completed, but the spec is\n  %s\nnot the one before the update\n  %s", specJSON(sv.Spec), want)
	}
	tmpl := templateJSON(sv.Spec.TaskTemplate)
	for _, t := range tasks {
		if !meantToRun(t) || string(templateJSON(t.Spec)) == string(tmpl) {
			continue
		}
		if n := v.nodes[t.NodeID]; isGlobal(sv) && n != nil && n.Spec.Availability == swarm.NodeAvailabilityPause {
			continue
		}
		return fmt.Errorf("rollback completed, but task %s (slot %d, node %q, %s) runs %s, another spec", t.ID, t.Slot, t.NodeID, t.Status.State, imageOf(t))
	}
	return nil
}

// checkPaused: while an update (or rollback) stays paused, it moves no
// task: it makes no replacement, and no task that serves its slot alone
// on a node that keeps it is told to stop. A slot with two tasks (a
// start-first overlap) may end its overlap, as in Swarm; tasks that end,
// whose node is lost, or that the node no longer admits (its labels or
// role changed) are the orchestrator's.
func (s *Sim) checkPaused(v view, sv *swarm.Service, tasks []*swarm.Task, fresh map[string]bool) error {
	st := updateState(sv)
	if st != swarm.UpdateStatePaused && st != swarm.UpdateStateRollbackPaused || s.roll.prev == nil {
		return nil
	}
	prev := s.roll.prev.services[sv.ID]
	if updateState(prev) != st || !startedAt(prev).Equal(startedAt(sv)) {
		return nil
	}
	for _, t := range tasks {
		if fresh[t.ID] && t.Labels[deploy.LabelUpdateOf] != "" {
			return fmt.Errorf("%s, yet task %s replaces %s", st, t.ID, t.Labels[deploy.LabelUpdateOf])
		}
	}
	now := map[string]*swarm.Task{}
	for _, t := range tasks {
		now[t.ID] = t
	}
	perSlot := map[string]int{}
	var before []*swarm.Task
	for _, t := range s.roll.prev.tasks {
		if t.ServiceID == sv.ID && meantToRun(t) {
			perSlot[placeOf(sv, t)]++
			before = append(before, t)
		}
	}
	for _, t := range before {
		c := now[t.ID]
		if c == nil || perSlot[placeOf(sv, t)] > 1 || meantToRun(c) || rank(c.Status.State) > rank(swarm.TaskStateRunning) {
			continue
		}
		n := v.nodes[c.NodeID]
		if c.NodeID != "" && (n == nil || n.Status.State == swarm.NodeStateDown || n.Spec.Availability == swarm.NodeAvailabilityDrain ||
			holds(c, sv.Spec.TaskTemplate.Placement, n, "") != nil) {
			continue // the node is lost to it, or no longer admits it
		}
		return fmt.Errorf("%s, yet task %s (slot %d, node %q), alone in its slot and %s, was told to %s", st, c.ID, c.Slot, c.NodeID, c.Status.State, c.DesiredState)
	}
	return nil
}

// placeOf names a task's place: its slot, or its node for global services.
func placeOf(sv *swarm.Service, t *swarm.Task) string {
	if isGlobal(sv) {
		return "node " + t.NodeID
	}
	return fmt.Sprintf("slot %d", t.Slot)
}

func templateJSON(spec swarm.TaskSpec) []byte {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("sim: task spec does not encode: %v", err))
	}
	return b
}

// manualRollback is sv as the API writes it for `docker service rollback`:
// the spec and the previous spec swapped, the update status saying a
// rollback was asked for. The rollout model expects the spec it restores.
func (s *Sim) manualRollback(sv *swarm.Service) (*swarm.Service, error) {
	c, err := store.Clone(sv)
	if err != nil {
		return nil, fmt.Errorf("clone service: %w", err)
	}
	cur := c.Spec
	c.Spec, c.PreviousSpec = *c.PreviousSpec, &cur
	started := s.now
	c.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &started, Message: deploy.MessageManualRollback}
	c.ServiceStatus = nil
	s.roll.restore[sv.ID] = specJSON(c.Spec)
	return c, nil
}
