package sim

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

var gitopsSeedsFlag = flag.Int("gitops-seeds", 60, "how many seeds TestGitOpsSimulation runs (a seed costs about six of TestSimulation's)")

func gitopsConfig(seed uint64) Config {
	cfg := config(seed)
	cfg.GitOps = true
	return cfg
}

// TestGitOpsSimulation runs the seeds with the reconciler in the loop, on
// every CPU, and reports the lowest failing seed found with the command
// that replays it (-seed N runs that one only). A full run also checks
// that the seeds went down every path the invariants watch: a path
// never taken is an invariant never checked.
func TestGitOpsSimulation(t *testing.T) {
	first, n := uint64(1), uint64(*gitopsSeedsFlag)
	if *seedFlag >= 0 {
		first, n = uint64(*seedFlag), 1
	}
	var mu sync.Mutex
	seen := map[string]int{}
	failed := runSeeds(t, first, n, gitopsConfig, func(s *Sim) {
		mu.Lock()
		defer mu.Unlock()
		for what := range s.git.seen {
			seen[what]++
		}
	})
	if failed != nil {
		t.Fatalf("seed %d: %v\nreplay: go test ./cluster/sim -run TestGitOpsSimulation -seed %d -simlog\nstep log:\n%s",
			failed.seed, failed.err, failed.seed, strings.Join(failed.log, "\n"))
	}
	if n < 50 {
		return // too few seeds to expect every path
	}
	for _, path := range gitopsPaths {
		if seen[path] == 0 {
			t.Errorf("none of %d seeds went through %q", n, path)
		}
	}
	t.Logf("seeds (of %d) through each path: %v", n, seen)
}

// gitopsPaths are the paths every full run goes down (gitops.count).
var gitopsPaths = []string{
	"commit: release", "commit: failing release", "commit: refused release", "commit: broken stack", "commit: fix stack",
	"commit: broken swarmops.yaml", "commit: fix swarmops.yaml", "commit: revert", "commit: restore", "commit: docs",
	"hand scale", "hand env", "hand image", "hand rollback", "hand rm", "retry asked", "retry started",
	"deployment started", "rollback seen", "deployment rolled back", "going back rolled back", "broken head held", "broken swarmops.yaml held",
	"end: Synced", "end: Failed", "end: Degraded, head quarantined", "end: Failed, head quarantined", "end: back on the last good revision",
}

type seedFailure struct {
	seed uint64
	err  error
	log  []string
}

// runSeeds runs seeds first..first+n-1 of cfg on every CPU, hands every
// run to visit, and returns the lowest failure found; it stops handing
// out seeds after the first.
func runSeeds(t *testing.T, first, n uint64, cfg func(uint64) Config, visit func(*Sim)) *seedFailure {
	var (
		mu     sync.Mutex
		failed *seedFailure
		wg     sync.WaitGroup
	)
	seeds := make(chan uint64)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for seed := range seeds {
				s, err := Run(cfg(seed))
				if *logFlag && s != nil {
					t.Logf("seed %d:\n%s", seed, strings.Join(s.Log(), "\n"))
				}
				if s != nil {
					visit(s)
				}
				if err == nil {
					continue
				}
				mu.Lock()
				if failed == nil || seed < failed.seed {
					failed = &seedFailure{seed: seed, err: err}
					if s != nil {
						failed.log = s.Log()
					}
				}
				mu.Unlock()
			}
		})
	}
	for seed := first; seed < first+n; seed++ {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	return failed
}

// TestGitOpsSimulationIsDeterministic runs one seed twice.
func TestGitOpsSimulationIsDeterministic(t *testing.T) {
	a, errA := Run(gitopsConfig(7))
	b, errB := Run(gitopsConfig(7))
	if fmt.Sprint(errA) != fmt.Sprint(errB) || strings.Join(a.Log(), "\n") != strings.Join(b.Log(), "\n") {
		t.Fatalf("seed 7 ran differently twice")
	}
	if !strings.Contains(strings.Join(a.Log(), "\n"), "git: commit") {
		t.Fatalf("seed 7 made no commit")
	}
}

// TestGitOpsInvariantsCatchViolations breaks each GitOps invariant on a
// quiet stack, writing behind the reconciler's back as if it had, and
// expects the check to name it.
func TestGitOpsInvariantsCatchViolations(t *testing.T) {
	v1 := shop("app:v1", "web")
	// change writes to the store between two reads of the stacks and
	// returns them, as a step of the reconciler that made the write.
	change := func(t *testing.T, h *harness, muts func(web *swarm.Service, rec *api.Stack) []store.Mutation) (before, after map[string]stackState) {
		t.Helper()
		before, err := h.s.readStacks()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := store.Clone(h.record())
		if err != nil {
			t.Fatal(err)
		}
		web, err := store.Clone(h.service("web"))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.s.apply(byReconciler, muts(web, rec)); err != nil {
			t.Fatal(err)
		}
		if after, err = h.s.readStacks(); err != nil {
			t.Fatal(err)
		}
		return before, after
	}
	image := func(img string) func(web *swarm.Service, _ *api.Stack) []store.Mutation {
		return func(web *swarm.Service, _ *api.Stack) []store.Mutation {
			v := web.Meta.Version.Index
			web.Spec.TaskTemplate.ContainerSpec.Image = img
			return []store.Mutation{store.Update(web, v)}
		}
	}
	record := func(edit func(rec *api.Stack)) func(_ *swarm.Service, rec *api.Stack) []store.Mutation {
		return func(_ *swarm.Service, rec *api.Stack) []store.Mutation {
			v := rec.Version.Index
			edit(rec)
			return []store.Mutation{store.Update(rec, v)}
		}
	}
	expect := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v; want an error with %q", err, want)
		}
	}
	step := func(t *testing.T, h *harness, before, after map[string]stackState) error {
		return h.s.checkReconcilerStep(h.s.git.repo.head(), before, after)
	}

	t.Run("a broken head changes the stack", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		h.pushBroken(with(v1, "web", "app:v2"))
		h.step()
		before, after := change(t, h, image("app:v0"))
		expect(t, step(t, h, before, after), "yet the reconciler changed service shop_web")
	})
	t.Run("a failure recorded again", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		h.pushBroken(v1)
		h.step()
		before, after := change(t, h, record(func(rec *api.Stack) { rec.LastAttempted.Time = h.s.now }))
		expect(t, step(t, h, before, after), "written again with nothing new")
	})
	t.Run("a broken swarmops.yaml changes the stack", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		h.s.git.repo.add(&commit{kind: "broken swarmops.yaml", stacks: h.s.git.repo.head().stacks, repoBroken: "swarmops.yaml:1: bad"}, h.s.now)
		h.step()
		before, after := change(t, h, image("app:v0"))
		expect(t, step(t, h, before, after), "away from what the record attempted or applied")
	})
	t.Run("a quarantined revision deployed without a retry", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		before, after := change(t, h, record(func(rec *api.Stack) {
			rec.History = append([]api.Deployment{{Revision: api.Revision{Commit: "c", Digest: "sha256:bad", Time: h.s.now}, Outcome: api.OutcomeProgressing}}, rec.History...)
		}))
		st := before["shop"]
		st.rec.Quarantined = []api.Revision{{Digest: "sha256:bad"}}
		expect(t, step(t, h, before, after), "which is quarantined, without a retry")
	})
	t.Run("a revision deployed again right after it rolled back", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		h.s.git.rolledBack["shop"] = "sha256:bad"
		before, after := change(t, h, record(func(rec *api.Stack) {
			rec.History = append([]api.Deployment{{Revision: api.Revision{Commit: "c", Digest: "sha256:bad", Time: h.s.now}, Outcome: api.OutcomeProgressing}}, rec.History...)
		}))
		expect(t, step(t, h, before, after), "again right after it rolled back")
	})
	t.Run("a spec rolled back written again", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		web := h.service("web")
		st, err := h.s.readStacks()
		if err != nil {
			t.Fatal(err)
		}
		h.s.git.undone[web.ID] = undo{spec: serviceDigest(st["shop"].spec, "shop_web"), head: h.s.git.repo.head().id, step: h.s.step}
		before, after := change(t, h, image("app:v1"))
		expect(t, step(t, h, before, after), "wrote it again with the head still at")
	})
	t.Run("the applied revision quarantined", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		before, after := change(t, h, record(func(rec *api.Stack) { rec.Quarantined = []api.Revision{*rec.Applied} }))
		expect(t, step(t, h, before, after), "is quarantined")
	})
	t.Run("Synced, but the cluster differs", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		change(t, h, image("app:v0"))
		expect(t, h.s.checkGitOpsEnd(), "the cluster differs from it")
	})
	t.Run("Synced at a quarantined head", func(t *testing.T) {
		h := newHarness(t, api.StackOptions{}, v1)
		change(t, h, record(func(rec *api.Stack) { rec.Quarantined = []api.Revision{*rec.Applied} }))
		expect(t, h.s.checkGitOpsEnd(), "which is quarantined, yet")
	})
	t.Run("a hand change is allowed without self-heal, not with it", func(t *testing.T) {
		for _, heal := range []bool{false, true} {
			h := newHarness(t, api.StackOptions{SelfHeal: heal}, v1)
			change(t, h, image("app:v0"))
			h.s.git.handEdited["shop_web"] = true
			err := h.s.checkGitOpsEnd()
			if heal {
				expect(t, err, "the cluster differs from it")
			} else if err != nil {
				t.Fatalf("without self_heal, a hand change is the operator's: %v", err)
			}
		}
	})
}
