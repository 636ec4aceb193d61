package sim

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/docker/docker/api/types/swarm"
)

// checkConverged checks, once the cluster is quiet after the faults, that
// every service did what its mode asks: each slot 1..N of a replicated
// service runs one task, each node a global service may run on runs one,
// each job run has its completions — except where the restart policy gave
// up, or where a task waits because no node can take it, which is checked
// here independently of the scheduler. Nothing else runs or is about to.
func (s *Sim) checkConverged() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	v := newView(st)
	byService := map[string][]*swarm.Task{}
	for _, t := range st.tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	for id, tasks := range byService {
		if v.services[id] != nil {
			continue
		}
		for _, t := range tasks {
			if !stopped(t) {
				return fmt.Errorf("removed service %s: task %s is %s, desired %s", id, t.ID, t.Status.State, t.DesiredState)
			}
		}
	}
	for _, sv := range st.services {
		if err := s.converged(v, sv, byService[sv.ID]); err != nil {
			return fmt.Errorf("service %s (%s): %w", sv.Spec.Name, describeService(sv), err)
		}
	}
	return nil
}

func (s *Sim) converged(v view, sv *swarm.Service, tasks []*swarm.Task) error {
	slices.SortFunc(tasks, func(a, b *swarm.Task) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	job := isJob(sv)
	current := func(t *swarm.Task) bool {
		return !job || t.JobIteration != nil && t.JobIteration.Index == iteration(sv)
	}
	instances := map[instance][]*swarm.Task{}
	for _, t := range tasks {
		if !current(t) {
			if !stopped(t) {
				return fmt.Errorf("task %s of an earlier run is %s, desired %s", t.ID, t.Status.State, t.DesiredState)
			}
			continue
		}
		k := instanceOf(t, isGlobal(sv))
		instances[k] = append(instances[k], t)
	}
	var want []instance
	switch m := sv.Spec.Mode; {
	case m.Replicated != nil:
		for slot := 1; slot <= int(*m.Replicated.Replicas); slot++ {
			want = append(want, instance{service: sv.ID, slot: slot})
		}
	case m.ReplicatedJob != nil:
		return s.convergedJob(v, sv, instances)
	default:
		for _, n := range v.state.nodes {
			if n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive &&
				holds(&swarm.Task{}, sv.Spec.TaskTemplate.Placement, n, "") == nil {
				want = append(want, instance{service: sv.ID, node: n.ID})
			}
		}
	}
	wanted := map[instance]bool{}
	for _, k := range want {
		wanted[k] = true
		if err := s.settled(v, sv, k, instances[k]); err != nil {
			return err
		}
	}
	for k, ts := range instances {
		if wanted[k] {
			continue
		}
		for _, t := range ts {
			if !stopped(t) {
				return fmt.Errorf("task %s (slot %d, node %q) is %s, desired %s, where none should run", t.ID, t.Slot, t.NodeID, t.Status.State, t.DesiredState)
			}
		}
	}
	return nil
}

// convergedJob checks a replicated job's run: every slot is done (its task
// completed, or failed beyond restarting), unless a task waits for a node
// none can give, which holds the rest of the run back.
func (s *Sim) convergedJob(v view, sv *swarm.Service, instances map[instance][]*swarm.Task) error {
	var done, waiting int
	for k, ts := range instances {
		newest := ts[len(ts)-1]
		for _, t := range ts[:len(ts)-1] {
			if !stopped(t) {
				return fmt.Errorf("slot %d: task %s is %s, desired %s, beside the newer %s", k.slot, t.ID, t.Status.State, t.DesiredState, newest.ID)
			}
		}
		switch {
		case newest.Status.State == swarm.TaskStateComplete || stopped(newest) && s.hist.gaveUp(newest, false):
			done++
		case rank(newest.Status.State) <= rank(swarm.TaskStatePending):
			if err := s.unschedulable(v, newest); err != nil {
				return err
			}
			waiting++
		default:
			return fmt.Errorf("slot %d: task %s is %s, desired %s", k.slot, newest.ID, newest.Status.State, newest.DesiredState)
		}
	}
	if total := int(*sv.Spec.Mode.ReplicatedJob.TotalCompletions); waiting == 0 && done != total {
		return fmt.Errorf("%d slots done of %d", done, total)
	}
	return nil
}

// settled checks one instance of a service (a slot, or a node of a global
// service): one task runs — or, for a global job, completed — and every
// other has stopped; or the newest ended and its restart policy gave up; or
// the newest waits for a node that cannot take it.
func (s *Sim) settled(v view, sv *swarm.Service, k instance, ts []*swarm.Task) error {
	where := fmt.Sprintf("slot %d", k.slot)
	if k.node != "" {
		where = "node " + k.node
	}
	if len(ts) == 0 {
		return fmt.Errorf("%s: no task", where)
	}
	// The task judged is the one not stopped — not always the newest: a
	// start-first replacement told to stop before it got a node is newer
	// than the task it was to replace — or, when all stopped, the newest.
	newest := ts[len(ts)-1]
	var live []*swarm.Task
	for _, t := range ts {
		if !stopped(t) {
			live = append(live, t)
		}
	}
	switch {
	case len(live) == 1:
		newest = live[0]
	case len(live) == 2 && s.waitingPair(v, sv, live[0], live[1]) != nil:
		newest = s.waitingPair(v, sv, live[0], live[1])
	case len(live) > 1:
		t := live[len(live)-2]
		return fmt.Errorf("%s: task %s is %s, desired %s, beside the newer %s", where, t.ID, t.Status.State, t.DesiredState, live[len(live)-1].ID)
	}
	job := isJob(sv)
	switch {
	case !job && newest.Status.State == swarm.TaskStateRunning && newest.DesiredState == swarm.TaskStateRunning:
		return nil
	case job && newest.Status.State == swarm.TaskStateComplete:
		return nil
	case stopped(newest) && s.hist.gaveUp(newest, isGlobal(sv)):
		return nil
	case rank(newest.Status.State) <= rank(swarm.TaskStatePending) && rank(newest.DesiredState) <= rank(swarm.TaskStateComplete):
		return s.unschedulable(v, newest)
	}
	return fmt.Errorf("%s: newest task %s is %s (%s), desired %s", where, newest.ID, newest.Status.State, newest.Status.Err, newest.DesiredState)
}

// stopped reports whether t has no container and never will.
func stopped(t *swarm.Task) bool {
	return rank(t.Status.State) > rank(swarm.TaskStateRunning) ||
		rank(t.Status.State) < rank(swarm.TaskStateAssigned) && rank(t.DesiredState) > rank(swarm.TaskStateComplete)
}

// unschedulable checks that a task left waiting indeed fits no node: a
// task that came with its node (a global service's) that node, any other
// every node. It judges by the rules the scheduler must follow, written
// again here: the node is ready and active, matches the constraints, has
// the reservations left, no placed task holds the host port, and the
// service is below its max replicas there.
func (s *Sim) unschedulable(v view, t *swarm.Task) error {
	if t.Status.Err == "" {
		return fmt.Errorf("task %s waits (%s) with no reason given", t.ID, t.Status.State)
	}
	candidates := v.state.nodes
	if t.NodeID != "" {
		candidates = []*swarm.Node{v.nodes[t.NodeID]}
	}
	for _, n := range candidates {
		if n != nil && v.fits(t, n) {
			return fmt.Errorf("task %s waits (%q), yet node %s could take it", t.ID, t.Status.Err, n.ID)
		}
	}
	return nil
}

func (v view) fits(t *swarm.Task, n *swarm.Node) bool {
	if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive ||
		holds(t, t.Spec.Placement, n, "") != nil {
		return false
	}
	sv := v.services[t.ServiceID]
	cpu, mem := reservation(t)
	ports := map[uint32]bool{}
	for _, p := range hostPorts(sv) {
		ports[p] = true
	}
	ofService := 0
	for _, o := range v.state.tasks {
		if o.NodeID != n.ID || !between(o.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) {
			continue
		}
		c, m := reservation(o)
		cpu, mem = cpu+c, mem+m
		if osv := v.services[o.ServiceID]; osv != nil {
			for _, p := range hostPorts(osv) {
				if ports[p] {
					return false
				}
			}
		}
		if o.ServiceID == t.ServiceID && rank(o.DesiredState) <= rank(swarm.TaskStateComplete) {
			ofService++
		}
	}
	r := n.Description.Resources
	if cpu > r.NanoCPUs || mem > r.MemoryBytes {
		return false
	}
	return maxReplicas(sv) == 0 || uint64(ofService) < maxReplicas(sv)
}

// waitingPair returns the task to judge a slot by when a and b are the
// two tasks of a start-first overlap, the rollout still start-first, and
// one of them waits for a node none can give: the one that runs (or the
// newer, when both wait). A start-first replacement needs room beside the
// task it replaces, as in Swarm; where there is none, the rollout waits.
// It returns nil for any other pair.
func (s *Sim) waitingPair(v view, sv *swarm.Service, a, b *swarm.Task) *swarm.Task {
	if s.roll.overlap[a.ID] != b.ID && s.roll.overlap[b.ID] != a.ID || !startFirst(sv) {
		return nil
	}
	waits := func(t *swarm.Task) bool {
		return rank(t.Status.State) <= rank(swarm.TaskStatePending) && s.unschedulable(v, t) == nil
	}
	switch {
	case waits(a) && waits(b):
		return b
	case waits(a) && b.Status.State == swarm.TaskStateRunning:
		return b
	case waits(b) && a.Status.State == swarm.TaskStateRunning:
		return a
	}
	return nil
}
