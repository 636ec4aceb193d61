package apiserver

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// Swarm's range for published ports it chooses itself.
const (
	dynamicPortStart = 30000
	dynamicPortEnd   = 32767
)

type portKey struct {
	proto swarm.PortConfigProtocol
	port  uint32
}

// checkPortConflicts refuses published ports another service holds, as
// SwarmKit does: an ingress port conflicts with any use of the port, a
// host-mode port only with an ingress one (several services may publish
// the same host port; the scheduler keeps them apart).
func checkPortConflicts(services []*swarm.Service, spec *swarm.ServiceSpec, selfID string) error {
	if spec.EndpointSpec == nil {
		return nil
	}
	ingress, host := map[portKey]bool{}, map[portKey]bool{}
	for _, p := range spec.EndpointSpec.Ports {
		if p.PublishedPort == 0 {
			continue
		}
		k := portKey{p.Protocol, p.PublishedPort}
		if p.PublishMode == swarm.PortConfigPublishModeHost {
			host[k] = true
		} else {
			ingress[k] = true
		}
	}
	if len(ingress) == 0 && len(host) == 0 {
		return nil
	}
	inUse := func(p swarm.PortConfig, other *swarm.Service) error {
		if p.PublishedPort == 0 {
			return nil
		}
		k := portKey{p.Protocol, p.PublishedPort}
		if p.PublishMode == swarm.PortConfigPublishModeHost {
			if ingress[k] {
				return invalidArgument("port '%d' is already in use by service '%s' (%s) as a host-published port", p.PublishedPort, other.Spec.Name, other.ID)
			}
			return nil
		}
		if ingress[k] || host[k] {
			return invalidArgument("port '%d' is already in use by service '%s' (%s) as an ingress port", p.PublishedPort, other.Spec.Name, other.ID)
		}
		return nil
	}
	for _, other := range services {
		if other.ID == selfID {
			continue
		}
		var ports []swarm.PortConfig
		if other.Spec.EndpointSpec != nil {
			ports = append(ports, other.Spec.EndpointSpec.Ports...)
		}
		ports = append(ports, other.Endpoint.Ports...)
		for _, p := range ports {
			if err := inUse(p, other); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildEndpoint is the service's Endpoint as Swarm's allocator leaves it:
// the spec, and the ports with a published port chosen for every ingress
// port that asked for none (kept from prev when the same target port was
// already published, else the lowest free one from 30000). Virtual IPs
// wait for the network allocator.
func buildEndpoint(services []*swarm.Service, spec *swarm.EndpointSpec, selfID string, prev swarm.Endpoint) (swarm.Endpoint, error) {
	var ep swarm.Endpoint
	if spec == nil {
		return ep, nil
	}
	ep.Spec = *spec
	ep.Spec.Ports = append([]swarm.PortConfig(nil), spec.Ports...)
	if len(spec.Ports) == 0 {
		return ep, nil
	}
	used := map[portKey]bool{}
	for _, other := range services {
		if other.ID == selfID {
			continue
		}
		for _, p := range other.Endpoint.Ports {
			if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
				used[portKey{p.Protocol, p.PublishedPort}] = true
			}
		}
	}
	for _, p := range spec.Ports {
		if p.PublishedPort != 0 {
			used[portKey{p.Protocol, p.PublishedPort}] = true
		}
	}
	previous := map[portKey]uint32{}
	for _, p := range prev.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
			previous[portKey{p.Protocol, p.TargetPort}] = p.PublishedPort
		}
	}
	// Ports are handed out in increasing order per protocol, so the
	// search resumes where the last one stopped: a spec with thousands of
	// ports costs one pass over the range, not one per port.
	next := map[swarm.PortConfigProtocol]uint32{}
	for _, p := range spec.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort == 0 {
			if was, ok := previous[portKey{p.Protocol, p.TargetPort}]; ok && !used[portKey{p.Protocol, was}] {
				p.PublishedPort = was
			} else {
				port, ok := freePort(used, p.Protocol, next)
				if !ok {
					return ep, errorf(http.StatusServiceUnavailable, "no free port left in %d-%d to publish %d/%s", dynamicPortStart, dynamicPortEnd, p.TargetPort, p.Protocol)
				}
				p.PublishedPort = port
			}
			used[portKey{p.Protocol, p.PublishedPort}] = true
		}
		ep.Ports = append(ep.Ports, p)
	}
	return ep, nil
}

// freePort returns the lowest port of the dynamic range at or above
// next[proto] that is not used, and moves next past it.
func freePort(used map[portKey]bool, proto swarm.PortConfigProtocol, next map[swarm.PortConfigProtocol]uint32) (uint32, bool) {
	port := max(next[proto], dynamicPortStart)
	for ; port <= dynamicPortEnd; port++ {
		if !used[portKey{proto, port}] {
			next[proto] = port + 1
			return port, true
		}
	}
	next[proto] = port
	return 0, false
}

// resolveServiceRefs checks a spec's references against the store, as the
// daemon and SwarmKit do on create and update: networks are named by ID
// (a name or prefix is resolved), the ingress network cannot be attached
// explicitly, and every secret and config must exist under the ID and
// name the reference gives.
func resolveServiceRefs(tx store.ReadTx, spec *swarm.ServiceSpec) error {
	for i, n := range spec.TaskTemplate.Networks {
		id, err := tx.Resolve(store.TableNetworks, n.Target)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound("network %s not found", n.Target)
			}
			if errors.Is(err, store.ErrAmbiguous) {
				return badRequest("network %s is ambiguous (%d matches found)", n.Target, ambiguity(err))
			}
			return err
		}
		nw, err := tx.Network(id)
		if err != nil {
			return err
		}
		if nw.Ingress {
			return invalidArgument("Service cannot be explicitly attached to the ingress network %q", nw.Name)
		}
		spec.TaskTemplate.Networks[i].Target = id
	}
	c := spec.TaskTemplate.ContainerSpec
	var missing []string
	for _, ref := range c.Secrets {
		if sec, err := tx.Secret(ref.SecretID); err != nil || sec.Spec.Name != ref.SecretName {
			missing = append(missing, ref.SecretName)
		}
	}
	if len(missing) > 0 {
		return invalidArgument("%s not found: %s", plural(len(missing), "secret", "secrets"), strings.Join(missing, ", "))
	}
	for _, ref := range c.Configs {
		if cfg, err := tx.Config(ref.ConfigID); err != nil || cfg.Spec.Name != ref.ConfigName {
			missing = append(missing, ref.ConfigName)
		}
	}
	if len(missing) > 0 {
		return invalidArgument("%s not found: %s", plural(len(missing), "config", "configs"), strings.Join(missing, ", "))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// serviceStatus counts a service's tasks as Swarm's service list does
// for `docker service ls`: running tasks; desired tasks from the replica
// count, or for global services from the tasks meant to run; completed
// tasks of the current job iteration.
func serviceStatus(svc *swarm.Service, tasks []*swarm.Task) *swarm.ServiceStatus {
	st := &swarm.ServiceStatus{}
	global := false
	m := svc.Spec.Mode
	switch {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		st.DesiredTasks = *m.Replicated.Replicas
	case m.ReplicatedJob != nil && m.ReplicatedJob.MaxConcurrent != nil:
		st.DesiredTasks = *m.ReplicatedJob.MaxConcurrent
	default:
		global = true
	}
	var iteration *swarm.Version
	if svc.JobStatus != nil {
		iteration = &svc.JobStatus.JobIteration
	}
	for _, t := range tasks {
		if iteration != nil {
			if t.JobIteration == nil || t.JobIteration.Index != iteration.Index {
				continue
			}
			if t.Status.State == swarm.TaskStateComplete {
				st.CompletedTasks++
			}
		}
		if t.Status.State == swarm.TaskStateRunning {
			st.RunningTasks++
		}
		if global && t.DesiredState == swarm.TaskStateRunning {
			st.DesiredTasks++
		}
		if global && t.Status.State != swarm.TaskStateComplete && t.DesiredState == swarm.TaskStateComplete {
			st.DesiredTasks++
		}
	}
	return st
}

// sortedNames returns names sorted, for messages listing services.
func sortedNames(svcs []*swarm.Service) []string {
	names := make([]string, 0, len(svcs))
	for _, s := range svcs {
		names = append(names, s.Spec.Name)
	}
	sort.Strings(names)
	return names
}
