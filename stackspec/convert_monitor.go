package stackspec

import (
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// What an unset healthcheck timing means: Docker's defaults (moby
// daemon/health.go: interval 30s, retries 3, start period 0). An unset
// update monitor is defaultUpdateMonitor, Swarm's 5s.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthRetries  = 3
)

// warnShortMonitor warns when a rollout stops watching a replacement
// before its healthcheck can have reported it unhealthy: a healthcheck
// fails a container only after start_period and then retries failed
// probes interval apart, so a release that turns unhealthy later than the
// update's monitor window (plus min_healthy_time, during which swarmops
// also watches) counts as a success.
//
// Only a healthcheck the file writes counts: one inherited from the image
// is unknown without the image. Jobs have no rollout to watch.
func (c *converter) warnShortMonitor(name string, spec swarm.ServiceSpec) {
	if spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil {
		return
	}
	hc := spec.TaskTemplate.ContainerSpec.Healthcheck
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return
	}
	interval, retries := hc.Interval, hc.Retries
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	report := hc.StartPeriod + interval*time.Duration(retries)
	monitor := defaultUpdateMonitor
	if uc := spec.UpdateConfig; uc != nil && uc.Monitor > 0 {
		monitor = uc.Monitor
	}
	minHealthy, _ := time.ParseDuration(spec.Labels[deploy.LabelMinHealthyTime])
	watched := monitor + max(minHealthy, 0)
	if watched >= report {
		return
	}
	what := fmt.Sprintf("update_config.monitor %s", monitor)
	fix := "set monitor (or x-swarmops.min_healthy_time) to " + report.String() + " or more"
	if minHealthy > 0 {
		what += fmt.Sprintf(" plus x-swarmops.min_healthy_time %s", minHealthy)
		fix = "raise monitor or min_healthy_time so that together they make " + report.String() + " or more"
	}
	c.warnings = append(c.warnings, fmt.Sprintf(
		"service %s: %s is shorter than the %s its healthcheck may take to report a failure (start_period %s + interval %s × retries %d): a release that fails later counts as a success; %s",
		name, what, report, hc.StartPeriod, interval, retries, fix))
}
