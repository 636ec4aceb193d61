package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/deploy"
)

func TestMonitorWarnings(t *testing.T) {
	probe := func(hc container.HealthConfig) swarm.ServiceSpec {
		s := minimalSpec("web", "busybox")
		hc.Test = []string{"CMD", "/probe"}
		s.TaskTemplate.ContainerSpec.Healthcheck = &hc
		return s
	}
	withMonitor := func(s swarm.ServiceSpec, d time.Duration) swarm.ServiceSpec {
		s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Monitor: d}
		return s
	}
	withLabel := func(s swarm.ServiceSpec, k, v string) swarm.ServiceSpec {
		s.Labels = map[string]string{k: v}
		return s
	}
	tests := []struct {
		name string
		spec swarm.ServiceSpec
		want string // "" for no warning
	}{
		{"no healthcheck", minimalSpec("web", "busybox"), ""},
		{"healthcheck off", func() swarm.ServiceSpec {
			s := minimalSpec("web", "busybox")
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
			return s
		}(), ""},
		{"image's test, new timings", func() swarm.ServiceSpec {
			s := minimalSpec("web", "busybox")
			s.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Interval: time.Minute}
			return s
		}(), ""},
		{"Docker's defaults", probe(container.HealthConfig{}),
			"service web: UpdateConfig.Monitor 5s is shorter than the 1m30s its healthcheck may take to report a failure (StartPeriod 0s + Interval 30s × Retries 3): a release that fails later counts as a success; set --update-monitor (or the label com.swarmops.update.min-healthy-time) to 1m30s or more"},
		{"start period", probe(container.HealthConfig{StartPeriod: 20 * time.Second, Interval: 5 * time.Second, Retries: 2}),
			"the 30s its healthcheck may take to report a failure (StartPeriod 20s + Interval 5s × Retries 2)"},
		{"monitor long enough", withMonitor(probe(container.HealthConfig{Interval: 10 * time.Second}), 30*time.Second), ""},
		{"monitor just short", withMonitor(probe(container.HealthConfig{Interval: 10 * time.Second}), 29*time.Second), "UpdateConfig.Monitor 29s is shorter than the 30s"},
		{"min-healthy-time covers the rest", withLabel(probe(container.HealthConfig{Interval: 10 * time.Second}), deploy.LabelMinHealthyTime, "25s"), ""},
		{"min-healthy-time too short", withLabel(probe(container.HealthConfig{Interval: 10 * time.Second}), deploy.LabelMinHealthyTime, "20s"),
			"UpdateConfig.Monitor 5s plus com.swarmops.update.min-healthy-time 20s is shorter than the 30s its healthcheck may take to report a failure (StartPeriod 0s + Interval 10s × Retries 3): a release that fails later counts as a success; raise --update-monitor or the label so that together they make 30s or more"},
		{"job", func() swarm.ServiceSpec {
			s := probe(container.HealthConfig{})
			s.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
			return s
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := monitorWarnings(&tt.spec)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("warnings %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestServiceWarningsAndHealthGateLabels(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()

	spec := minimalSpec("web", "busybox")
	spec.TaskTemplate.ContainerSpec.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/probe"}, Interval: 10 * time.Second}
	created, err := cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(created.Warnings) != 1 || !strings.HasPrefix(created.Warnings[0], "service web: UpdateConfig.Monitor 5s is shorter than the 30s") {
		t.Errorf("create warnings %q, want the monitor warning", created.Warnings)
	}

	// `docker service update --update-monitor 30s web`: warned no more.
	svc, _, err := cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec = svc.Spec
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Monitor: 30 * time.Second}
	up, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, spec, swarm.ServiceUpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if len(up.Warnings) != 0 {
		t.Errorf("update warnings %q, want none with a 30s monitor", up.Warnings)
	}
	// `docker service rollback web` goes back to the 5s monitor: the
	// warning is about the spec the service ends with.
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	up, err = cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if len(up.Warnings) != 1 || !strings.Contains(up.Warnings[0], "UpdateConfig.Monitor 5s") {
		t.Errorf("rollback warnings %q, want the monitor warning of the spec rolled back to", up.Warnings)
	}

	// Health-gate labels the rollout engine could not read are refused,
	// on create and on update; good ones are kept as written.
	bad := []struct{ label, value, msg string }{
		{deploy.LabelMinHealthyTime, "ten", `invalid label com.swarmops.update.min-healthy-time="ten": not a duration; use one such as 10s or 1m30s`},
		{deploy.LabelHealthyDeadline, "1d", `invalid label com.swarmops.update.healthy-deadline="1d": not a duration`},
		{deploy.LabelProgressDeadline, "-1m", `invalid label com.swarmops.update.progress-deadline="-1m": a duration cannot be negative`},
		{deploy.LabelAutoRollback, "yes", `invalid label com.swarmops.update.auto-rollback="yes": use true or false`},
	}
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	for _, b := range bad {
		s := minimalSpec("gated", "busybox")
		s.Labels = map[string]string{b.label: b.value}
		status, body, _ := h.raw(m, cert, "POST", "/v1.41/services/create", s)
		wantError(t, status, body, http.StatusBadRequest, b.msg)
		s = svc.Spec
		s.Labels = map[string]string{b.label: b.value}
		status, body, _ = h.raw(m, cert, "POST", "/v1.41/services/web/update?version="+itoa(svc.Version.Index), s)
		wantError(t, status, body, http.StatusBadRequest, b.msg)
	}
	good := map[string]string{deploy.LabelMinHealthyTime: "10s", deploy.LabelHealthyDeadline: "5m0s", deploy.LabelProgressDeadline: "0s", deploy.LabelAutoRollback: "true"}
	s := minimalSpec("gated", "busybox")
	s.Labels = good
	if _, err := cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{}); err != nil {
		t.Fatalf("create with valid gates: %v", err)
	}
	gated, _, _ := cli.ServiceInspectWithRaw(ctx, "gated", swarm.ServiceInspectOptions{})
	for k, v := range good {
		if gated.Spec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, gated.Spec.Labels[k], v)
		}
	}
}
