package orchestrator

import (
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/scheduler"
)

// nodeFilter says which nodes a global service's placement constraints
// allow, with the scheduler's matcher so both read constraints alike. A
// constraint that does not parse allows no node: a typo keeps a global
// service off every node rather than on all of them (the scheduler reports
// the error for replicated tasks).
func nodeFilter(s *swarm.Service) func(*swarm.Node) bool {
	var exprs []string
	if p := s.Spec.TaskTemplate.Placement; p != nil {
		exprs = p.Constraints
	}
	constraints, err := scheduler.ParseConstraints(exprs)
	if err != nil {
		return func(*swarm.Node) bool { return false }
	}
	return func(n *swarm.Node) bool {
		for _, c := range constraints {
			if !c.Matches(n) {
				return false
			}
		}
		return true
	}
}
