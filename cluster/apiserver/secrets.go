package apiserver

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Swarm's limits and name rule for secrets and configs.
const (
	maxSecretSize = 500 * 1024
	maxConfigSize = 1000 * 1024
)

var validObjectName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

func validateObjectName(name string) error {
	if name == "" {
		return invalidArgument("name must be provided")
	}
	if len(name) > 64 || !validObjectName.MatchString(name) {
		return invalidArgument("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	}
	return nil
}

// inUse words Swarm's refusal to remove a secret or config services use.
func inUse(kind, name string, users []*swarm.Service) error {
	return invalidArgument("%s '%s' is in use by the following %s: %s", kind, name,
		plural(len(users), "service", "services"), strings.Join(sortedNames(users), ", "))
}

// secretView is a secret as the API shows it: never with its data.
func secretView(sec *swarm.Secret) swarm.Secret {
	out := *sec
	out.Spec.Data = nil
	if out.Spec.Labels == nil {
		out.Spec.Labels = map[string]string{}
	}
	return out
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) error {
	args, err := parseFilters(r, "names", "name", "id", "label")
	if err != nil {
		return err
	}
	names, prefixes, ids := values(args, "names"), values(args, "name"), values(args, "id")
	out := []swarm.Secret{}
	err = s.view(func(tx store.ReadTx) error {
		secrets, err := tx.Secrets()
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			// Names, name prefixes and ID prefixes are alternatives, as in
			// Swarm; labels narrow what they select.
			if !anyOf(len(names)+len(prefixes)+len(ids) == 0,
				len(names) > 0 && oneOf(sec.Spec.Name, names),
				len(prefixes) > 0 && hasPrefix(sec.Spec.Name, prefixes),
				len(ids) > 0 && hasPrefix(sec.ID, ids)) ||
				!matchLabels(sec.Spec.Labels, values(args, "label")) {
				continue
			}
			out = append(out, secretView(sec))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func anyOf(conds ...bool) bool {
	for _, c := range conds {
		if c {
			return true
		}
	}
	return false
}

// createSecret seals the data before proposing: the Raft log, snapshots
// and every store hold ciphertext only.
func (s *Server) createSecret(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.SecretSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	if spec.Templating != nil && api.CompareVersions(apiVersion(r), "1.37") < 0 {
		return badRequest("secret templating is not supported on the specified API version: %s", apiVersion(r))
	}
	if err := validateObjectName(spec.Name); err != nil {
		return err
	}
	if spec.Driver != nil {
		if spec.Driver.Name == "" {
			return invalidArgument("secret driver must have a name")
		}
		return invalidArgument("secret driver %q is not available: swarmops keeps secret data itself, encrypted in the cluster state", spec.Driver.Name)
	}
	if len(spec.Data) < 1 || len(spec.Data) >= maxSecretSize {
		return invalidArgument("secret data must be larger than 0 and less than %d bytes", maxSecretSize)
	}
	sealed, err := s.cfg.Sealer.Seal(spec.Data)
	if err != nil {
		return errorf(http.StatusInternalServerError, "encrypting the secret: %v", err)
	}
	spec.Data = sealed
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	sec := &swarm.Secret{ID: store.NewID(), Spec: spec}
	if _, err := s.propose(w, r, store.Create(sec)); err != nil {
		if errors.Is(err, store.ErrNameConflict) {
			return rpcError(http.StatusConflict, "AlreadyExists", "secret %s already exists", spec.Name)
		}
		return storeWriteError("secret", spec.Name, err)
	}
	writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: sec.ID})
	return nil
}

func (s *Server) inspectSecret(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Secret
	err := s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableSecrets, "secret", r.PathValue("id"))
		if err != nil {
			return err
		}
		sec, err := tx.Secret(id)
		if err != nil {
			return err
		}
		out = secretView(sec)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// updateSecret changes labels only, as Swarm allows. Data cannot be
// compared with the sealed copy, so any data in the request is refused.
func (s *Server) updateSecret(w http.ResponseWriter, r *http.Request) error {
	var spec swarm.SecretSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	version, err := queryVersion(r, "secret")
	if err != nil {
		return err
	}
	var next *swarm.Secret
	err = s.view(func(tx store.ReadTx) error {
		id, err := resolve(tx, store.TableSecrets, "secret", r.PathValue("id"))
		if err != nil {
			return err
		}
		cur, err := tx.Secret(id)
		if err != nil {
			return err
		}
		if spec.Name != cur.Spec.Name || len(spec.Data) != 0 {
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
		return storeWriteError("secret", next.ID, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) removeSecret(w http.ResponseWriter, r *http.Request) error {
	return s.removeUnused(w, r, store.TableSecrets, "secret",
		func(tx store.ReadTx, id string) (string, error) {
			sec, err := tx.Secret(id)
			if err != nil {
				return "", err
			}
			return sec.Spec.Name, nil
		},
		func(tx store.ReadTx, id string) ([]*swarm.Service, error) { return tx.ServicesUsingSecret(id) })
}

// removeUnused removes a secret or config (kind) that no service uses, as
// Swarm does: refused while a service refers to it, whether that shows in
// the read or only in the commit.
func (s *Server) removeUnused(w http.ResponseWriter, r *http.Request, table store.Table, kind string,
	nameOf func(tx store.ReadTx, id string) (string, error),
	usersOf func(tx store.ReadTx, id string) ([]*swarm.Service, error)) error {
	var id, name string
	err := s.view(func(tx store.ReadTx) error {
		var err error
		if id, err = resolve(tx, table, kind, r.PathValue("id")); err != nil {
			return err
		}
		if name, err = nameOf(tx, id); err != nil {
			return err
		}
		users, err := usersOf(tx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return inUse(kind, name, users)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The store checks use again in the commit itself: a service created
	// since the read above still blocks the removal.
	if _, err := s.propose(w, r, store.Delete(table, id, 0)); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return s.inUseNow(kind, name, func(tx store.ReadTx) ([]*swarm.Service, error) { return usersOf(tx, id) })
		}
		return storeWriteError(kind, id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// inUseNow words a removal the store refused because of a service that
// appeared after the handler checked.
func (s *Server) inUseNow(kind, name string, users func(tx store.ReadTx) ([]*swarm.Service, error)) error {
	var list []*swarm.Service
	if err := s.view(func(tx store.ReadTx) error {
		var err error
		list, err = users(tx)
		return err
	}); err != nil {
		return err
	}
	return inUse(kind, name, list)
}
