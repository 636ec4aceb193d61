// Package allocator hands out what services share across the cluster:
// published ports. CheckPorts refuses a spec whose published ports another
// service holds, as SwarmKit does; Endpoint is a service's Endpoint as
// Swarm's allocator leaves it, with a port from 30000-32767 for every
// ingress port that asked for none. The API server calls both on create
// and update, the control loop when a rollback puts an older spec back.
// Virtual IPs and network subnets are not allocated yet.
package allocator

import (
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
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

// ErrNoFreePort: the dynamic range has no port left for the protocol.
var ErrNoFreePort = errors.New("no free port")

// PortConflictError is a published port another service holds.
type PortConflictError struct {
	Port               uint32
	Service, ServiceID string
	// Host: the other service publishes it in host mode.
	Host bool
}

func (e *PortConflictError) Error() string {
	as := "an ingress port"
	if e.Host {
		as = "a host-published port"
	}
	return fmt.Sprintf("port '%d' is already in use by service '%s' (%s) as %s", e.Port, e.Service, e.ServiceID, as)
}

// CheckPorts refuses published ports another service holds, as
// SwarmKit does: an ingress port conflicts with any use of the port, a
// host-mode port only with an ingress one (several services may publish
// the same host port; the scheduler keeps them apart).
func CheckPorts(services []*swarm.Service, spec *swarm.ServiceSpec, selfID string) error {
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
				return &PortConflictError{Port: p.PublishedPort, Service: other.Spec.Name, ServiceID: other.ID, Host: true}
			}
			return nil
		}
		if ingress[k] || host[k] {
			return &PortConflictError{Port: p.PublishedPort, Service: other.Spec.Name, ServiceID: other.ID}
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

// Endpoint is the service's Endpoint as Swarm's allocator leaves it:
// the spec, and the ports with a published port chosen for every ingress
// port that asked for none (kept from prev when the same target port was
// already published, else the lowest free one from 30000). Virtual IPs
// wait for the network allocator.
func Endpoint(services []*swarm.Service, spec *swarm.EndpointSpec, selfID string, prev swarm.Endpoint) (swarm.Endpoint, error) {
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
					return ep, fmt.Errorf("%w: no free port left in %d-%d to publish %d/%s", ErrNoFreePort, dynamicPortStart, dynamicPortEnd, p.TargetPort, p.Protocol)
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
