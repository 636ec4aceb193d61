package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// Tick is how far the fake clock moves each step.
const Tick = time.Second

// HeartbeatTimeout is how long a node may stay silent before the modelled
// dispatcher marks it down: SwarmKit's default period of 5s times its grace
// multiplier of 3.
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
	seen   map[string]seen
	wrote  bool      // a batch was applied during this step
	wake   time.Time // the earliest Wake of this step's plans
	log    []string
	svcSeq int
}

// seen is the last states of a task, for the forward-only check.
type seen struct{ state, desired swarm.TaskState }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// New builds a cluster of cfg.Nodes ready nodes and a few services.
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
	}
	var muts []store.Mutation
	for i := range cfg.Nodes {
		n := newNode(i + 1)
		muts = append(muts, store.Create(n))
		s.agents = append(s.agents, &agent{nodeID: n.ID, alive: true, reachable: true, lastBeat: s.now})
	}
	for range 1 + s.rng.IntN(3) {
		muts = append(muts, store.Create(s.newService()))
	}
	if err := s.apply("init", muts); err != nil {
		return nil, err
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
		if s.wrote || !s.wake.IsZero() {
			quiet = 0
			if !s.wrote && s.wake.After(s.now.Add(Tick)) {
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
			return s, nil
		}
	}
	return s, fmt.Errorf("step %d: not quiet after %d steps without faults", s.step, cfg.QuiesceSteps)
}

// Step advances the clock by one tick and runs one round: a fault maybe,
// agents returning, the dispatcher's heartbeats, the agents' work, the
// orchestrator and the scheduler; then checks the invariants.
func (s *Sim) Step() error {
	s.step++
	s.now = s.now.Add(Tick)
	s.wrote = false
	s.wake = time.Time{}
	if s.faults && s.rng.IntN(3) == 0 {
		if err := s.fault(); err != nil {
			return s.stepErr(err)
		}
	}
	for _, f := range []func() error{s.recover, s.dispatch, s.runAgents, s.orchestrate, s.schedule, s.checkInvariants} {
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

// apply writes muts as one log entry at the next index and the fake time.
func (s *Sim) apply(what string, muts []store.Mutation) error {
	if len(muts) == 0 {
		return nil
	}
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	s.index++
	if err := s.st.Apply(s.index, s.now, data); err != nil {
		return fmt.Errorf("apply %s at index %d: %w", what, s.index, err)
	}
	s.wrote = true
	return nil
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

func (st state) node(id string) *swarm.Node {
	for _, n := range st.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
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

var zones = []string{"a", "b", "c"}

func newNode(i int) *swarm.Node {
	return &swarm.Node{
		ID: fmt.Sprintf("node%02d", i),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{"zone": zones[(i-1)%len(zones)]}},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname:  fmt.Sprintf("worker%d", i),
			Platform:  swarm.Platform{OS: "linux", Architecture: "x86_64"},
			Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: fmt.Sprintf("10.0.0.%d", i)},
	}
}

// newService makes a replicated or global service, sometimes constrained to
// a zone. Node 1 is in zone a and zone c is never excluded alone, so every
// service has a node it may run on once the faults are healed.
func (s *Sim) newService() *swarm.Service {
	s.svcSeq++
	delay := time.Duration(s.rng.IntN(6)) * time.Second
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: fmt.Sprintf("svc%d", s.svcSeq)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "app:1"},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay},
		},
	}
	switch s.rng.IntN(4) {
	case 0:
		spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone==a"}}
	case 1:
		spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone!=b", "node.role==worker"}}
	}
	if s.rng.IntN(4) == 0 {
		spec.Mode.Global = &swarm.GlobalService{}
	} else {
		n := uint64(s.rng.IntN(5))
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	return &swarm.Service{ID: fmt.Sprintf("service%02d", s.svcSeq), Spec: spec}
}

func modeOf(sv *swarm.Service) string {
	if sv.Spec.Mode.Global != nil {
		return "global"
	}
	return fmt.Sprintf("replicated=%d", *sv.Spec.Mode.Replicated.Replicas)
}

func constraintsOf(sv *swarm.Service) string {
	if p := sv.Spec.TaskTemplate.Placement; p != nil {
		return strings.Join(p.Constraints, ",")
	}
	return ""
}
