package sim

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// TestRolloutPropertiesCatchViolations breaks each rollout property by
// writing to the store behind the control loops' back, and expects the
// next check to name it; and shows that what the properties allow passes.
func TestRolloutPropertiesCatchViolations(t *testing.T) {
	// write applies muts built from the current state.
	write := func(t *testing.T, s *Sim, muts func(st state) []store.Mutation) {
		t.Helper()
		st, err := s.read()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.apply("break", muts(st)); err != nil {
			t.Fatal(err)
		}
	}
	// service changes web in the store, as the rollout engine would.
	service := func(change func(sv *swarm.Service)) func(st state) []store.Mutation {
		return func(st state) []store.Mutation {
			sv, err := store.Clone(st.service("web"))
			if err != nil {
				panic(err)
			}
			change(sv)
			return []store.Mutation{store.Update(sv, st.service("web").Meta.Version.Index)}
		}
	}
	// replace makes a replacement of each running task of web in slots,
	// of web's current spec; stopFirst tells the old task to stop in the
	// same batch, as a stop-first replacement does.
	replace := func(stopFirst bool, slots ...int) func(st state) []store.Mutation {
		return func(st state) []store.Mutation {
			sv := st.service("web")
			var muts []store.Mutation
			for _, old := range st.tasks {
				if old.DesiredState != swarm.TaskStateRunning || !containsInt(slots, old.Slot) {
					continue
				}
				repl := &swarm.Task{ID: "repl-" + old.ID, ServiceID: "web", Slot: old.Slot, Spec: sv.Spec.TaskTemplate,
					DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateNew}}
				repl.Labels = map[string]string{deploy.LabelUpdateOf: old.ID}
				if stopFirst {
					o := *old
					o.DesiredState = swarm.TaskStateShutdown
					repl.DesiredState = swarm.TaskStateReady
					muts = append(muts, store.Update(&o, o.Meta.Version.Index))
				}
				muts = append(muts, store.Create(repl))
			}
			return muts
		}
	}
	image := func(img string) func(sv *swarm.Service) {
		return func(sv *swarm.Service) {
			cs := *sv.Spec.TaskTemplate.ContainerSpec
			cs.Image = img
			sv.Spec.TaskTemplate.ContainerSpec = &cs
		}
	}
	status := func(state swarm.UpdateState) func(sv *swarm.Service) {
		return func(sv *swarm.Service) {
			at := epoch
			sv.UpdateStatus = &swarm.UpdateStatus{State: state, StartedAt: &at}
		}
	}
	expect := func(t *testing.T, s *Sim, want string) {
		t.Helper()
		err := s.checkInvariants()
		switch {
		case want == "" && err != nil:
			t.Fatalf("allowed, yet the check failed: %v", err)
		case want != "" && err == nil:
			t.Fatalf("not caught: want an error with %q", want)
		case want != "" && !strings.Contains(err.Error(), want):
			t.Fatalf("caught as %v; want %q", err, want)
		}
	}

	t.Run("a replacement started beside its old task under stop-first", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, replace(false, 1))
		expect(t, s, "the rollout's order is stop-first")
	})
	t.Run("a start-first overlap is allowed, a third task is not", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, service(func(sv *swarm.Service) {
			sv.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst}
		}))
		write(t, s, replace(false, 1))
		expect(t, s, "")
		write(t, s, func(st state) []store.Mutation {
			third := *runningTask(st)
			third.ID, third.Slot = "third", 1
			return []store.Mutation{store.Create(&third)}
		})
		expect(t, s, "two tasks meant to run")
	})
	t.Run("a stop-first rollout with more slots down than parallelism", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, service(func(sv *swarm.Service) {
			image("app:2")(sv)
			sv.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
			status(swarm.UpdateStateUpdating)(sv)
		}))
		write(t, s, replace(true, 1))
		expect(t, s, "")
		write(t, s, replace(true, 2))
		expect(t, s, "has 2 replacements on their way")
	})
	t.Run("a finished rollback that runs another spec", func(t *testing.T) {
		s := runningSim(t)
		st, _ := s.read()
		if err := s.updateService(st, "update", func(sv *swarm.Service) bool { image("app:2")(sv); return true }); err != nil {
			t.Fatal(err)
		}
		write(t, s, service(status(swarm.UpdateStateRollbackCompleted)))
		expect(t, s, "not the one before the update")
	})
	t.Run("a finished rollback with a task of another spec", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, service(status(swarm.UpdateStateRollbackCompleted)))
		expect(t, s, "")
		write(t, s, func(st state) []store.Mutation {
			r := *runningTask(st)
			cs := *r.Spec.ContainerSpec
			cs.Image = "app:2"
			r.Spec.ContainerSpec = &cs
			return []store.Mutation{store.Update(&r, r.Meta.Version.Index)}
		})
		expect(t, s, "another spec")
	})
	t.Run("a paused update that replaces a task", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, service(func(sv *swarm.Service) { image("app:2")(sv); status(swarm.UpdateStatePaused)(sv) }))
		expect(t, s, "")
		write(t, s, replace(true, 1))
		expect(t, s, "paused, yet task repl-")
	})
	t.Run("a paused update that stops a task", func(t *testing.T) {
		s := runningSim(t)
		write(t, s, service(func(sv *swarm.Service) { image("app:2")(sv); status(swarm.UpdateStatePaused)(sv) }))
		expect(t, s, "")
		write(t, s, func(st state) []store.Mutation {
			r := *runningTask(st)
			r.DesiredState = swarm.TaskStateShutdown
			return []store.Mutation{store.Update(&r, r.Meta.Version.Index)}
		})
		expect(t, s, "alone in its slot")
	})
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestRolloutFaultsReachEveryPath shows that the faults drive rollouts
// down every path the properties watch: updates that complete, pause and
// roll back, on their own or by hand; health gates and flapping
// healthchecks; start-first overlaps. A property never reached is a
// property never checked.
func TestRolloutFaultsReachEveryPath(t *testing.T) {
	events := []string{
		`[completed "update completed"`,
		`[paused "update paused due to`,
		`[rollback_started "update rolled back due to`,
		`[rollback_started "manually requested rollback"`,
		`[rollback_completed "rollback completed"`,
		`[rollback_paused `,
		"failed by the health gates: not running and healthy within the healthy deadline",
		"within the progress deadline",
		"turns unhealthy",
		"task: unhealthy container",
		"fault: docker service update --image " + imageCrash,
		"fault: docker service update --image " + imageSick,
		"fault: leader change",
	}
	seen := map[string]int{}
	overlaps := 0
	const seeds = 200
	for seed := uint64(1); seed <= seeds; seed++ {
		s, _ := Run(config(seed))
		if s == nil {
			continue
		}
		log := strings.Join(s.Log(), "\n")
		for _, e := range events {
			if strings.Contains(log, e) {
				seen[e]++
			}
		}
		if len(s.roll.overlap) > 0 {
			overlaps++
		}
	}
	for _, e := range events {
		if seen[e] == 0 {
			t.Errorf("none of %d seeds logged %q", seeds, e)
		}
	}
	if overlaps == 0 {
		t.Errorf("none of %d seeds made a start-first overlap", seeds)
	}
	t.Logf("seeds (of %d) with each event: %v; with a start-first overlap: %d", seeds, seen, overlaps)
}
