package worker

import (
	"context"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// Agent runs one node's tasks for the managers. Make it with New.
type Agent struct {
	cfg      Config
	client   *client
	sessions *sessions
	reports  *reporter
	tasks    *supervisor
	running  sync.Mutex // one Run at a time
}

// New checks cfg and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	a := &Agent{cfg: c, client: newClient(&c), sessions: newSessions()}
	a.reports = newReporter(c.Logger)
	a.tasks = newSupervisor(&c, a.report)
	return a, nil
}

// session is one registration with the leader.
type session struct {
	id, nodeID string
	addr       string // the manager that accepted it
	role       swarm.NodeRole
	period     time.Duration
	managers   []string
}

func (s session) heartbeat() time.Duration {
	if s.period <= 0 {
		return defaultHeartbeat
	}
	return s.period
}

// sessions holds the current session for the status reporter, which
// waits on changed for a new one after its calls fail.
type sessions struct {
	mu      sync.Mutex
	cur     session
	changed chan struct{} // closed and replaced by every set
}

func newSessions() *sessions { return &sessions{changed: make(chan struct{})} }

func (h *sessions) get() (session, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.changed
}

func (h *sessions) set(s session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = s
	close(h.changed)
	h.changed = make(chan struct{})
}

// Run keeps the node's session and runs its tasks until ctx ends, then
// returns nil, leaving every task's container or process running for the
// next agent to adopt. It retries every failure itself: managers that do
// not answer, leader changes, and sessions the leader forgot.
func (a *Agent) Run(ctx context.Context) error {
	a.running.Lock()
	defer a.running.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		a.client.close()
	}()
	a.tasks.reset()
	wg.Go(func() { a.reports.run(ctx, a.cfg.Clock, &a.cfg, a.sendStatus) })
	wg.Go(func() { a.tasks.run(ctx) })

	log := a.cfg.Logger
	role := a.cfg.Role
	req := api.SessionRequest{Description: a.cfg.Description, Addr: a.cfg.Addr}
	failures := 0
	for {
		s, err := a.client.register(ctx, &a.cfg, req)
		if err != nil {
			return nil // ctx ended: register retries everything else
		}
		log.Info("session opened", "manager", s.addr, "session", s.id, "node", s.nodeID, "heartbeat", s.heartbeat())
		a.sessions.set(s)
		role = a.noteRole(role, s.role)
		polled, err := a.follow(ctx, s, &role)
		if ctx.Err() != nil {
			return nil
		}
		if polled {
			failures = 0
		}
		// The first failure after a good poll (a leader change, a forgotten
		// session) registers again at once; repeated ones wait longer.
		failures++
		wait := a.cfg.backoff(failures)
		log.Warn("session lost; registering again", "manager", s.addr, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(wait):
		}
	}
}

// follow long-polls the session's assignments and hands each set to the
// supervisor until a call fails; polled says whether one succeeded.
func (a *Agent) follow(ctx context.Context, s session, role *swarm.NodeRole) (polled bool, err error) {
	var since uint64 // sequences are per session
	for {
		asg, err := a.client.assignments(ctx, s, since)
		if err != nil {
			return polled, err
		}
		polled = true
		a.client.setManagers(asg.Managers)
		*role = a.noteRole(*role, asg.Role)
		a.tasks.offer(asg)
		since = asg.Sequence
	}
}

// noteRole calls OnRole when the cluster names a role other than the
// one the node runs as, and returns the role now known.
func (a *Agent) noteRole(cur, got swarm.NodeRole) swarm.NodeRole {
	if got == "" || got == cur {
		return cur
	}
	a.cfg.Logger.Info("the cluster changed the node's role", "from", cur, "to", got)
	if a.cfg.OnRole != nil {
		a.cfg.OnRole(got)
	}
	return got
}

// report is the executors' status callback: it stamps the status and
// queues it for the managers.
func (a *Agent) report(taskID string, st swarm.TaskStatus) {
	st.Timestamp = a.cfg.Clock.Now()
	a.reports.add(api.TaskStatusUpdate{TaskID: taskID, Status: st})
}

// sendStatus reports a batch in the current session (errNoSession before
// the first); changed fires once there is a newer session to retry in.
func (a *Agent) sendStatus(ctx context.Context, batch []api.TaskStatusUpdate) (changed <-chan struct{}, err error) {
	s, changed := a.sessions.get()
	if s.id == "" {
		return changed, errNoSession
	}
	return changed, a.client.status(ctx, s, batch)
}
