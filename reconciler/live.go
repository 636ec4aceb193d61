package reconciler

import (
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/stackstate"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/deploy"
)

// readLive reads what the cluster runs of stack name; self is the name the
// reconciler's own writes carry.
func readLive(tx store.ReadTx, name, self string) (Live, error) {
	spec, err := stackstate.Stack(tx, name)
	if err != nil {
		return Live{}, err
	}
	live := Live{Spec: spec, Services: map[string]LiveService{}}
	services, err := tx.ServicesByStack(name)
	if err != nil {
		return Live{}, err
	}
	for _, svc := range services {
		tasks, err := tx.TasksByService(svc.ID)
		if err != nil {
			return Live{}, err
		}
		ls := LiveService{ID: svc.ID, Version: svc.Version.Index, Update: svc.UpdateStatus, Changed: svc.UpdatedAt}
		var meant uint64
		for _, t := range tasks {
			if t.DesiredState != swarm.TaskStateRunning {
				continue
			}
			meant++
			if t.Status.State == swarm.TaskStateRunning {
				ls.Running++
				if deploy.Dirty(svc, t) {
					ls.Dirty++
				}
			}
		}
		switch m := svc.Spec.Mode; {
		case m.Replicated != nil && m.Replicated.Replicas != nil:
			ls.Desired = *m.Replicated.Replicas
		case m.Global != nil:
			ls.Desired = meant
		default: // jobs: judged by their completions, not by what runs
			ls.Desired = ls.Running
		}
		if w, err := tx.Writer(store.TableServices, svc.ID); err == nil {
			ls.By, ls.At = w.By, w.At
			ls.ByUs = w.By != "" && w.By == self
		}
		live.Services[svc.Spec.Name] = ls
	}
	return live, nil
}

// inventoryOf names the objects a rendering owns.
func inventoryOf(spec *api.StackSpec) api.Inventory {
	if spec == nil {
		return api.Inventory{}
	}
	return api.Inventory{
		Services: sortedKeys(spec.Services),
		Networks: sortedKeys(spec.Networks),
		Secrets:  sortedKeys(spec.Secrets),
		Configs:  sortedKeys(spec.Configs),
	}
}
