package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

var zones = []string{"a", "b", "c"}

func newNode(i int) *swarm.Node {
	return &swarm.Node{
		ID: fmt.Sprintf("node%02d", i),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{"zone": zones[(i-1)%len(zones)]}},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname:  fmt.Sprintf("worker%d", i),
			Platform:  swarm.Platform{OS: "linux", Architecture: "x86_64"},
			Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
		},
		// Nodes start unknown: their agents register at the first step.
		Status: swarm.NodeStatus{State: swarm.NodeStateUnknown, Addr: fmt.Sprintf("10.0.0.%d", i)},
	}
}

// newService makes a service of a random mode (replicated, global,
// replicated job, global job) with a random mix of what placement and
// restarts can ask: zone and role constraints, CPU and memory
// reservations, a host-mode published port, max replicas per node, and a
// restart policy with a condition, a delay, max attempts and a window.
func (s *Sim) newService() *swarm.Service {
	s.svcSeq++
	r := s.rng
	delay := time.Duration(r.IntN(6)) * time.Second
	policy := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay}
	switch r.IntN(8) {
	case 0:
		policy.Condition = swarm.RestartPolicyConditionOnFailure
	case 1:
		policy.Condition = swarm.RestartPolicyConditionNone
	}
	if r.IntN(3) == 0 {
		attempts := uint64(1 + r.IntN(3))
		policy.MaxAttempts = &attempts
		if r.IntN(2) == 0 {
			window := time.Duration(10+r.IntN(50)) * time.Second
			policy.Window = &window
		}
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: fmt.Sprintf("svc%d", s.svcSeq)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "app:1"},
			RestartPolicy: policy,
			Placement:     &swarm.Placement{},
		},
	}
	p := spec.TaskTemplate.Placement
	switch r.IntN(5) {
	case 0:
		p.Constraints = []string{"node.labels.zone==a"}
	case 1:
		p.Constraints = []string{"node.labels.zone!=b", "node.role==worker"}
	}
	if r.IntN(4) == 0 {
		cpus := int64(1 + r.IntN(2))
		spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Reservations: &swarm.Resources{
			NanoCPUs: cpus * 1e9, MemoryBytes: int64(1+r.IntN(3)) << 30,
		}}
	}
	if r.IntN(5) == 0 {
		// Few ports, so that services contend for them too.
		spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80,
			PublishedPort: uint32(8080 + r.IntN(2)), PublishMode: swarm.PortConfigPublishModeHost,
		}}}
	}
	if r.IntN(5) == 0 {
		p.MaxReplicas = uint64(1 + r.IntN(2))
	}
	svc := &swarm.Service{ID: fmt.Sprintf("service%02d", s.svcSeq), Spec: spec}
	switch k := r.IntN(8); {
	case k == 0:
		spec.Mode.Global = &swarm.GlobalService{}
	case k == 1:
		maxConcurrent, total := uint64(1+r.IntN(3)), uint64(1+r.IntN(6))
		spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: &maxConcurrent, TotalCompletions: &total}
	case k == 2:
		spec.Mode.GlobalJob = &swarm.GlobalJob{}
	default:
		n := uint64(r.IntN(5))
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	if spec.Mode.Replicated != nil || spec.Mode.Global != nil {
		randomRollout(r, &spec)
	}
	svc.Spec = spec
	if isJob(svc) {
		// The API stamps a job's first iteration, as Docker's does.
		svc.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}, LastExecution: s.now}
	}
	return svc
}

func isJob(sv *swarm.Service) bool {
	return sv.Spec.Mode.ReplicatedJob != nil || sv.Spec.Mode.GlobalJob != nil
}

func isGlobal(sv *swarm.Service) bool {
	return sv.Spec.Mode.Global != nil || sv.Spec.Mode.GlobalJob != nil
}

func modeOf(sv *swarm.Service) string {
	switch m := sv.Spec.Mode; {
	case m.Global != nil:
		return "global"
	case m.GlobalJob != nil:
		return fmt.Sprintf("global-job(it %d)", iteration(sv))
	case m.ReplicatedJob != nil:
		return fmt.Sprintf("replicated-job(max %d, total %d, it %d)", *m.ReplicatedJob.MaxConcurrent, *m.ReplicatedJob.TotalCompletions, iteration(sv))
	}
	return fmt.Sprintf("replicated=%d", *sv.Spec.Mode.Replicated.Replicas)
}

func iteration(sv *swarm.Service) uint64 {
	if sv.JobStatus == nil {
		return 0
	}
	return sv.JobStatus.JobIteration.Index
}

func describeService(sv *swarm.Service) string {
	parts := []string{modeOf(sv)}
	t := sv.Spec.TaskTemplate
	if t.ContainerSpec != nil {
		parts = append(parts, t.ContainerSpec.Image)
		if t.ContainerSpec.Healthcheck != nil {
			parts = append(parts, "healthcheck")
		}
	}
	if t.ForceUpdate > 0 {
		parts = append(parts, fmt.Sprintf("force=%d", t.ForceUpdate))
	}
	if p := t.Placement; p != nil {
		if len(p.Constraints) > 0 {
			parts = append(parts, strings.Join(p.Constraints, ","))
		}
		if p.MaxReplicas > 0 {
			parts = append(parts, fmt.Sprintf("max %d/node", p.MaxReplicas))
		}
	}
	if t.Resources != nil && t.Resources.Reservations != nil {
		parts = append(parts, fmt.Sprintf("reserve %dcpu/%dG", t.Resources.Reservations.NanoCPUs/1e9, t.Resources.Reservations.MemoryBytes>>30))
	}
	if e := sv.Spec.EndpointSpec; e != nil && len(e.Ports) > 0 {
		parts = append(parts, fmt.Sprintf("port %d/host", e.Ports[0].PublishedPort))
	}
	if p := t.RestartPolicy; p != nil {
		r := fmt.Sprintf("restart %s delay %s", p.Condition, *p.Delay)
		if p.MaxAttempts != nil {
			r += fmt.Sprintf(" max %d", *p.MaxAttempts)
		}
		if p.Window != nil {
			r += fmt.Sprintf(" window %s", *p.Window)
		}
		parts = append(parts, r)
	}
	if rolled(sv) {
		parts = append(parts, "update "+describeUpdateConfig(sv.Spec.UpdateConfig), "rollback "+describeUpdateConfig(sv.Spec.RollbackConfig))
	}
	for _, k := range slices.Sorted(maps.Keys(sv.Spec.Labels)) {
		parts = append(parts, strings.TrimPrefix(k, "com.swarmops.update.")+"="+sv.Spec.Labels[k])
	}
	if st := sv.UpdateStatus; st != nil {
		parts = append(parts, fmt.Sprintf("[%s %q since +%s]", st.State, st.Message, startedAt(sv).Sub(epoch)))
	}
	return strings.Join(parts, " ")
}

func describeUpdateConfig(c *swarm.UpdateConfig) string {
	if c == nil {
		return "{defaults}"
	}
	return fmt.Sprintf("{p=%d delay=%s monitor=%s %s ratio=%.1f %s}", c.Parallelism, c.Delay, c.Monitor, c.FailureAction, c.MaxFailureRatio, c.Order)
}
