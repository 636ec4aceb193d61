package orchestrator

import (
	"sort"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
)

// DefaultHistoryLimit is Swarm's TaskHistoryRetentionLimit default: the
// number of tasks a slot (or, for global services, a node) keeps, live ones
// included.
const DefaultHistoryLimit = 5

// Input is the snapshot Reconcile decides from.
type Input struct {
	// Service is the service to reconcile; nil means it was removed: every task
	// is told to go (desired remove) and deleted once stopped.
	Service *swarm.Service
	// Tasks are all tasks of the service, dead ones included.
	Tasks []*swarm.Task
	// Nodes are all nodes of the cluster.
	Nodes []*swarm.Node
	// NodesByID, when set, indexes Nodes by ID (and must hold exactly
	// them): a caller reconciling many services against one snapshot
	// builds it once instead of once per service. Reconcile only reads it.
	NodesByID map[string]*swarm.Node
	Now       time.Time
	// NewID names new tasks; tests pass a counter so plans are deterministic.
	NewID func() string
	// HistoryLimit is the cluster's TaskHistoryRetentionLimit: 0 means
	// DefaultHistoryLimit, a negative value keeps every dead task.
	HistoryLimit int
}

// Plan is what moves the service toward its desired state. Applying it is one
// batch: create, then update, then delete.
type Plan struct {
	// Create holds new tasks, complete except for Meta, which the store sets.
	Create []*swarm.Task
	// Update holds copies of existing tasks whose DesiredState moved
	// forward or on which the rollout engine's labels were set; nothing
	// else in them changed. A task in Delete is not also here.
	Update []*swarm.Task
	// Delete holds IDs of dead tasks beyond the history limit, and of stopped
	// tasks whose desired state is remove.
	Delete []string
	// Service, when not nil, is the service to write back, a copy of
	// Input.Service (at the version read) whose UpdateStatus the rollout
	// engine changed and, for a rollback, whose Spec went back to its
	// PreviousSpec, which is cleared.
	Service *swarm.Service
	// Wake is when Reconcile must run again even if nothing changes (a
	// restart delay or a rollout's delay or monitor window ends); zero
	// when no such time exists.
	Wake time.Time
	// Rollout is what the rollout engine decided, for logs and tests: its
	// effects are already in the fields above.
	Rollout deploy.Decision
	// With maps the ID of a task in Create to the IDs of tasks in Update,
	// beyond the one it Replaces, whose updates must be committed with
	// it: the slot's other out-of-date tasks a rollout replacement stops.
	With map[string][]string
}

// Empty reports whether applying the plan would change nothing.
func (p Plan) Empty() bool {
	return len(p.Create) == 0 && len(p.Update) == 0 && len(p.Delete) == 0 && p.Service == nil
}

// Reconcile returns the actions that move in.Service toward its desired state.
// It reads nothing but in and modifies nothing it is given.
func Reconcile(in Input) Plan {
	r := newRun(in)
	switch {
	case in.Service == nil:
		r.removeAll()
	case in.Service.Spec.Mode.Global != nil:
		r.global(false)
	case in.Service.Spec.Mode.GlobalJob != nil:
		r.global(true)
	case in.Service.Spec.Mode.ReplicatedJob != nil:
		r.replicatedJob()
	default:
		r.replicated()
	}
	r.rollout()
	r.promoteReady()
	r.reapHistory()
	return r.plan()
}

// run is one Reconcile call's working state: the tasks as the plan leaves
// them (desired states raised, replacements added), and what changed.
type run struct {
	in      Input
	nodes   map[string]*swarm.Node
	tasks   []*swarm.Task // existing tasks (copies) then created ones
	byID    map[string]*swarm.Task
	created map[string]bool
	updated map[string]bool
	deleted map[string]bool
	with    map[string][]string // Plan.With
	wake    time.Time
	// decision is the rollout engine's, and service the service it writes.
	decision deploy.Decision
	service  *swarm.Service
}

func newRun(in Input) *run {
	r := &run{
		in:      in,
		nodes:   in.NodesByID,
		byID:    make(map[string]*swarm.Task, len(in.Tasks)),
		created: map[string]bool{},
		updated: map[string]bool{},
		deleted: map[string]bool{},
		with:    map[string][]string{},
	}
	if r.nodes == nil {
		r.nodes = make(map[string]*swarm.Node, len(in.Nodes))
		for _, n := range in.Nodes {
			r.nodes[n.ID] = n
		}
	}
	for _, t := range in.Tasks {
		c := *t
		r.tasks = append(r.tasks, &c)
		r.byID[c.ID] = &c
	}
	// Sorting once makes every later walk, and so the plan, deterministic
	// whatever order the store returned.
	sort.SliceStable(r.tasks, func(i, j int) bool { return olderThan(r.tasks[i], r.tasks[j]) })
	return r
}

func (r *run) plan() Plan {
	var p Plan
	for _, t := range r.tasks {
		switch {
		case r.created[t.ID]:
			p.Create = append(p.Create, t)
		case r.deleted[t.ID]:
			p.Delete = append(p.Delete, t.ID)
		case r.updated[t.ID]:
			p.Update = append(p.Update, t)
		}
	}
	p.Wake = r.wake
	p.Service = r.service
	p.Rollout = r.decision
	for id, ids := range r.with {
		if !r.created[id] {
			continue // its slot was removed
		}
		if p.With == nil {
			p.With = map[string][]string{}
		}
		for _, o := range ids {
			if r.updated[o] && !r.deleted[o] {
				p.With[id] = append(p.With[id], o)
			}
		}
	}
	return p
}

// setDesired moves t's desired state forward; it never moves it back, because
// agents act on desired states and a task that was told to stop must stay
// stopped.
func (r *run) setDesired(t *swarm.Task, s swarm.TaskState) {
	if stateRank(s) <= stateRank(t.DesiredState) {
		return
	}
	t.DesiredState = s
	if !r.created[t.ID] {
		r.updated[t.ID] = true
	}
}

func (r *run) wakeAt(at time.Time) {
	if at.After(r.in.Now) && (r.wake.IsZero() || at.Before(r.wake)) {
		r.wake = at
	}
}

// live reports whether t is, as far as the plan goes, meant to run (or, for
// jobs, to run to completion): its desired state is at most complete.
func (r *run) live(t *swarm.Task) bool {
	return !r.deleted[t.ID] && stateRank(t.DesiredState) <= stateRank(swarm.TaskStateComplete)
}

// stopped reports whether t's container is gone or never existed, which is
// when its record may be deleted.
func stopped(t *swarm.Task) bool {
	return stateRank(t.Status.State) > stateRank(swarm.TaskStateRunning) ||
		(stateRank(t.Status.State) < stateRank(swarm.TaskStateAssigned) &&
			stateRank(t.DesiredState) > stateRank(swarm.TaskStateRunning))
}

// ended reports whether t's process is over (or will never start) while it is
// still meant to run: the event the restart policy answers.
func ended(t *swarm.Task, job bool) bool {
	if job && t.Status.State == swarm.TaskStateComplete {
		return false
	}
	return stateRank(t.Status.State) > stateRank(swarm.TaskStateRunning)
}

// nodeLost reports whether a task placed on nodeID must leave it: the node is
// gone, down or drained.
func (r *run) nodeLost(nodeID string) bool {
	if nodeID == "" {
		return false
	}
	n, ok := r.nodes[nodeID]
	return !ok || n.Status.State == swarm.NodeStateDown || n.Spec.Availability == swarm.NodeAvailabilityDrain
}

func (r *run) nodeDown(nodeID string) bool {
	n, ok := r.nodes[nodeID]
	return !ok || n.Status.State == swarm.NodeStateDown
}

// removeAll is service removal: every task is told to go (desired remove, as
// SwarmKit does) and deleted once it has stopped.
func (r *run) removeAll() {
	for _, t := range r.tasks {
		r.setDesired(t, swarm.TaskStateRemove)
	}
}

// newTask builds a task as SwarmKit's NewTask does.
func (r *run) newTask(slot int, nodeID string) *swarm.Task {
	s := r.in.Service
	t := &swarm.Task{
		ID:        r.in.NewID(),
		Spec:      s.Spec.TaskTemplate,
		ServiceID: s.ID,
		Slot:      slot,
		NodeID:    nodeID,
		Status: swarm.TaskStatus{
			State:     swarm.TaskStateNew,
			Timestamp: r.in.Now,
			Message:   "created",
		},
		DesiredState: swarm.TaskStateRunning,
	}
	if r.isJob() {
		var it swarm.Version // a job the API has not stamped yet runs iteration 0
		if s.JobStatus != nil {
			it = s.JobStatus.JobIteration
		}
		t.JobIteration = &it
		t.DesiredState = swarm.TaskStateComplete
	}
	r.tasks = append(r.tasks, t)
	r.byID[t.ID] = t
	r.created[t.ID] = true
	return t
}

// stateRank places s in the order task states move along; an unknown
// state is a bug of whoever wrote the task.
func stateRank(s swarm.TaskState) int {
	r, ok := api.TaskStateRank(s)
	if !ok {
		panic("orchestrator: unknown task state " + string(s))
	}
	return r
}

// taskTime is when a task was created, which orders a slot's history.
func taskTime(t *swarm.Task) time.Time {
	if !t.CreatedAt.IsZero() {
		return t.CreatedAt
	}
	return t.Status.Timestamp
}

func olderThan(a, b *swarm.Task) bool {
	ta, tb := taskTime(a), taskTime(b)
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.ID < b.ID
}
