package apiserver

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/allocator"
	"github.com/swarmops/swarmops/cluster/store"
)

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

// checkPortConflicts is allocator.CheckPorts with SwarmKit's error, as the
// daemon returns it.
func checkPortConflicts(services []*swarm.Service, spec *swarm.ServiceSpec, selfID string) error {
	err := allocator.CheckPorts(services, spec, selfID)
	var conflict *allocator.PortConflictError
	if errors.As(err, &conflict) {
		return invalidArgument("%s", conflict.Error())
	}
	return err
}

// buildEndpoint is allocator.Endpoint; a full port range is the cluster's
// state, not the client's mistake: 503.
func buildEndpoint(services []*swarm.Service, spec *swarm.EndpointSpec, selfID string, prev swarm.Endpoint) (swarm.Endpoint, error) {
	ep, err := allocator.Endpoint(services, spec, selfID, prev)
	if errors.Is(err, allocator.ErrNoFreePort) {
		return ep, errorf(http.StatusServiceUnavailable, "%s", strings.TrimPrefix(err.Error(), allocator.ErrNoFreePort.Error()+": "))
	}
	return ep, err
}
