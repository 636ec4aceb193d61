package sim

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

var (
	seedFlag  = flag.Int64("seed", -1, "run only this seed (replays a failure)")
	seedsFlag = flag.Int("seeds", 1000, "how many seeds TestSimulation runs")
	logFlag   = flag.Bool("simlog", false, "print the step log of every seed run")
)

func config(seed uint64) Config {
	return Config{Seed: seed, Nodes: 3 + int(seed%3), FaultSteps: 60, QuiesceSteps: 400}
}

func TestSimulation(t *testing.T) {
	first, n := uint64(1), uint64(*seedsFlag)
	if *seedFlag >= 0 {
		first, n = uint64(*seedFlag), 1
	}
	for seed := first; seed < first+n; seed++ {
		s, err := Run(config(seed))
		if *logFlag && s != nil {
			t.Logf("seed %d:\n%s", seed, strings.Join(s.Log(), "\n"))
		}
		if err != nil {
			var log []string
			if s != nil {
				log = s.Log()
			}
			t.Fatalf("seed %d: %v\nreplay: go test ./cluster/sim -run TestSimulation -seed %d\nstep log:\n%s",
				seed, err, seed, strings.Join(log, "\n"))
		}
	}
}

// TestSimulationIsDeterministic runs one seed twice: a seed that does not
// replay exactly is no use for finding a bug.
func TestSimulationIsDeterministic(t *testing.T) {
	a, errA := Run(config(7))
	b, errB := Run(config(7))
	if fmt.Sprint(errA) != fmt.Sprint(errB) || strings.Join(a.Log(), "\n") != strings.Join(b.Log(), "\n") {
		t.Fatalf("seed 7 ran differently twice")
	}
	if len(a.Log()) < 50 {
		t.Fatalf("seed 7 logged only %d lines: the simulation did little", len(a.Log()))
	}
}

// TestInvariantsCatchViolations breaks each invariant by writing to the
// store behind the control loops' back, and expects the next check to fail.
func TestInvariantsCatchViolations(t *testing.T) {
	breakers := map[string]func(st state) (any, uint64){
		"desired running on drained node": func(st state) (any, uint64) {
			n := *st.nodes[0]
			n.Spec.Availability = swarm.NodeAvailabilityDrain
			return &n, n.Meta.Version.Index
		},
		"state moved back": func(st state) (any, uint64) {
			t := *runningTask(st)
			t.Status.State = swarm.TaskStateStarting
			return &t, t.Meta.Version.Index
		},
		"two tasks desired running in one slot": func(st state) (any, uint64) {
			t := *runningTask(st)
			t.ID = "intruder"
			return &t, 0
		},
		"constraint broken": func(st state) (any, uint64) {
			t := *runningTask(st)
			t.Spec.Placement = &swarm.Placement{Constraints: []string{"node.labels.zone==nowhere"}}
			return &t, t.Meta.Version.Index
		},
	}
	for name, breaker := range breakers {
		t.Run(name, func(t *testing.T) {
			s := runningSim(t)
			st, err := s.read()
			if err != nil {
				t.Fatal(err)
			}
			// Only the running task on the first node is touched, so the
			// drain breaks the invariant too.
			obj, version := breaker(st)
			m := store.Update(obj, version)
			if version == 0 {
				m = store.Create(obj)
			}
			if err := s.apply("break", []store.Mutation{m}); err != nil {
				t.Fatal(err)
			}
			if err := s.checkInvariants(); err == nil {
				t.Fatalf("%s: not caught", name)
			}
		})
	}
	t.Run("not converged", func(t *testing.T) {
		s := runningSim(t)
		st, _ := s.read()
		c := *runningTask(st)
		c.DesiredState = swarm.TaskStateShutdown
		if err := s.apply("break", []store.Mutation{store.Update(&c, c.Meta.Version.Index)}); err != nil {
			t.Fatal(err)
		}
		if err := s.checkConverged(); err == nil {
			t.Fatal("a service one task short passed as converged")
		}
	})
}

// runningSim is a quiet cluster with one replicated service running a task
// on the first node.
func runningSim(t *testing.T) *Sim {
	t.Helper()
	s, err := New(Config{Seed: 1, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.faults = false
	st, _ := s.read()
	var muts []store.Mutation
	for _, sv := range st.services {
		muts = append(muts, store.Delete(store.TableServices, sv.ID, 0))
	}
	three := uint64(3)
	muts = append(muts, store.Create(&swarm.Service{ID: "web", Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:1"}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
	}}))
	if err := s.apply("setup", muts); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkConverged(); err != nil {
		t.Fatalf("setup did not converge: %v\n%s", err, strings.Join(s.Log(), "\n"))
	}
	return s
}

func runningTask(st state) *swarm.Task {
	for _, t := range st.tasks {
		if t.NodeID == st.nodes[0].ID && up(t) {
			return t
		}
	}
	panic("no running task on the first node")
}
