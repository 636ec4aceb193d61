package worker

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/executor"
	"github.com/swarmops/swarmops/api"
)

// supervisor keeps one executor per assigned task. It runs in one
// goroutine fed with the latest assignments: a slow runtime call never
// holds back the session's heartbeats, and sets that arrive meanwhile
// collapse into the newest.
type supervisor struct {
	cfg    *Config
	report func(taskID string, st swarm.TaskStatus)

	inbox    chan struct{} // holds a token when latest is new
	latestMu sync.Mutex
	latest   *api.Assignments

	mu      sync.Mutex // guards runners; LogsHandler reads them
	runners map[string]*runner
	adopted bool
	wg      sync.WaitGroup // the executors' goroutines
}

// runner is one task's executor.
type runner struct {
	rt      Runtime              // nil when the node lacks the task's driver
	desired chan swarm.TaskState // holds at most the newest desired state
	sent    swarm.TaskState      // the last desired state given
	done    chan struct{}        // closed once the executor returned
}

func (r *runner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// give replaces whatever desired state the executor has not read yet:
// only the newest matters, and the supervisor must never block on a task
// busy in a runtime call.
func (r *runner) give(d swarm.TaskState) {
	select {
	case <-r.desired:
	default:
	}
	r.desired <- d
	r.sent = d
}

func newSupervisor(cfg *Config, report func(string, swarm.TaskStatus)) *supervisor {
	return &supervisor{cfg: cfg, report: report, inbox: make(chan struct{}, 1), runners: map[string]*runner{}}
}

// offer hands the supervisor a new set; it never blocks.
func (s *supervisor) offer(asg *api.Assignments) {
	s.latestMu.Lock()
	s.latest = asg
	s.latestMu.Unlock()
	select {
	case s.inbox <- struct{}{}:
	default:
	}
}

func (s *supervisor) takeLatest() *api.Assignments {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	asg := s.latest
	s.latest = nil
	return asg
}

// run applies the sets offered until ctx ends, then waits for every
// executor to return; the tasks themselves keep running.
func (s *supervisor) run(ctx context.Context) {
	defer s.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.inbox:
		}
		asg := s.takeLatest()
		if asg == nil {
			continue
		}
		if !s.adopted {
			s.adopt(ctx, asg)
			if ctx.Err() != nil {
				return
			}
			s.adopted = true
		}
		s.reconcile(ctx, asg)
	}
}

// reset starts over before a Run: the last one's executors have all
// returned, and its last set is stale.
func (s *supervisor) reset() {
	s.mu.Lock()
	clear(s.runners)
	s.adopted = false
	s.mu.Unlock()
	s.takeLatest()
	select {
	case <-s.inbox:
	default:
	}
}

// runtimeOf returns the runtime that runs a task of this agent.
func (s *supervisor) runtimeOf(taskID string) (Runtime, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runners[taskID]
	if !ok || r.rt == nil {
		return nil, false
	}
	return r.rt, true
}

// adopt settles what the runtimes hold before anything runs: a task of the
// set keeps its container, which its executor (given the task's last
// reported status) follows without restarting; every other container is
// stopped and removed.
func (s *supervisor) adopt(ctx context.Context, asg *api.Assignments) {
	log := s.cfg.Logger
	owned := map[string][]string{}
	for name, rt := range s.cfg.Runtimes {
		ids, err := rt.TaskIDs(ctx)
		if err != nil {
			// Its orphans stay until the next agent start; its tasks fail
			// on their own if the runtime is really gone.
			log.Error("cannot list the tasks a runtime holds; not adopting them", "runtime", name, "err", err)
			continue
		}
		owned[name] = ids
	}
	orphans := orphansOf(owned, asg.Tasks)
	var wg sync.WaitGroup
	for name, ids := range orphans {
		rt := s.cfg.Runtimes[name]
		for _, id := range ids {
			wg.Go(func() {
				err := rt.Stop(ctx, id, nil)
				if err == nil {
					err = rt.Remove(ctx, id)
				}
				if err != nil {
					log.Error("cannot remove the container of a task that no longer exists", "runtime", name, "task", id, "err", err)
					return
				}
				log.Info("removed the container of a task that no longer exists", "runtime", name, "task", id)
			})
		}
	}
	wg.Wait()
	for name, ids := range owned {
		if n := len(ids) - len(orphans[name]); n > 0 {
			log.Info("adopted running tasks", "runtime", name, "tasks", n)
		}
	}
}

// reconcile starts an executor for every new task, passes on new desired
// states, and has tasks gone from the set stopped and removed.
func (s *supervisor) reconcile(ctx context.Context, asg *api.Assignments) {
	s.mu.Lock()
	defer s.mu.Unlock()
	view := make(map[string]runnerView, len(s.runners))
	for id, r := range s.runners {
		view[id] = runnerView{Desired: r.sent, Finished: r.finished()}
	}
	p := planTasks(view, asg.Tasks)
	for _, id := range p.Forget {
		delete(s.runners, id)
	}
	for _, id := range p.Remove {
		s.runners[id].give(swarm.TaskStateRemove)
	}
	for _, id := range slices.Sorted(maps.Keys(p.Desire)) {
		s.runners[id].give(p.Desire[id])
	}
	if len(p.Start) == 0 {
		return
	}
	data := indexData(asg)
	for _, t := range p.Start {
		s.runners[t.ID] = s.start(ctx, t, data)
	}
}

// start runs a task's executor in a goroutine.
func (s *supervisor) start(ctx context.Context, t swarm.Task, data assignedData) *runner {
	spec, err := taskSpec(t, data)
	name := driverOf(t)
	rt := s.cfg.Runtimes[name]
	if rt == nil {
		err = noRuntime(name, slices.Sorted(maps.Keys(s.cfg.Runtimes)))
	}
	r := &runner{rt: rt, desired: make(chan swarm.TaskState, 1), sent: t.DesiredState, done: make(chan struct{})}
	exe := taskRuntime{rt: rt, err: err}
	id := t.ID
	s.wg.Go(func() {
		defer close(r.done)
		err := executor.Run(ctx, exe, spec, r.desired, func(st swarm.TaskStatus) { s.report(id, st) })
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("task executor ended", "task", id, "err", err)
		}
	})
	return r
}
