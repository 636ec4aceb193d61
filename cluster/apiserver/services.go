package apiserver

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"reflect"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "id", "name", "label", "mode", "runtime")
	if err != nil {
		return err
	}
	withStatus := false
	if api.CompareVersions(apiVersion(r), "1.41") >= 0 {
		if withStatus, err = queryBool(r, "status"); err != nil {
			return err
		}
	}
	runtimes := values(args, "runtime")
	if len(runtimes) == 0 {
		runtimes = []string{string(swarm.RuntimeContainer)}
	}
	out := []swarm.Service{}
	err = s.view(func(tx store.ReadTx) error {
		services, err := tx.Services()
		if err != nil {
			return err
		}
		for _, svc := range services {
			if !hasPrefix(svc.ID, values(args, "id")) ||
				!hasPrefix(svc.Spec.Name, values(args, "name")) ||
				!matchLabels(svc.Spec.Labels, values(args, "label")) ||
				!oneOf(api.ModeName(svc.Spec.Mode), values(args, "mode")) ||
				!oneOf(string(svc.Spec.TaskTemplate.Runtime), runtimes) {
				continue
			}
			v := *svc
			if withStatus {
				tasks, err := tx.TasksByService(svc.ID)
				if err != nil {
					return err
				}
				v.ServiceStatus = serviceStatus(svc, tasks)
			}
			out = append(out, hideRegistryAuth(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) inspectService(w http.ResponseWriter, r *http.Request) error {
	withDefaults, err := queryBool(r, "insertDefaults")
	if err != nil {
		return err
	}
	var out swarm.Service
	err = s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableServices, "service", r.PathValue("id"))
		if err != nil {
			return err
		}
		svc, err := tx.Service(id)
		if err != nil {
			return err
		}
		if !withDefaults {
			out = *svc
			return nil
		}
		c, err := store.Clone(svc)
		if err != nil {
			return err
		}
		insertDefaults(&c.Spec)
		out = *c
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hideRegistryAuth(out))
	return nil
}

// decodeServiceSpec reads, normalizes and validates a service spec: all
// that needs no store.
func decodeServiceSpec(r *http.Request) (swarm.ServiceSpec, error) {
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec); err != nil {
		return spec, err
	}
	return spec, checkServiceSpec(&spec, true)
}

// checkServiceSpec normalizes and validates a decoded spec. An empty name
// is left for the caller to fill when nameOptional (a create).
func checkServiceSpec(spec *swarm.ServiceSpec, nameOptional bool) error {
	if err := normalizeServiceSpec(spec); err != nil {
		return err
	}
	if nameOptional && spec.Name == "" {
		// Validate the rest with a stand-in; create picks the real name.
		spec.Name = "x"
		defer func() { spec.Name = "" }()
	}
	if err := validateServiceSpec(spec); err != nil {
		return err
	}
	return checkHealthGateLabels(spec.Labels)
}

// createService is POST /services/create: 201 with the new ID.
func (s *Server) createService(w http.ResponseWriter, r *http.Request) error {
	spec, err := decodeServiceSpec(r)
	if err != nil {
		return err
	}
	if err := s.sealRegistryAuth(r, &spec, nil); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	svc := &swarm.Service{ID: store.NewID()}
	err = s.view(func(tx store.ReadTx) error {
		if spec.Name == "" {
			spec.Name = randomName(rand.IntN, func(name string) bool {
				_, err := tx.ServiceByName(name)
				return err == nil
			})
		}
		if err := resolveServiceRefs(tx, &spec); err != nil {
			return err
		}
		services, err := tx.Services()
		if err != nil {
			return err
		}
		if err := checkPortConflicts(services, &spec, ""); err != nil {
			return err
		}
		svc.Endpoint, err = buildEndpoint(services, spec.EndpointSpec, "", swarm.Endpoint{})
		return err
	})
	if err != nil {
		return err
	}
	svc.Spec = spec
	if spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil {
		svc.JobStatus = &swarm.JobStatus{LastExecution: s.cfg.Now().UTC()}
	}
	if _, err := s.propose(w, r, store.Create(svc)); err != nil {
		if errors.Is(err, store.ErrNameConflict) {
			return rpcError(http.StatusConflict, "AlreadyExists", "name conflicts with an existing object: service %s already exists", spec.Name)
		}
		return storeWriteError("service", spec.Name, err)
	}
	writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: svc.ID, Warnings: monitorWarnings(&svc.Spec)})
	return nil
}

// updateService is POST /services/{id}/update?version=N: the new spec
// replaces the current one, which becomes PreviousSpec; with
// rollback=previous the two swap instead and the update status records a
// manual rollback, as Swarm does. The control loops roll the tasks.
func (s *Server) updateService(w http.ResponseWriter, r *http.Request) error {
	spec, err := decodeServiceSpec(r)
	if err != nil {
		return err
	}
	version, err := queryVersion(r, "service")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rollback := q.Get("rollback")
	switch rollback {
	case "", "none", "previous":
	default:
		return badRequest("unrecognized rollback option %s", rollback)
	}
	authFrom := q.Get("registryAuthFrom")
	switch authFrom {
	case "", swarm.RegistryAuthFromSpec, swarm.RegistryAuthFromPreviousSpec:
	default:
		return badRequest("invalid registryAuthFrom '%s'", authFrom)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var next *swarm.Service
	err = s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableServices, "service", r.PathValue("id"))
		if err != nil {
			return err
		}
		cur, err := tx.Service(id)
		if err != nil {
			return err
		}
		if authFrom == swarm.RegistryAuthFromPreviousSpec && cur.PreviousSpec == nil {
			return badRequest("service does not have a previous spec")
		}
		if spec.Name == "" {
			spec.Name = cur.Spec.Name
		}
		from := &cur.Spec
		if authFrom == swarm.RegistryAuthFromPreviousSpec {
			from = cur.PreviousSpec
		}
		if err := s.sealRegistryAuth(r, &spec, from); err != nil {
			return err
		}
		if err := resolveServiceRefs(tx, &spec); err != nil {
			return err
		}
		services, err := tx.Services()
		if err != nil {
			return err
		}
		if spec.EndpointSpec != nil && !reflect.DeepEqual(spec.EndpointSpec, cur.Spec.EndpointSpec) {
			if err := checkPortConflicts(services, &spec, id); err != nil {
				return err
			}
		}
		if api.ModeName(cur.Spec.Mode) != api.ModeName(spec.Mode) {
			return unimplemented("service mode change is not allowed")
		}
		if cur.Spec.Name != spec.Name {
			return unimplemented("renaming services is not supported")
		}
		if next, err = store.Clone(cur); err != nil {
			return err
		}
		if next.JobStatus != nil {
			next.JobStatus.JobIteration.Index++
			next.JobStatus.LastExecution = s.cfg.Now().UTC()
		}
		if rollback == "previous" {
			if cur.PreviousSpec == nil {
				return failedPrecondition("service %s does not have a previous spec", id)
			}
			current := next.Spec
			next.Spec, next.PreviousSpec = *next.PreviousSpec, &current
			started := s.cfg.Now().UTC()
			next.UpdateStatus = &swarm.UpdateStatus{
				State:     swarm.UpdateStateRollbackStarted,
				StartedAt: &started,
				Message:   "manually requested rollback",
			}
		} else {
			prev := next.Spec
			next.PreviousSpec, next.Spec = &prev, spec
			next.UpdateStatus = nil
		}
		next.ServiceStatus = nil
		next.Endpoint, err = buildEndpoint(services, next.Spec.EndpointSpec, id, cur.Endpoint)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, store.Update(next, version)); err != nil {
		return storeWriteError("service", next.ID, err)
	}
	writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: monitorWarnings(&next.Spec)})
	return nil
}

// removeService is DELETE /services/{id}; its tasks are the
// orchestrator's to shut down.
func (s *Server) removeService(w http.ResponseWriter, r *http.Request) error {
	var id string
	err := s.view(func(tx store.ReadTx) error {
		var err error
		id, err = resolve(tx, store.TableServices, "service", r.PathValue("id"))
		return err
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, store.Delete(store.TableServices, id, 0)); err != nil {
		return storeWriteError("service", id, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
