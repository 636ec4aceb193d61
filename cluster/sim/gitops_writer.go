package sim

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/allocator"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/reconciler"
)

// byReconciler and byOperator are the names the store records as the
// writers of what the reconciler and the simulated operator change, as
// the API records a caller's certificate name.
const (
	byReconciler = reconciler.WriterName
	byOperator   = "operator"
)

// storeWriter is reconciler.Writer over the simulation's store: each call
// is one batch, built as the API's handler builds it (IDs from the
// simulation's counter; an update keeps the spec it replaces as the
// previous spec and clears the update status; a removal the store
// refuses while a service uses the object; a published port another
// service holds refused as invalid). Secret, config and network
// references are resolved from names to IDs, as the reconciler's API
// writer and `docker stack deploy` do before they call the API.
type storeWriter struct{ s *Sim }

var _ reconciler.Writer = storeWriter{}

// errOutOfSequence is the API's answer to a record created twice.
var errOutOfSequence = errors.New("stack record: out of sequence")

func (w storeWriter) write(what string, m store.Mutation) error {
	m.By = byReconciler
	if err := w.s.apply(byReconciler, []store.Mutation{m}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (w storeWriter) CreateNetwork(_ context.Context, name string, req network.CreateRequest) error {
	ipam := network.IPAM{Driver: "default", Config: []network.IPAMConfig{}}
	if req.IPAM != nil {
		ipam = *req.IPAM
	}
	nw := &network.Inspect{
		ID: w.s.newID("network"), Name: name, Scope: "swarm", Driver: "overlay",
		EnableIPv4: req.EnableIPv4 == nil || *req.EnableIPv4, EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6,
		IPAM: ipam, Internal: req.Internal, Attachable: req.Attachable, Options: req.Options, Labels: req.Labels,
	}
	return w.write("create network "+name, store.Create(nw))
}

func (w storeWriter) RemoveNetwork(_ context.Context, name string) error {
	return w.remove("network", name, store.TableNetworks, func(tx store.ReadTx) (string, error) {
		nw, err := tx.NetworkByName(name)
		if err != nil {
			return "", err
		}
		return nw.ID, nil
	})
}

func (w storeWriter) CreateSecret(_ context.Context, spec swarm.SecretSpec) error {
	return w.write("create secret "+spec.Name, store.Create(&swarm.Secret{ID: w.s.newID("secret"), Spec: spec}))
}

func (w storeWriter) RemoveSecret(_ context.Context, name string) error {
	return w.remove("secret", name, store.TableSecrets, func(tx store.ReadTx) (string, error) {
		sec, err := tx.SecretByName(name)
		if err != nil {
			return "", err
		}
		return sec.ID, nil
	})
}

func (w storeWriter) CreateConfig(_ context.Context, spec swarm.ConfigSpec) error {
	return w.write("create config "+spec.Name, store.Create(&swarm.Config{ID: w.s.newID("config"), Spec: spec}))
}

func (w storeWriter) RemoveConfig(_ context.Context, name string) error {
	return w.remove("config", name, store.TableConfigs, func(tx store.ReadTx) (string, error) {
		c, err := tx.ConfigByName(name)
		if err != nil {
			return "", err
		}
		return c.ID, nil
	})
}

func (w storeWriter) CreateService(_ context.Context, spec swarm.ServiceSpec) error {
	svc := &swarm.Service{ID: w.s.newID("service")}
	err := w.s.st.View(func(tx store.ReadTx) error {
		if err := checkPorts(tx, &spec, ""); err != nil {
			return err
		}
		var err error
		svc.Spec, err = resolveRefs(tx, spec)
		return err
	})
	if err != nil {
		return fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	if isJob(svc) {
		svc.JobStatus = &swarm.JobStatus{LastExecution: w.s.now}
	}
	return w.write("create service "+spec.Name, store.Create(svc))
}

// UpdateService replaces the spec as the API's updateService does.
func (w storeWriter) UpdateService(_ context.Context, id string, version uint64, spec swarm.ServiceSpec) error {
	var next *swarm.Service
	err := w.s.st.View(func(tx store.ReadTx) error {
		cur, err := tx.Service(id)
		if err != nil {
			return err
		}
		if api.ModeName(cur.Spec.Mode) != api.ModeName(spec.Mode) {
			return errors.New("service mode change is not allowed")
		}
		if cur.Spec.Name != spec.Name {
			return errors.New("renaming services is not supported")
		}
		if !reflect.DeepEqual(spec.EndpointSpec, cur.Spec.EndpointSpec) {
			if err := checkPorts(tx, &spec, id); err != nil {
				return err
			}
		}
		resolved, err := resolveRefs(tx, spec)
		if err != nil {
			return err
		}
		if next, err = store.Clone(cur); err != nil {
			return err
		}
		if next.JobStatus != nil {
			next.JobStatus.JobIteration.Index++
			next.JobStatus.LastExecution = w.s.now
		}
		prev := next.Spec
		next.PreviousSpec, next.Spec = &prev, resolved
		next.UpdateStatus, next.ServiceStatus = nil, nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("update service %s: %w", spec.Name, err)
	}
	if err := w.write("update service "+spec.Name, store.Update(next, version)); err != nil {
		return err
	}
	w.s.roll.restore[id] = specJSON(*next.PreviousSpec)
	return nil
}

func (w storeWriter) RemoveService(_ context.Context, name string) error {
	return w.remove("service", name, store.TableServices, func(tx store.ReadTx) (string, error) {
		svc, err := tx.ServiceByName(name)
		if err != nil {
			return "", err
		}
		return svc.ID, nil
	})
}

// PutStack writes a record as the API's putStackRecord does: version 0
// creates it.
func (w storeWriter) PutStack(_ context.Context, st *api.Stack) error {
	rec, err := store.Clone(st)
	if err != nil {
		return err
	}
	version := st.Version.Index
	var m store.Mutation
	err = w.s.st.View(func(tx store.ReadTx) error {
		old, err := tx.StackByName(st.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if version != 0 {
				return errOutOfSequence
			}
			rec.ID = w.s.newID("stack")
			m = store.Create(rec)
			return nil
		case err != nil:
			return err
		}
		rec.ID = old.ID
		m = store.Update(rec, version)
		return nil
	})
	if err != nil {
		return fmt.Errorf("write stack %s: %w", st.Name, err)
	}
	return w.write("write stack "+st.Name, m)
}

func (w storeWriter) RemoveStack(_ context.Context, name string) error {
	return w.remove("stack record", name, store.TableStacks, func(tx store.ReadTx) (string, error) {
		st, err := tx.StackByName(name)
		if err != nil {
			return "", err
		}
		return st.ID, nil
	})
}

func (w storeWriter) remove(kind, name string, t store.Table, id func(store.ReadTx) (string, error)) error {
	var target string
	err := w.s.st.View(func(tx store.ReadTx) error {
		var err error
		target, err = id(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s %s: %w", kind, name, err)
	}
	return w.write("remove "+kind+" "+name, store.Delete(t, target, 0))
}

// checkPorts refuses a published port another service holds, as the
// API does, with the API's class of error: the client's mistake.
func checkPorts(tx store.ReadTx, spec *swarm.ServiceSpec, selfID string) error {
	services, err := tx.Services()
	if err != nil {
		return err
	}
	var conflict *allocator.PortConflictError
	if err := allocator.CheckPorts(services, spec, selfID); errors.As(err, &conflict) {
		return fmt.Errorf("%w: %v", cerrdefs.ErrInvalidArgument, conflict)
	} else if err != nil {
		return err
	}
	return nil
}

// resolveRefs is spec with its secrets, configs and networks named by
// ID, as the API stores them; spec itself, which the repository's
// rendering holds, is left as it is.
func resolveRefs(tx store.ReadTx, spec swarm.ServiceSpec) (swarm.ServiceSpec, error) {
	c, err := store.Clone(&spec)
	if err != nil {
		return spec, err
	}
	for i, n := range c.TaskTemplate.Networks {
		nw, err := tx.NetworkByName(n.Target)
		if err != nil {
			return spec, fmt.Errorf("network %s: %w", n.Target, err)
		}
		c.TaskTemplate.Networks[i].Target = nw.ID
	}
	if cs := c.TaskTemplate.ContainerSpec; cs != nil {
		for _, ref := range cs.Secrets {
			sec, err := tx.SecretByName(ref.SecretName)
			if err != nil {
				return spec, fmt.Errorf("secret %s: %w", ref.SecretName, err)
			}
			ref.SecretID = sec.ID
		}
		for _, ref := range cs.Configs {
			cfg, err := tx.ConfigByName(ref.ConfigName)
			if err != nil {
				return spec, fmt.Errorf("config %s: %w", ref.ConfigName, err)
			}
			ref.ConfigID = cfg.ID
		}
	}
	return *c, nil
}
