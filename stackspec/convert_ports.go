package stackspec

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"
)

// endpoint is the service's endpoint: its resolution mode and its ports,
// one per published port (a published range becomes one port each).
func (c *converter) endpoint(base, mode string, ports []types.ServicePortConfig) *swarm.EndpointSpec {
	out := []swarm.PortConfig{}
	for i, p := range ports {
		first, last, err := publishedRange(p.Published)
		if err != nil {
			c.failf(indexPath(base+".ports", i), "published port %q: %v", p.Published, err)
			continue
		}
		for port := first; port <= last; port++ {
			out = append(out, swarm.PortConfig{
				Protocol:      swarm.PortConfigProtocol(p.Protocol),
				TargetPort:    p.Target,
				PublishedPort: port,
				PublishMode:   swarm.PortConfigPublishMode(p.Mode),
			})
		}
	}
	// sort.Slice, not a stable sort: Docker sorts with it, and for more than
	// twelve ports the order of equal published ports (0, or one port for
	// tcp and udp) is that algorithm's.
	sort.Slice(out, func(i, j int) bool { return out[i].PublishedPort < out[j].PublishedPort })
	return &swarm.EndpointSpec{Mode: swarm.ResolutionMode(strings.ToLower(mode)), Ports: out}
}

// publishedRange reads a published port: empty (none, 0), one port, or a
// range "8000-8009".
func publishedRange(published string) (first, last uint32, err error) {
	if published == "" {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(published, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("not a port number: use a number from 1 to 65535, or a range such as 8000-8009")
	}
	b := a
	if isRange {
		b, err = strconv.ParseUint(hi, 10, 16)
		if err != nil || b < a {
			return 0, 0, fmt.Errorf("not a port range: write it low-high, such as 8000-8009")
		}
	}
	return uint32(a), uint32(b), nil
}

// portWarnings are Docker's notes on ports bound to a host IP: swarm
// publishes on every address, so the IP is dropped.
func portWarnings(p *types.Project) []string {
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, port := range p.Services[name].Ports {
			ip := net.ParseIP(port.HostIP)
			if ip == nil || ip.IsUnspecified() {
				continue
			}
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			warnings = append(warnings, fmt.Sprintf("ignoring IP-address (%s:%d/%s) service will listen on '0.0.0.0'",
				net.JoinHostPort(port.HostIP, port.Published), port.Target, proto))
		}
	}
	return warnings
}

// warnMergedPorts notes where Docker would lose ports: its merge of a
// service several files define keeps one port per published number (all
// unpublished ports count as number 0). swarmops keeps every port written.
func (c *converter) warnMergedPorts(service string, ports []swarm.PortConfig) {
	count := map[uint32]int{}
	for _, p := range ports {
		count[p.PublishedPort]++
	}
	for _, port := range slices.Sorted(maps.Keys(count)) {
		if count[port] < 2 {
			continue
		}
		what := fmt.Sprintf("published on %d", port)
		if port == 0 {
			what = "not published"
		}
		c.warnings = append(c.warnings, fmt.Sprintf("service %s: docker stack deploy keeps only one of the %d ports %s, as several files define the service; swarmops keeps them all", service, count[port], what))
	}
}
