package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/executor"
	"github.com/swarmops/swarmops/agent/runtime"
)

// Defaults of the Config fields left zero.
const (
	// DefaultDriver is the runtime of a task whose container spec carries
	// no api.LabelDriver label.
	DefaultDriver = "docker"
	// defaultHeartbeat stands in for a session reply naming no period:
	// Swarm's 5s.
	defaultHeartbeat = 5 * time.Second
	defaultCall      = 10 * time.Second
	defaultRetryMin  = 250 * time.Millisecond
	defaultRetryMax  = 10 * time.Second
)

// Runtime is what the agent needs of a runtime: the executor's calls, the
// tasks it already holds (for adoption after a restart), and their logs.
// Docker and Exec adapt the two runtimes of package agent.
type Runtime interface {
	executor.Runtime
	// TaskIDs lists the tasks this runtime holds a container or process
	// for, running or not.
	TaskIDs(ctx context.Context) ([]string, error)
	// Logs streams a task's output in Docker's multiplexed format.
	Logs(ctx context.Context, taskID string, o runtime.LogOptions) (io.ReadCloser, error)
}

// Clock is the agent's time: status timestamps and the waits between
// retries. Tests may pass a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is what an agent needs to run a node's tasks.
type Config struct {
	// Managers are the API addresses (host:port) of the managers known at
	// start; the session's replies add the ones the cluster names.
	Managers []string
	// TLS is the client config presenting the node's certificate and
	// trusting the cluster CA (its ServerName names managers).
	TLS *tls.Config
	// Description is the node as the agent sees it, sent at registration.
	Description swarm.NodeDescription
	// Addr is where this node serves LogsHandler (host:port).
	Addr string
	// Runtimes are keyed by driver name ("docker", "exec"): the task's
	// api.LabelDriver container label picks one, DefaultDriver when absent.
	Runtimes map[string]Runtime
	// Role is the role the node runs as now; empty means worker.
	Role swarm.NodeRole
	// OnRole, if set, is called from Run's goroutine when a reply names
	// another role than Role (a worker promoted, a manager demoted), once
	// per change. The caller stops the agent and takes the new role; OnRole
	// must not wait for Run to return.
	OnRole func(swarm.NodeRole)
	// Logger gets what the agent does; nil discards it.
	Logger *slog.Logger
	// Clock defaults to the real one.
	Clock Clock
	// CallTimeout bounds a session or status call, and is what a long poll
	// may take beyond one heartbeat period; zero means 10s.
	CallTimeout time.Duration
	// RetryMin and RetryMax bound the exponential wait between failed
	// attempts; zero means 250ms and 10s.
	RetryMin, RetryMax time.Duration
}

// check reports the first field that makes the config unusable.
func (c *Config) check() error {
	switch {
	case len(c.Managers) == 0:
		return errors.New("agent: Config.Managers is empty: name at least one manager address")
	case c.TLS == nil:
		return errors.New("agent: Config.TLS is nil: pass the node's client TLS config")
	case len(c.Runtimes) == 0:
		return errors.New("agent: Config.Runtimes is empty: give the agent the docker or exec runtime")
	}
	for name, rt := range c.Runtimes {
		if rt == nil {
			return errors.New("agent: Config.Runtimes[" + name + "] is nil")
		}
	}
	return nil
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Clock == nil {
		out.Clock = realClock{}
	}
	if out.Role == "" {
		out.Role = swarm.NodeRoleWorker
	}
	if out.CallTimeout <= 0 {
		out.CallTimeout = defaultCall
	}
	if out.RetryMin <= 0 {
		out.RetryMin = defaultRetryMin
	}
	if out.RetryMax <= 0 {
		out.RetryMax = defaultRetryMax
	}
	if out.RetryMax < out.RetryMin {
		out.RetryMax = out.RetryMin
	}
	return out
}

// backoff is the wait before attempt n+1 after n failures in a row: none
// after the first, then RetryMin doubling up to RetryMax.
func (c *Config) backoff(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	d := c.RetryMin
	for i := 2; i < failures && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
