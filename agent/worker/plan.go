package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/executor"
	"github.com/swarmops/swarmops/agent/runtime"
	"github.com/swarmops/swarmops/api"
)

// runnerView is what planTasks needs of a task's executor.
type runnerView struct {
	Desired  swarm.TaskState // the last desired state it was given
	Finished bool            // it returned: the task is removed
}

// taskPlan is what to do about one set of assignments.
type taskPlan struct {
	// Start are the tasks of the set with no executor yet, in set order.
	Start []swarm.Task
	// Desire gives executors a desired state further on than their last.
	Desire map[string]swarm.TaskState
	// Remove are tasks gone from the set whose executors must stop and
	// remove them; Forget are gone ones whose executors are done.
	Remove, Forget []string
}

// planTasks compares the executors with the set of assignments. Desired
// states only move forward, so a set from a manager that lags behind
// cannot revive a task.
func planTasks(have map[string]runnerView, set []swarm.Task) taskPlan {
	p := taskPlan{Desire: map[string]swarm.TaskState{}}
	in := make(map[string]bool, len(set))
	for _, t := range set {
		if in[t.ID] {
			continue
		}
		in[t.ID] = true
		r, ok := have[t.ID]
		switch {
		case !ok:
			p.Start = append(p.Start, t)
		case r.Finished:
		case executor.Rank(t.DesiredState) > executor.Rank(r.Desired):
			p.Desire[t.ID] = t.DesiredState
		}
	}
	for _, id := range slices.Sorted(maps.Keys(have)) {
		switch r := have[id]; {
		case in[id]:
		case r.Finished:
			p.Forget = append(p.Forget, id)
		case r.Desired != swarm.TaskStateRemove:
			p.Remove = append(p.Remove, id)
		}
	}
	return p
}

// orphansOf returns, by runtime, the tasks a runtime holds that the set
// does not name.
func orphansOf(owned map[string][]string, set []swarm.Task) map[string][]string {
	in := make(map[string]bool, len(set))
	for _, t := range set {
		in[t.ID] = true
	}
	out := map[string][]string{}
	for name, ids := range owned {
		for _, id := range ids {
			if !in[id] {
				out[name] = append(out[name], id)
			}
		}
	}
	return out
}

// driverOf names the runtime a task asks for.
func driverOf(t swarm.Task) string {
	if cs := t.Spec.ContainerSpec; cs != nil && cs.Labels[api.LabelDriver] != "" {
		return cs.Labels[api.LabelDriver]
	}
	return DefaultDriver
}

func noRuntime(driver string, have []string) error {
	return fmt.Errorf("runtime %q (container label %s) is not available on this node, which has: %s",
		driver, api.LabelDriver, strings.Join(have, ", "))
}

// assignedData is one set's secrets, configs and services, by ID.
type assignedData struct {
	services         map[string]api.AssignedService
	secrets, configs map[string]api.AssignedData
}

func indexData(asg *api.Assignments) assignedData {
	d := assignedData{
		services: asg.Services,
		secrets:  make(map[string]api.AssignedData, len(asg.Secrets)),
		configs:  make(map[string]api.AssignedData, len(asg.Configs)),
	}
	for _, s := range asg.Secrets {
		d.secrets[s.ID] = s
	}
	for _, c := range asg.Configs {
		d.configs[c.ID] = c
	}
	return d
}

// taskSpec is what the runtime gets for t: its service's name and
// endpoint, and the data of exactly the secrets and configs t references.
// The error names a reference the set lacks; the spec is whole otherwise.
func taskSpec(t swarm.Task, d assignedData) (runtime.Spec, error) {
	s := runtime.Spec{Task: t, Service: t.ServiceID}
	if svc, ok := d.services[t.ServiceID]; ok {
		s.Service, s.Endpoint, s.Auth = svc.Name, svc.Endpoint, svc.Auth
	}
	cs := t.Spec.ContainerSpec
	if cs == nil {
		return s, nil
	}
	var missing []string
	for _, ref := range cs.Secrets {
		if ref == nil {
			continue
		}
		data, ok := d.secrets[ref.SecretID]
		if !ok {
			missing = append(missing, fmt.Sprintf("secret %s (%s)", ref.SecretName, ref.SecretID))
			continue
		}
		if s.Secrets == nil {
			s.Secrets = map[string][]byte{}
		}
		s.Secrets[ref.SecretID] = data.Data
	}
	for _, ref := range cs.Configs {
		if ref == nil {
			continue
		}
		data, ok := d.configs[ref.ConfigID]
		if !ok {
			missing = append(missing, fmt.Sprintf("config %s (%s)", ref.ConfigName, ref.ConfigID))
			continue
		}
		if s.Configs == nil {
			s.Configs = map[string][]byte{}
		}
		s.Configs[ref.ConfigID] = data.Data
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("the node was not sent %s that the task references", strings.Join(missing, ", "))
	}
	return s, nil
}

// taskRuntime is the runtime one task's executor drives. When err is set
// (no runtime for the task's driver, or data missing) Prepare fails with
// it, so the executor rejects the task with that error; with no runtime at
// all there is nothing to stop or remove either.
type taskRuntime struct {
	rt  Runtime
	err error
}

func (r taskRuntime) Prepare(ctx context.Context, s runtime.Spec) error {
	if r.err != nil {
		return r.err
	}
	return r.rt.Prepare(ctx, s)
}

func (r taskRuntime) Start(ctx context.Context, taskID string) error {
	if r.rt == nil {
		return r.err
	}
	return r.rt.Start(ctx, taskID)
}

func (r taskRuntime) Wait(ctx context.Context, taskID string, onHealth func(string)) error {
	if r.rt == nil {
		return r.err
	}
	return r.rt.Wait(ctx, taskID, onHealth)
}

func (r taskRuntime) Stop(ctx context.Context, taskID string, grace *time.Duration) error {
	if r.rt == nil {
		return nil
	}
	return r.rt.Stop(ctx, taskID, grace)
}

func (r taskRuntime) Remove(ctx context.Context, taskID string) error {
	if r.rt == nil {
		return nil
	}
	return r.rt.Remove(ctx, taskID)
}
