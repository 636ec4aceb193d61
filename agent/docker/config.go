package docker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/swarmops/swarmops/agent/runtime"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

// Labels Swarm puts on every task container, and the one swarmops adds so
// that an agent never mistakes a container of a real Swarm on the same
// engine for its own.
const (
	LabelTask        = "com.docker.swarm.task"
	LabelTaskID      = "com.docker.swarm.task.id"
	LabelTaskName    = "com.docker.swarm.task.name"
	LabelServiceID   = "com.docker.swarm.service.id"
	LabelServiceName = "com.docker.swarm.service.name"
	LabelNodeID      = "com.docker.swarm.node.id"
	LabelOwner       = "com.swarmops.runtime"
)

// ownerValue is the value of LabelOwner on containers this runtime creates.
const ownerValue = "docker"

// errNoContainerSpec is returned for tasks whose runtime is not a container.
var errNoContainerSpec = errors.New("task has no container spec")

// TaskName is the container name Swarm gives a task (agent/runtime).
func TaskName(t swarm.Task, svcName string) string { return runtime.TaskName(t, svcName) }

// containerConfig builds what ContainerCreate needs from a task. Label
// precedence follows Swarm: the container spec's labels, then the task's
// own annotations, then the system labels, which nobody can override.
func containerConfig(t swarm.Task, svcName, nodeID string) (*container.Config, *container.HostConfig, error) {
	cs := t.Spec.ContainerSpec
	if cs == nil {
		return nil, nil, fmt.Errorf("task %s: %w", t.ID, errNoContainerSpec)
	}
	labels := map[string]string{}
	for k, v := range cs.Labels {
		labels[k] = v
	}
	for k, v := range t.Annotations.Labels {
		labels[k] = v
	}
	for k, v := range map[string]string{
		LabelTask:        "",
		LabelTaskID:      t.ID,
		LabelTaskName:    TaskName(t, svcName),
		LabelServiceID:   t.ServiceID,
		LabelServiceName: svcName,
		LabelNodeID:      nodeID,
		LabelOwner:       ownerValue,
	} {
		labels[k] = v
	}

	cfg := &container.Config{
		Image:       cs.Image,
		Labels:      labels,
		Env:         cs.Env,
		User:        cs.User,
		WorkingDir:  cs.Dir,
		Hostname:    cs.Hostname,
		StopSignal:  cs.StopSignal,
		Tty:         cs.TTY,
		OpenStdin:   cs.OpenStdin,
		Healthcheck: cs.Healthcheck,
	}
	// Swarm's Command replaces the image's entrypoint and Args its CMD;
	// without a Command the image's entrypoint stays.
	if len(cs.Command) > 0 {
		cfg.Entrypoint = cs.Command
	}
	cfg.Cmd = cs.Args
	if cs.StopGracePeriod != nil {
		// Recorded on the container too so that a plain `docker stop`, or
		// Stop without a grace, honours the service's grace period.
		secs := int(cs.StopGracePeriod.Seconds())
		cfg.StopTimeout = &secs
	}

	hc := &container.HostConfig{
		Mounts:         cs.Mounts,
		ReadonlyRootfs: cs.ReadOnly,
		Init:           cs.Init,
		Sysctls:        cs.Sysctls,
		CapAdd:         cs.CapabilityAdd,
		CapDrop:        cs.CapabilityDrop,
		GroupAdd:       cs.Groups,
		Isolation:      cs.Isolation,
		OomScoreAdj:    int(cs.OomScoreAdj),
		ExtraHosts:     extraHosts(cs.Hosts),
	}
	hc.Ulimits = cs.Ulimits
	if d := cs.DNSConfig; d != nil {
		hc.DNS, hc.DNSSearch, hc.DNSOptions = d.Nameservers, d.Search, d.Options
	}
	if r := t.Spec.Resources; r != nil {
		if l := r.Limits; l != nil {
			hc.NanoCPUs = l.NanoCPUs
			hc.Memory = l.MemoryBytes
			if l.Pids != 0 {
				pids := l.Pids
				hc.PidsLimit = &pids
			}
		}
		if rv := r.Reservations; rv != nil {
			hc.MemoryReservation = rv.MemoryBytes
		}
	}
	return cfg, hc, nil
}

// extraHosts turns the hosts(5) lines of a service ("IP name alias...")
// into the engine's "name:IP" entries, one per name.
func extraHosts(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		for _, name := range f[min(1, len(f)):] {
			out = append(out, name+":"+f[0])
		}
	}
	return out
}
