package sim

import (
	"fmt"
	"maps"
	"slices"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// fault picks one seeded fault and makes it happen. Faults that find
// nothing to act on (no running container, every agent away) do nothing.
func (s *Sim) fault() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	if s.git != nil {
		// Hand changes to the stacks' services are the GitOps faults'.
		st.services = slices.DeleteFunc(st.services, func(sv *swarm.Service) bool { return sv.Spec.Labels[api.LabelNamespace] != "" })
	}
	switch k := s.rng.IntN(22); k {
	case 0, 1, 2:
		return s.crashContainer()
	case 3, 4:
		a := s.pickPresent()
		if a == nil {
			return nil
		}
		a.back = s.step + 1 + s.rng.IntN(30)
		if k == 3 {
			a.alive = false
			s.logf("fault: agent on %s crashes (its containers keep running) until step %d", a.nodeID, a.back)
		} else {
			a.reachable = false
			a.rebooted = s.rng.IntN(2) == 0
			s.logf("fault: %s cut off (reboot=%v) until step %d", a.nodeID, a.rebooted, a.back)
		}
		return nil
	case 5:
		n := st.nodes[s.rng.IntN(len(st.nodes))]
		avail := []swarm.NodeAvailability{swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain}[s.rng.IntN(3)]
		if avail == n.Spec.Availability {
			return nil
		}
		s.logf("fault: docker node update --availability %s %s", avail, n.ID)
		return s.updateNode(n, func(c *swarm.Node) { c.Spec.Availability = avail })
	case 6:
		n := st.nodes[s.rng.IntN(len(st.nodes))]
		zone := []string{"", "a", "b", "c"}[s.rng.IntN(4)]
		if zone == "" {
			s.logf("fault: docker node update --label-rm zone %s", n.ID)
		} else {
			s.logf("fault: docker node update --label-add zone=%s %s", zone, n.ID)
		}
		return s.updateNode(n, func(c *swarm.Node) {
			c.Spec.Labels = maps.Clone(c.Spec.Labels)
			if c.Spec.Labels == nil {
				c.Spec.Labels = map[string]string{}
			}
			if zone == "" {
				delete(c.Spec.Labels, "zone")
			} else {
				c.Spec.Labels["zone"] = zone
			}
		})
	case 7:
		n := st.nodes[s.rng.IntN(len(st.nodes))]
		role := swarm.NodeRoleManager
		if n.Spec.Role == swarm.NodeRoleManager {
			role = swarm.NodeRoleWorker
		}
		s.logf("fault: docker node update --role %s %s", role, n.ID)
		return s.updateNode(n, func(c *swarm.Node) { c.Spec.Role = role })
	case 8:
		a := s.pickPresent()
		if a == nil {
			return nil
		}
		mem := []int64{3 << 30, 8 << 30}[s.rng.IntN(2)]
		if mem == a.desc.Resources.MemoryBytes {
			return nil
		}
		s.logf("fault: %s restarts its agent with %dG of memory", a.nodeID, mem>>30)
		a.desc.Resources.MemoryBytes = mem
		a.session, a.restarted = "", true
		return nil
	case 9:
		s.logf("fault: leader change")
		return s.elect()
	case 10, 11:
		return s.scale(st)
	case 12:
		if len(st.services) >= 6 {
			return nil
		}
		sv := s.newService()
		s.logf("fault: docker service create %s %s", sv.Spec.Name, describeService(sv))
		return s.apply("create service", []store.Mutation{store.Create(sv)})
	case 13:
		if len(st.services) == 0 {
			return nil
		}
		sv := st.services[s.rng.IntN(len(st.services))]
		s.logf("fault: docker service rm %s", sv.Spec.Name)
		return s.apply("remove service", []store.Mutation{store.Delete(store.TableServices, sv.ID, 0)})
	case 14:
		return s.updateService(st, "docker service update --constraint", func(c *swarm.Service) bool {
			p := *c.Spec.TaskTemplate.Placement
			p.Constraints = [][]string{nil, {"node.labels.zone==a"}, {"node.labels.zone!=c"}, {"node.role==worker"}}[s.rng.IntN(4)]
			c.Spec.TaskTemplate.Placement = &p
			return true
		})
	case 15:
		// --force changes the task spec: a job runs again (as every update
		// of a job does), a service rolls every task.
		return s.updateService(st, "docker service update --force", func(c *swarm.Service) bool {
			c.Spec.TaskTemplate.ForceUpdate++
			return true
		})
	case 16, 17, 18:
		return s.releaseFault(st)
	case 19:
		return s.rollbackFault(st)
	case 20:
		return s.healthFlap()
	default:
		return s.crashContainer()
	}
}

// crashContainer makes a running container of a present agent exit; the
// agent reports it.
func (s *Sim) crashContainer() error {
	type victim struct {
		a  *agent
		id string
	}
	var running []victim
	for _, a := range s.agents {
		if !a.present() {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(a.containers)) {
			if a.containers[id].State == swarm.TaskStateRunning {
				running = append(running, victim{a, id})
			}
		}
	}
	if len(running) == 0 {
		return nil
	}
	v := running[s.rng.IntN(len(running))]
	s.logf("fault: the container of task %s on %s exits 137", v.id, v.a.nodeID)
	v.a.containers[v.id] = swarm.TaskStatus{Timestamp: s.now, State: swarm.TaskStateFailed, Message: "started", Err: "task: non-zero exit (137)"}
	return nil
}

func (s *Sim) scale(st state) error {
	var repl []*swarm.Service
	for _, sv := range st.services {
		if sv.Spec.Mode.Replicated != nil {
			repl = append(repl, sv)
		}
	}
	if len(repl) == 0 {
		return nil
	}
	sv := repl[s.rng.IntN(len(repl))]
	n := uint64(s.rng.IntN(6))
	return s.updateService(state{services: []*swarm.Service{sv}}, fmt.Sprintf("docker service scale %s=%d", sv.Spec.Name, n), func(c *swarm.Service) bool {
		c.Spec.Mode.Replicated.Replicas = &n
		return true
	})
}

// updateService applies change to the spec of a copy of a random service
// of st, as the API does for an operator's command: the spec it replaces
// becomes the previous spec, the update status is cleared, and a job
// starts a new run. change returns false when it does not apply to that
// service.
func (s *Sim) updateService(st state, what string, change func(*swarm.Service) bool) error {
	if len(st.services) == 0 {
		return nil
	}
	sv := st.services[s.rng.IntN(len(st.services))]
	c, err := store.Clone(sv)
	if err != nil {
		return fmt.Errorf("clone service: %w", err)
	}
	if !change(c) {
		return nil
	}
	prev, err := store.Clone(sv)
	if err != nil {
		return fmt.Errorf("clone service: %w", err)
	}
	c.PreviousSpec, c.UpdateStatus, c.ServiceStatus = &prev.Spec, nil, nil
	if c.JobStatus != nil {
		js := *c.JobStatus
		js.JobIteration.Index++
		js.LastExecution = s.now
		c.JobStatus = &js
	}
	s.roll.restore[sv.ID] = specJSON(sv.Spec)
	s.logf("fault: %s %s: %s", what, sv.Spec.Name, describeService(c))
	return s.apply("update service", []store.Mutation{store.Update(c, sv.Meta.Version.Index)})
}

func (s *Sim) updateNode(n *swarm.Node, change func(*swarm.Node)) error {
	c := *n
	change(&c)
	return s.apply("update node", []store.Mutation{store.Update(&c, n.Meta.Version.Index)})
}

func (s *Sim) pickPresent() *agent {
	var present []*agent
	for _, a := range s.agents {
		if a.back == 0 {
			present = append(present, a)
		}
	}
	if len(present) == 0 {
		return nil
	}
	return present[s.rng.IntN(len(present))]
}

// heal ends the fault phase: every agent returns at the next step and every
// node is made active again. Labels, roles and memory stay as the faults
// left them: a service no node admits any more stays pending, which the
// convergence check verifies.
func (s *Sim) heal() error {
	s.faults = false
	s.logf("faults stop; healing")
	for _, a := range s.agents {
		if a.back != 0 {
			a.back = s.step + 1
		}
	}
	st, err := s.read()
	if err != nil {
		return err
	}
	var muts []store.Mutation
	for _, n := range st.nodes {
		if n.Spec.Availability != swarm.NodeAvailabilityActive {
			c := *n
			c.Spec.Availability = swarm.NodeAvailabilityActive
			muts = append(muts, store.Update(&c, n.Meta.Version.Index))
		}
	}
	return s.apply("heal", muts)
}
