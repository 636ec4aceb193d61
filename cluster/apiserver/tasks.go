package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/orchestrator"
	"github.com/swarmops/swarmops/cluster/store"
)

// taskName is a task's name as Swarm's name filter matches it: its own
// name when it has one, else "<service>.<slot>.<task ID>" for replicated
// tasks and "<service>.<node ID>.<task ID>" for global ones.
func taskName(t *swarm.Task, serviceName string) string {
	if t.Name != "" {
		return t.Name
	}
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d.%s", serviceName, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", serviceName, t.NodeID, t.ID)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "id", "name", "label", "service", "node", "desired-state", "_up-to-date", "runtime")
	if err != nil {
		return err
	}
	var desired []swarm.TaskState
	for _, v := range values(args, "desired-state") {
		st := swarm.TaskState(strings.ToLower(v))
		if _, ok := taskStateRank[st]; !ok {
			if v == "" {
				continue
			}
			return badRequest("Invalid desired-state filter: '%s'", v)
		}
		desired = append(desired, st)
	}
	out := []swarm.Task{}
	err = s.view(func(tx store.ReadTx) error {
		// Services and nodes may be named, as `docker service ps web`
		// names them; they resolve as everywhere else.
		var serviceIDs, nodeIDs []string
		for _, ref := range values(args, "service") {
			id, err := resolve(tx, store.TableServices, "service", ref)
			if err != nil {
				return err
			}
			serviceIDs = append(serviceIDs, id)
		}
		for _, ref := range values(args, "node") {
			id, err := resolve(tx, store.TableNodes, "node", ref)
			if err != nil {
				return err
			}
			nodeIDs = append(nodeIDs, id)
		}
		var tasks []*swarm.Task
		if len(serviceIDs) > 0 {
			for _, id := range serviceIDs {
				ts, err := tx.TasksByService(id)
				if err != nil {
					return err
				}
				tasks = append(tasks, ts...)
			}
		} else if tasks, err = tx.Tasks(); err != nil {
			return err
		}
		services := map[string]*swarm.Service{}
		service := func(id string) *swarm.Service {
			if svc, ok := services[id]; ok {
				return svc
			}
			svc, err := tx.Service(id)
			if err != nil {
				svc = nil
			}
			services[id] = svc
			return svc
		}
		serviceName := func(id string) string {
			if svc := service(id); svc != nil {
				return svc.Spec.Name
			}
			return ""
		}
		// "_up-to-date" (the docker CLI's, while it follows a create or an
		// update) keeps the tasks made from their service's current spec.
		upToDate := args.Contains("_up-to-date")
		for _, t := range tasks {
			if !hasPrefix(t.ID, values(args, "id")) ||
				!oneOf(t.NodeID, nodeIDs) ||
				!matchLabels(t.Labels, values(args, "label")) ||
				(len(desired) > 0 && !containsState(desired, t.DesiredState)) {
				continue
			}
			if prefixes := values(args, "name"); len(prefixes) > 0 && !hasPrefix(taskName(t, serviceName(t.ServiceID)), prefixes) {
				continue
			}
			if upToDate {
				if svc := service(t.ServiceID); svc == nil || orchestrator.Dirty(svc, t) {
					continue
				}
			}
			out = append(out, *t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func containsState(states []swarm.TaskState, st swarm.TaskState) bool {
	for _, x := range states {
		if x == st {
			return true
		}
	}
	return false
}

func (s *Server) inspectTask(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Task
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableTasks, "task", r.PathValue("id"))
		if err != nil {
			return err
		}
		t, err := tx.Task(id)
		if err != nil {
			return err
		}
		out = *t
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
