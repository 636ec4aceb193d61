package apiserver

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Configs are secrets' plain sibling: the same rules, but their data is
// stored as given and returned, as Docker returns it.

func configView(c *swarm.Config) swarm.Config {
	out := *c
	if out.Spec.Labels == nil {
		out.Spec.Labels = map[string]string{}
	}
	return out
}

func (s *Server) listConfigs(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "name", "id", "label")
	if err != nil {
		return err
	}
	prefixes, ids := values(args, "name"), values(args, "id")
	out := []swarm.Config{}
	err = s.view(func(tx store.ReadTx) error {
		configs, err := tx.Configs()
		if err != nil {
			return err
		}
		for _, c := range configs {
			if !anyOf(len(prefixes)+len(ids) == 0,
				len(prefixes) > 0 && hasPrefix(c.Spec.Name, prefixes),
				len(ids) > 0 && hasPrefix(c.ID, ids)) ||
				!matchLabels(c.Spec.Labels, values(args, "label")) {
				continue
			}
			out = append(out, configView(c))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createConfig(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.ConfigSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if spec.Templating != nil && api.CompareVersions(apiVersion(r), "1.37") < 0 {
		return badRequest("config templating is not supported on the specified API version: %s", apiVersion(r))
	}
	if err := validateObjectName(spec.Name); err != nil {
		return err
	}
	if len(spec.Data) < 1 || len(spec.Data) >= maxConfigSize {
		return invalidArgument("config data must be larger than 0 and less than %d bytes", maxConfigSize)
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	cfg := &swarm.Config{ID: store.NewID(), Spec: spec}
	if _, err := s.propose(w, r, store.Create(cfg)); err != nil {
		if errors.Is(err, store.ErrNameConflict) {
			return rpcError(http.StatusConflict, "AlreadyExists", "config %s already exists", spec.Name)
		}
		return storeWriteError("config", spec.Name, err)
	}
	writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: cfg.ID})
	return nil
}

func (s *Server) inspectConfig(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Config
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableConfigs, "config", r.PathValue("id"))
		if err != nil {
			return err
		}
		c, err := tx.Config(id)
		if err != nil {
			return err
		}
		out = configView(c)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateConfig changes labels only; data may be sent back unchanged.
func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.ConfigSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	version, err := queryVersion(r, "config")
	if err != nil {
		return err
	}
	var next *swarm.Config
	err = s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableConfigs, "config", r.PathValue("id"))
		if err != nil {
			return err
		}
		cur, err := tx.Config(id)
		if err != nil {
			return err
		}
		if spec.Name != cur.Spec.Name || (spec.Data != nil && !bytes.Equal(spec.Data, cur.Spec.Data)) {
			return invalidArgument("only updates to Labels are allowed")
		}
		if next, err = store.Clone(cur); err != nil {
			return err
		}
		next.Spec.Labels = spec.Labels
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, store.Update(next, version)); err != nil {
		return storeWriteError("config", next.ID, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) removeConfig(w http.ResponseWriter, r *http.Request) error {
	return s.removeUnused(w, r, store.TableConfigs, "config",
		func(tx store.ReadTx, id string) (string, error) {
			c, err := tx.Config(id)
			if err != nil {
				return "", err
			}
			return c.Spec.Name, nil
		},
		func(tx store.ReadTx, id string) ([]*swarm.Service, error) { return tx.ServicesUsingConfig(id) })
}
