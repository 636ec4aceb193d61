package scheduler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// request is what a group of identical tasks asks of a node, worked out once
// per group rather than once per task and node.
type request struct {
	serviceID   string
	cpu, mem    int64
	generic     []swarm.GenericResource
	constraints []Constraint
	platforms   []swarm.Platform
	ports       []hostPort
	maxReplicas uint64
	spreadOver  []string // preference descriptors SwarmKit understands
}

func newRequest(t *swarm.Task, svc *swarm.Service) (*request, error) {
	r := reservations(t)
	req := &request{
		serviceID: t.ServiceID,
		cpu:       r.NanoCPUs,
		mem:       r.MemoryBytes,
		generic:   r.GenericResources,
		ports:     hostPorts(svc),
	}
	if p := t.Spec.Placement; p != nil {
		cs, err := ParseConstraints(p.Constraints)
		if err != nil {
			return nil, err
		}
		req.constraints = cs
		req.platforms = p.Platforms
		req.maxReplicas = p.MaxReplicas
		for _, pref := range p.Preferences {
			// Like SwarmKit, a descriptor other than a label spreads over
			// nothing rather than failing the task.
			if pref.Spread == nil {
				continue
			}
			d := pref.Spread.SpreadDescriptor
			if _, ok := labelKey(d, nodeLabelPrefix); ok {
				req.spreadOver = append(req.spreadOver, d)
			} else if _, ok := labelKey(d, engineLabelPrefix); ok {
				req.spreadOver = append(req.spreadOver, d)
			}
		}
	}
	return req, nil
}

// filter is one reason a node can refuse a task. The order of the
// constants is the order filters run in, the first failure being the one
// counted, as in SwarmKit's pipeline.
type filter int

const (
	filterReady filter = iota
	filterResources
	filterConstraints
	filterPlatform
	filterHostPort
	filterMaxReplicas
	numFilters
	pass filter = -1
)

// explain words a filter's failures as SwarmKit's filters do, so operators
// see in `docker service ps` what they would see under Docker Swarm.
func (f filter) explain(nodes int) string {
	plural := func(what string) string {
		if nodes == 1 {
			return fmt.Sprintf(what, "1 node")
		}
		return fmt.Sprintf(what, fmt.Sprintf("%d nodes", nodes))
	}
	switch f {
	case filterReady:
		if nodes == 1 {
			return "1 node not available for new tasks"
		}
		return fmt.Sprintf("%d nodes not available for new tasks", nodes)
	case filterResources:
		return plural("insufficient resources on %s")
	case filterConstraints:
		return plural("scheduling constraints not satisfied on %s")
	case filterPlatform:
		return plural("unsupported platform on %s")
	case filterHostPort:
		return plural("host-mode port already in use on %s")
	case filterMaxReplicas:
		return "max replicas per node limit exceed"
	}
	panic(fmt.Sprintf("scheduler: no explanation for filter %d", f))
}

// check runs every filter and returns the first that fails, or pass.
func (req *request) check(ni *nodeInfo) filter {
	return firstFailure(req.checkStatic(ni.node), req.checkDynamic(ni))
}

// checkStatic runs the filters whose answer no placement can change.
func (req *request) checkStatic(n *swarm.Node) filter {
	if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
		return filterReady
	}
	if !matchesAll(req.constraints, n) {
		return filterConstraints
	}
	if !req.platformOK(n) {
		return filterPlatform
	}
	return pass
}

// checkDynamic runs the filters a placement can change. Placements only
// ever take from a node, so a node that fails one stays failed for the
// rest of the group.
func (req *request) checkDynamic(ni *nodeInfo) filter {
	if req.cpu > ni.cpu || req.mem > ni.mem || !ni.hasGeneric(req.generic) {
		return filterResources
	}
	for _, p := range req.ports {
		if _, used := ni.ports[p]; used {
			return filterHostPort
		}
	}
	if req.maxReplicas > 0 && uint64(ni.byService[req.serviceID]) >= req.maxReplicas {
		return filterMaxReplicas
	}
	return pass
}

// firstFailure orders the static and dynamic filters as the pipeline does:
// resources come before constraints there, so a node failing both counts
// as short of resources.
func firstFailure(static, dynamic filter) filter {
	switch {
	case static == pass:
		return dynamic
	case dynamic == pass:
		return static
	}
	return min(static, dynamic)
}

func (req *request) platformOK(n *swarm.Node) bool {
	if len(req.platforms) == 0 {
		return true
	}
	os, arch := n.Description.Platform.OS, normalArch(n.Description.Platform.Architecture)
	for _, p := range req.platforms {
		if (p.Architecture == "" || normalArch(p.Architecture) == arch) && (p.OS == "" || p.OS == os) {
			return true
		}
	}
	return false
}

// normalArch folds the kernel's names for an architecture into Go's, as
// images and engines report either.
func normalArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// explanation is the reason a task fits no node: each failing filter with
// its node count, most nodes first (ties in pipeline order).
func explanation(failures [numFilters]int) string {
	order := make([]filter, 0, numFilters)
	for f := range numFilters {
		if failures[f] > 0 {
			order = append(order, f)
		}
	}
	slices.SortStableFunc(order, func(a, b filter) int { return failures[b] - failures[a] })
	parts := make([]string, len(order))
	for i, f := range order {
		parts[i] = f.explain(failures[f])
	}
	if len(parts) == 0 {
		return "no suitable node"
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}
