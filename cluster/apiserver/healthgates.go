package apiserver

import (
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

// checkHealthGateLabels refuses a health-gate label (deploy.Label*) the
// rollout engine could not read: a stack file's x-swarmops block writes
// them checked, but `docker service create|update --label-add` writes
// anything, and a gate that silently does nothing is worse than an error.
func checkHealthGateLabels(labels map[string]string) error {
	for _, label := range []string{deploy.LabelMinHealthyTime, deploy.LabelHealthyDeadline, deploy.LabelProgressDeadline} {
		v, ok := labels[label]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return badRequest("invalid label %s=%q: not a duration; use one such as 10s or 1m30s", label, v)
		}
		if d < 0 {
			return badRequest("invalid label %s=%q: a duration cannot be negative", label, v)
		}
	}
	if v, ok := labels[deploy.LabelAutoRollback]; ok && v != "true" && v != "false" {
		return badRequest("invalid label %s=%q: use true or false", deploy.LabelAutoRollback, v)
	}
	return nil
}

// What an unset field means: Docker's healthcheck defaults (moby
// daemon/health.go) and SwarmKit's update monitor (api/defaults).
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthRetries  = 3
	defaultUpdateMonitor  = 5 * time.Second
)

// monitorWarnings warns, in the create or update answer the docker CLI
// prints, when the rollout stops watching a replacement before its
// healthcheck can have failed it: a healthcheck reports unhealthy only
// after StartPeriod and then Retries failed probes Interval apart, so a
// release that fails later than UpdateConfig.Monitor (plus the
// min-healthy-time gate, during which the replacement is watched too)
// counts as a success.
//
// Only a healthcheck the spec sets counts: the image's is not known here.
// Jobs are not rolled out, so they get no warning.
func monitorWarnings(spec *swarm.ServiceSpec) []string {
	if spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil || spec.TaskTemplate.ContainerSpec == nil {
		return nil
	}
	hc := spec.TaskTemplate.ContainerSpec.Healthcheck
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil
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
	if monitor+max(minHealthy, 0) >= report {
		return nil
	}
	what := fmt.Sprintf("UpdateConfig.Monitor %s", monitor)
	fix := fmt.Sprintf("set --update-monitor (or the label %s) to %s or more", deploy.LabelMinHealthyTime, report)
	if minHealthy > 0 {
		what += fmt.Sprintf(" plus %s %s", deploy.LabelMinHealthyTime, minHealthy)
		fix = fmt.Sprintf("raise --update-monitor or the label so that together they make %s or more", report)
	}
	return []string{fmt.Sprintf(
		"service %s: %s is shorter than the %s its healthcheck may take to report a failure (StartPeriod %s + Interval %s × Retries %d): a release that fails later counts as a success; %s",
		spec.Name, what, report, hc.StartPeriod, interval, retries, fix)}
}
