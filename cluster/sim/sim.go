package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// Tick is how far the fake clock moves each step.
const Tick = time.Second

// HeartbeatTimeout is how long a node may stay silent before the
// dispatcher marks it down: its default period of 5s times its grace
// multiplier of 3, as in Swarm.
const HeartbeatTimeout = 15 * time.Second

// Config says how one run goes.
type Config struct {
	Seed uint64
	// Nodes is how many worker nodes the cluster has (at least 2).
	Nodes int
	// FaultSteps is how many steps faults may happen in.
	FaultSteps int
	// QuiesceSteps bounds the steps, after the faults stop, the cluster has
	// to go quiet in.
	QuiesceSteps int
	// GitOps runs the reconciler too, against an in-memory repository
	// (gitops.go).
	GitOps bool
}

// Sim is one simulated cluster.
type Sim struct {
	cfg    Config
	rng    *rand.Rand
	st     *store.Store
	index  uint64
	now    time.Time
	step   int
	nextID int
	// faults is false once the faults have stopped: no fault, and no agent
	// fails a task on its own.
	faults bool
	agents []*agent // in node ID order
	leader *leader
	seen   map[string]seen
	hist   *history
	wrote  bool      // a batch was applied during this step
	wake   time.Time // when the control loop asked to run again
	log    []string
	svcSeq int
	// release numbers the good images the faults roll out.
	release int
	roll    *rollouts
	git     *gitops // nil without Config.GitOps
}

// seen is the last states of a task, for the forward-only check.
type seen struct{ state, desired swarm.TaskState }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// New builds a cluster of cfg.Nodes nodes, whose agents register at the
// first step, and a few services.
func New(cfg Config) (*Sim, error) {
	if cfg.Nodes < 2 {
		cfg.Nodes = 2
	}
	s := &Sim{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		st:     store.New(),
		now:    epoch,
		faults: true,
		seen:   map[string]seen{},
		hist:   newHistory(),
		roll:   newRollouts(),
	}
	var muts []store.Mutation
	for i := range cfg.Nodes {
		n := newNode(i + 1)
		muts = append(muts, store.Create(n))
		s.agents = append(s.agents, newAgent(n))
	}
	for range 1 + s.rng.IntN(3) {
		muts = append(muts, store.Create(s.newService()))
	}
	if err := s.apply("init", muts); err != nil {
		return nil, err
	}
	if err := s.elect(); err != nil {
		return nil, err
	}
	if cfg.GitOps {
		s.newGitOps()
	}
	return s, nil
}

// Log is the step log so far.
func (s *Sim) Log() []string { return s.log }

// Run runs the fault steps, heals every fault, runs until the cluster is
// quiet and checks it converged. The error names the step and the broken
// invariant.
func Run(cfg Config) (*Sim, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for range cfg.FaultSteps {
		if err := s.Step(); err != nil {
			return s, err
		}
	}
	if err := s.heal(); err != nil {
		return s, err
	}
	quiet := 0
	for range cfg.QuiesceSteps {
		if err := s.Step(); err != nil {
			return s, err
		}
		if s.wrote || !s.wake.IsZero() || s.busy() {
			quiet = 0
			if !s.wrote && !s.busy() && s.wake.After(s.now.Add(Tick)) {
				// Nothing moves until the wake: jump the fake clock there.
				s.now = s.wake.Add(-Tick)
			}
			continue
		}
		// Agents move a task on with some probability, so one quiet
		// step is not yet quiescence.
		if quiet++; quiet >= 10 {
			if err := s.checkConverged(); err != nil {
				return s, fmt.Errorf("step %d (quiet): %w", s.step, err)
			}
			if s.git != nil {
				if err := s.checkGitOpsEnd(); err != nil {
					return s, fmt.Errorf("step %d (quiet): %w", s.step, err)
				}
			}
			return s, nil
		}
	}
	why := s.busyWith()
	if why == "" && !s.wake.IsZero() {
		why = "the control loop asks to run again at +" + s.wake.Sub(epoch).String()
	}
	return s, fmt.Errorf("step %d: not quiet after %d steps without faults: %s", s.step, cfg.QuiesceSteps, why)
}

// busy reports whether agents have work left that the store shows: a
// session to open, a node that is away, or a placed task not yet where it
// is meant to be (agents move tasks on with some probability, so a few
// quiet steps do not show they are done).
func (s *Sim) busy() bool { return s.busyWith() != "" }

// busyWith names the work busy found, "" when none.
func (s *Sim) busyWith() string {
	for _, a := range s.agents {
		if a.back != 0 || a.session == "" {
			return fmt.Sprintf("agent %s away (back at step %d) or without a session", a.nodeID, a.back)
		}
	}
	st, err := s.read()
	if err != nil {
		return err.Error()
	}
	for _, t := range st.tasks {
		if between(t.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) && rank(t.Status.State) < rank(t.DesiredState) {
			return fmt.Sprintf("task %s on %s is %s, desired %s", t.ID, t.NodeID, t.Status.State, t.DesiredState)
		}
	}
	return ""
}

// Step advances the clock by one tick and runs one round: a fault maybe,
// the reconciler's step (with Config.GitOps), agents returning, the
// agents' calls to the dispatcher (registration, heartbeats, assignments,
// status reports, committed in one batch), the dispatcher's heartbeat
// check, and the control loop until it settles; then checks the
// invariants.
func (s *Sim) Step() error {
	s.step++
	s.now = s.now.Add(Tick)
	s.wrote = false
	if s.faults && s.rng.IntN(3) == 0 {
		if err := s.fault(); err != nil {
			return s.stepErr(err)
		}
	}
	round := []func() error{s.recover, s.runAgents, s.expire, s.control, s.checkInvariants}
	if s.git != nil {
		round = append(append([]func() error{s.reconcile}, round...), s.watchRollbacks)
	}
	for _, f := range round {
		if err := f(); err != nil {
			return s.stepErr(err)
		}
	}
	return nil
}

func (s *Sim) stepErr(err error) error {
	return fmt.Errorf("step %d (t=+%s): %w", s.step, s.now.Sub(epoch), err)
}

func (s *Sim) logf(format string, args ...any) {
	s.log = append(s.log, fmt.Sprintf("%4d +%-6s ", s.step, s.now.Sub(epoch))+fmt.Sprintf(format, args...))
}

// apply writes muts as one log entry at the next index and the fake time,
// as the API does for an operator's command.
func (s *Sim) apply(what string, muts []store.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if _, err := s.commit(what, data); err != nil {
		return fmt.Errorf("apply %s at index %d: %w", what, s.index, err)
	}
	return nil
}

// commit is the simulated Raft: it applies data at the next index and the
// fake time, logs what changed and returns the store's error, as the
// Applier's response reaches a proposer.
func (s *Sim) commit(who string, data []byte) (uint64, error) {
	s.index++
	err := s.st.Apply(s.index, s.now, data)
	if err != nil {
		s.logf("%s: refused: %v", who, err)
		return s.index, err
	}
	evs, _, _ := s.st.Events(s.index - 1)
	var after state
	for _, ev := range evs {
		if t, ok := ev.Object.(*swarm.Task); ok && ev.Action == store.OpCreate && orchestrator.Replaces(t) != "" {
			if after.tasks == nil {
				if after, err = s.read(); err != nil {
					return s.index, err
				}
			}
			s.hist.created(t, after)
			s.roll.recordCreated(t, after)
		}
		if line := describe(ev); line != "" {
			s.logf("%s: %s", who, line)
			s.wrote = true
		}
	}
	return s.index, nil
}

// describe is one line of the step log for a change.
func describe(ev store.Event) string {
	switch o := ev.Object.(type) {
	case *swarm.Task:
		switch ev.Action {
		case store.OpCreate:
			of := ""
			if id := o.Labels[orchestrator.LabelRestartOf]; id != "" {
				of = ", restarts " + id
			} else if id := orchestrator.Replaces(o); id != "" {
				of = ", updates " + id
			}
			return fmt.Sprintf("+%s (%s slot %d node %q, desired %s%s)", o.ID, o.ServiceID, o.Slot, o.NodeID, o.DesiredState, of)
		case store.OpDelete:
			return "-" + o.ID
		}
		old := ev.Old.(*swarm.Task)
		var ch []string
		if old.NodeID != o.NodeID {
			ch = append(ch, "-> "+o.NodeID)
		}
		if old.Status.State != o.Status.State || old.Status.Err != o.Status.Err || old.Status.Message != o.Status.Message {
			ch = append(ch, fmt.Sprintf("%s->%s %q %s", old.Status.State, o.Status.State, o.Status.Message, o.Status.Err))
		}
		if old.DesiredState != o.DesiredState {
			ch = append(ch, "desired "+string(o.DesiredState))
		}
		if why := o.Labels[deploy.LabelFailed]; why != "" && old.Labels[deploy.LabelFailed] == "" {
			ch = append(ch, "failed by the health gates: "+why)
		}
		return fmt.Sprintf("%s (%s slot %d) %s", o.ID, o.ServiceID, o.Slot, strings.Join(ch, ", "))
	case *swarm.Node:
		return fmt.Sprintf("node %s %s/%s %s role=%s labels=%v mem=%dG", o.ID, o.Status.State, o.Spec.Availability,
			o.Status.Message, o.Spec.Role, o.Spec.Labels, o.Description.Resources.MemoryBytes>>30)
	case *swarm.Service:
		return fmt.Sprintf("service %s %s %s", ev.Action, o.Spec.Name, describeService(o))
	}
	return fmt.Sprintf("%s %s %s", ev.Action, ev.Table, ev.ID)
}

// state is one consistent read of what the control loops look at.
type state struct {
	nodes    []*swarm.Node
	services []*swarm.Service
	tasks    []*swarm.Task
}

func (s *Sim) read() (state, error) {
	var st state
	err := s.st.View(func(tx store.ReadTx) error {
		var err error
		if st.nodes, err = tx.Nodes(); err != nil {
			return err
		}
		if st.services, err = tx.Services(); err != nil {
			return err
		}
		st.tasks, err = tx.Tasks()
		return err
	})
	if err != nil {
		return st, fmt.Errorf("read store: %w", err)
	}
	return st, nil
}

func (st state) service(id string) *swarm.Service {
	for _, sv := range st.services {
		if sv.ID == id {
			return sv
		}
	}
	return nil
}

func (s *Sim) newID(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s%06d", prefix, s.nextID)
}

// ctx is the context of every call into the cluster: nothing in the
// simulation is ever cancelled.
var ctx = context.Background()
