package docker

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/swarmops/swarmops/agent/runtime"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/go-connections/nat"
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

// containerConfig builds what ContainerCreate needs from a task, as
// Swarm's executor does, on node n. Label precedence follows Swarm: the
// container spec's labels, then the task's own annotations, then the
// system labels, which nobody can override. Secrets and configs are added
// by Prepare, which writes their files.
func containerConfig(ts runtime.Spec, n runtime.Node) (*container.Config, *container.HostConfig, error) {
	t, svcName := ts.Task, ts.Service
	if t.Spec.ContainerSpec == nil {
		return nil, nil, fmt.Errorf("task %s: %w", t.ID, errNoContainerSpec)
	}
	cs, err := ts.ContainerSpec(n)
	if err != nil {
		return nil, nil, err
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
		LabelNodeID:      n.ID,
		LabelOwner:       ownerValue,
	} {
		labels[k] = v
	}

	exposed, bindings, err := hostPorts(ts.Endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("task %s: %w", t.ID, err)
	}
	cfg := &container.Config{
		Image:        cs.Image,
		Labels:       labels,
		Env:          append(slices.Clone(cs.Env), genericResourceEnv(t.GenericResources)...),
		User:         cs.User,
		WorkingDir:   cs.Dir,
		Hostname:     cs.Hostname,
		StopSignal:   cs.StopSignal,
		Tty:          cs.TTY,
		OpenStdin:    cs.OpenStdin,
		Healthcheck:  cs.Healthcheck,
		ExposedPorts: exposed,
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
		PortBindings:   bindings,
		ReadonlyRootfs: cs.ReadOnly,
		Init:           cs.Init,
		Sysctls:        cs.Sysctls,
		CapAdd:         cs.CapabilityAdd,
		CapDrop:        cs.CapabilityDrop,
		GroupAdd:       cs.Groups,
		Isolation:      cs.Isolation,
		OomScoreAdj:    int(cs.OomScoreAdj),
		ExtraHosts:     extraHosts(cs.Hosts),
		SecurityOpt:    securityOpts(cs.Privileges),
	}
	hc.Ulimits = cs.Ulimits
	if d := cs.DNSConfig; d != nil {
		hc.DNS, hc.DNSSearch, hc.DNSOptions = d.Nameservers, d.Search, d.Options
	}
	if ld := t.Spec.LogDriver; ld != nil {
		hc.LogConfig = container.LogConfig{Type: ld.Name, Config: ld.Options}
	}
	// Limits only, as Swarm: reservations are the scheduler's business and
	// never reach the engine.
	if r := t.Spec.Resources; r != nil && r.Limits != nil {
		l := r.Limits
		hc.NanoCPUs = l.NanoCPUs
		hc.Memory = l.MemoryBytes
		if l.Pids > 0 {
			pids := l.Pids
			hc.PidsLimit = &pids
		}
	}
	return cfg, hc, nil
}

// hostPorts returns the ports to expose and bind on this host: those the
// service publishes in host mode, each on the published port or, for 0, on
// one the engine picks. Ingress-mode ports (the default mode) are not
// bound here: the routing mesh listens for them on every node and
// forwards to the task, so binding them too would take the mesh's port.
func hostPorts(ep *swarm.EndpointSpec) (nat.PortSet, nat.PortMap, error) {
	if ep == nil {
		return nil, nil, nil
	}
	exposed, bindings := nat.PortSet{}, nat.PortMap{}
	for _, p := range ep.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost {
			continue
		}
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(swarm.PortConfigProtocolTCP)
		}
		port, err := nat.NewPort(proto, strconv.FormatUint(uint64(p.TargetPort), 10))
		if err != nil || p.TargetPort == 0 || p.TargetPort > 65535 || p.PublishedPort > 65535 ||
			(proto != "tcp" && proto != "udp" && proto != "sctp") {
			return nil, nil, fmt.Errorf("published port %d:%d/%s: not a valid port (target 1-65535, protocol tcp, udp or sctp)",
				p.PublishedPort, p.TargetPort, proto)
		}
		b := nat.PortBinding{}
		if p.PublishedPort != 0 {
			b.HostPort = strconv.FormatUint(uint64(p.PublishedPort), 10)
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], b)
	}
	if len(exposed) == 0 {
		return nil, nil, nil
	}
	return exposed, bindings, nil
}

// securityOpts turns a service's privileges into the engine's security
// options, as Swarm does. A credential spec is for Windows only, which
// this runtime does not run, so it is left out.
func securityOpts(p *swarm.Privileges) []string {
	if p == nil {
		return nil
	}
	var out []string
	if se := p.SELinuxContext; se != nil {
		if se.Disable {
			out = append(out, "label=disable")
		}
		for _, o := range []struct{ key, val string }{
			{"user", se.User}, {"role", se.Role}, {"type", se.Type}, {"level", se.Level},
		} {
			if o.val != "" {
				out = append(out, "label="+o.key+":"+o.val)
			}
		}
	}
	if sc := p.Seccomp; sc != nil {
		switch sc.Mode {
		case swarm.SeccompModeUnconfined:
			out = append(out, "seccomp=unconfined")
		case swarm.SeccompModeCustom:
			out = append(out, "seccomp="+string(sc.Profile))
		}
	}
	if aa := p.AppArmor; aa != nil && aa.Mode == swarm.AppArmorModeDisabled {
		out = append(out, "apparmor=unconfined")
	}
	if p.NoNewPrivileges {
		out = append(out, "no-new-privileges=true")
	}
	return out
}

// genericResourceEnv tells a task which generic resources (GPUs, ...) the
// scheduler gave it, as Swarm does: DOCKER_RESOURCE_<KIND>=v1,v2.
func genericResourceEnv(res []swarm.GenericResource) []string {
	byKind := map[string][]string{}
	for _, r := range res {
		switch {
		case r.NamedResourceSpec != nil:
			k := r.NamedResourceSpec.Kind
			byKind[k] = append(byKind[k], r.NamedResourceSpec.Value)
		case r.DiscreteResourceSpec != nil:
			k := r.DiscreteResourceSpec.Kind
			byKind[k] = append(byKind[k], strconv.FormatInt(r.DiscreteResourceSpec.Value, 10))
		}
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		env = append(env, "DOCKER_RESOURCE_"+strings.ToUpper(k)+"="+strings.Join(byKind[k], ","))
	}
	return env
}

// secretTarget and configTarget are where Swarm puts a secret or config
// file in the container: a relative target under /run/secrets for a
// secret, and under the root for a config (the runtime spec wants
// absolute mount targets).
func secretTarget(name string) string {
	if path.IsAbs(name) {
		return path.Clean(name)
	}
	return path.Join("/run/secrets", name)
}

func configTarget(name string) string {
	if path.IsAbs(name) {
		return path.Clean(name)
	}
	return path.Join("/", name)
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
