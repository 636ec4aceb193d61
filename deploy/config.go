package deploy

import (
	"strconv"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Swarm's defaults for an update_config or rollback_config, used for a
// block that is absent and, for monitor, failure_action and order, for a
// field left at its zero value (the Engine API reads a zero monitor as
// "not set", as moby's convert package does).
const (
	DefaultParallelism   = 1
	DefaultMonitor       = 5 * time.Second
	DefaultFailureAction = swarm.UpdateFailureActionPause
	DefaultOrder         = swarm.UpdateOrderStopFirst
)

// config is one update_config or rollback_config with Swarm's defaults
// filled in.
type config struct {
	// parallelism is how many slots are replaced at a time; 0 is all.
	parallelism     int
	delay           time.Duration
	monitor         time.Duration
	failureAction   string
	maxFailureRatio float32
	startFirst      bool
}

func configOf(c *swarm.UpdateConfig) config {
	cfg := config{parallelism: DefaultParallelism, monitor: DefaultMonitor, failureAction: DefaultFailureAction}
	if c == nil {
		return cfg
	}
	cfg.parallelism = int(min(c.Parallelism, 1<<31-1))
	cfg.delay = max(c.Delay, 0)
	if c.Monitor > 0 {
		cfg.monitor = c.Monitor
	}
	switch c.FailureAction {
	case swarm.UpdateFailureActionContinue, swarm.UpdateFailureActionRollback:
		cfg.failureAction = c.FailureAction
	}
	cfg.maxFailureRatio = c.MaxFailureRatio
	cfg.startFirst = c.Order == swarm.UpdateOrderStartFirst
	return cfg
}

// finalMonitor is how long a rollout watches after its last slot before it
// completes. SwarmKit's updater waits out the delay after the last slot
// too, and then monitors at least a second longer than the delay.
func (c config) finalMonitor() time.Duration {
	if c.delay >= c.monitor {
		return c.delay + time.Second
	}
	return c.monitor
}

// gates are the health gates a service's labels set; zero is unset.
type gates struct {
	minHealthy       time.Duration
	healthyDeadline  time.Duration
	progressDeadline time.Duration
	autoRollback     bool
}

// gatesOf reads the gate labels. A value that does not parse sets no gate:
// stackspec refuses such values with the file and line, and Step cannot
// report errors.
func gatesOf(labels map[string]string) gates {
	dur := func(k string) time.Duration {
		d, err := time.ParseDuration(labels[k])
		if err != nil || d < 0 {
			return 0
		}
		return d
	}
	auto, _ := strconv.ParseBool(labels[LabelAutoRollback])
	return gates{
		minHealthy:       dur(LabelMinHealthyTime),
		healthyDeadline:  dur(LabelHealthyDeadline),
		progressDeadline: dur(LabelProgressDeadline),
		autoRollback:     auto,
	}
}
