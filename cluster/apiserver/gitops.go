package apiserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/stackstate"
	"github.com/swarmops/swarmops/cluster/store"
)

// GitOps is the leader's git reconciler as the API reaches it.
type GitOps interface {
	// Sync asks for a sync now: of one stack, or of all when stack is "";
	// force overrides the sync windows.
	Sync(ctx context.Context, stack string, force bool) error
	// Report is what `swarmops status` shows.
	Report(ctx context.Context) (api.Report, error)
}

// Names of the cluster secrets the reconciler reads its credentials from.
const (
	SecretGitCredentials = "swarmops-git-credentials"
	SecretWebhook        = "swarmops-webhook-secret"
	SecretAgeIdentity    = "swarmops-age-identity"
	// LabelInternal marks the secrets swarmops keeps for itself.
	LabelInternal = "com.swarmops.internal"
)

// RepoRequest is POST /swarmops/v1/repo: the repository the reconciler
// follows and, optionally, new credentials. A credential left empty keeps
// the one the cluster has.
type RepoRequest struct {
	Source api.GitSource `json:"source"`
	// Credentials is a JSON reconciler.Auth ({"token": ...} or
	// {"ssh_key": ...}); WebhookSecret and AgeIdentity are raw bytes.
	Credentials   []byte `json:"credentials,omitempty"`
	WebhookSecret []byte `json:"webhook_secret,omitempty"`
	AgeIdentity   []byte `json:"age_identity,omitempty"`
}

func (s *Server) gitops(r *http.Request) (GitOps, error) {
	if s.cfg.GitOps == nil {
		return nil, errorf(http.StatusNotImplemented, "this manager runs no git reconciler")
	}
	return s.cfg.GitOps, nil
}

// report is GET /swarmops/v1/report.
func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	g, err := s.gitops(r)
	if err != nil {
		return err
	}
	rep, err := g.Report(r.Context())
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "%v", err)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// sync is POST /swarmops/v1/sync?stack=NAME&force=1.
func (s *Server) sync(w http.ResponseWriter, r *http.Request) error {
	g, err := s.gitops(r)
	if err != nil {
		return err
	}
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	stack := r.URL.Query().Get("stack")
	if err := g.Sync(r.Context(), stack, force); err != nil {
		return errorf(http.StatusServiceUnavailable, "%v", err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// state is GET /swarmops/v1/state: what the cluster runs for every stack,
// in the form `swarmops plan --state` reads.
func (s *Server) state(w http.ResponseWriter, r *http.Request) error {
	var out struct {
		Stacks map[string]*api.StackSpec `json:"stacks"`
	}
	err := s.view(func(tx store.ReadTx) (err error) {
		out.Stacks, err = stackstate.All(tx)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putStackRecord is POST /swarmops/v1/stacks/{name}/record?version=N: the
// reconciler's write of a stack's record (version 0 creates it). The route
// is internal: only the reconciler writes records; operators change them
// through retry, resume and rollback.
func (s *Server) putStackRecord(w http.ResponseWriter, r *http.Request) error {
	var st api.Stack
	if err := decodeJSON(r, &st); err != nil {
		return err
	}
	version, err := queryVersion(r, "stack")
	if err != nil {
		return err
	}
	st.Name = r.PathValue("name")
	var m store.Mutation
	err = s.view(func(tx store.ReadTx) error {
		old, err := tx.StackByName(st.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if version != 0 {
				return errOutOfSequence
			}
			st.ID = store.NewID()
			m = store.Create(&st)
			return nil
		case err != nil:
			return err
		}
		st.ID = old.ID
		m = store.Update(&st, version)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, m); err != nil {
		return storeWriteError("stack", st.Name, err)
	}
	writeJSON(w, http.StatusOK, struct {
		ID string `json:"id"`
	}{st.ID})
	return nil
}

// removeStackRecord is DELETE /swarmops/v1/stacks/{name}/record
// (internal).
func (s *Server) removeStackRecord(w http.ResponseWriter, r *http.Request) error {
	return s.changeStack(w, r, func(st *api.Stack) (*api.Stack, error) { return nil, nil })
}

// retryStack is POST /swarmops/v1/stacks/{name}/retry: the quarantined
// revision the branch renders may be applied once more.
func (s *Server) retryStack(w http.ResponseWriter, r *http.Request) error {
	return s.changeStack(w, r, func(st *api.Stack) (*api.Stack, error) {
		if len(st.Quarantined) == 0 {
			return nil, errorf(http.StatusConflict, "stack %s has no quarantined revision to retry", st.Name)
		}
		st.Retry = st.Quarantined[0].Digest
		return st, nil
	})
}

// resumeStack is POST /swarmops/v1/stacks/{name}/resume: drop a pin.
func (s *Server) resumeStack(w http.ResponseWriter, r *http.Request) error {
	return s.changeStack(w, r, func(st *api.Stack) (*api.Stack, error) {
		if st.Pin == nil {
			return nil, errorf(http.StatusConflict, "stack %s is not suspended: it follows the branch", st.Name)
		}
		st.Pin = nil
		return st, nil
	})
}

// rollbackStack is POST /swarmops/v1/stacks/{name}/rollback?to=REV: hold
// the stack at an earlier good revision (by default the newest good one
// other than what is applied).
func (s *Server) rollbackStack(w http.ResponseWriter, r *http.Request) error {
	to := r.URL.Query().Get("to")
	by := callerOf(r).NodeID
	return s.changeStack(w, r, func(st *api.Stack) (*api.Stack, error) {
		rev, err := goodRevision(st, to)
		if err != nil {
			return nil, err
		}
		st.Pin = &api.Pin{Revision: rev, By: by}
		return st, nil
	})
}

// goodRevision finds the revision a rollback goes to in st's history.
func goodRevision(st *api.Stack, to string) (api.Revision, error) {
	for _, d := range st.History {
		if d.Outcome != api.OutcomeSucceeded {
			continue
		}
		if to != "" {
			if strings.HasPrefix(d.Commit, to) {
				return d.Revision, nil
			}
			continue
		}
		if st.Applied == nil || d.Digest != st.Applied.Digest {
			return d.Revision, nil
		}
	}
	if to != "" {
		return api.Revision{}, badRequest("stack %s has no successful deployment of a commit starting with %q in its history (see `swarmops stack history %s`)", st.Name, to, st.Name)
	}
	return api.Revision{}, errorf(http.StatusConflict, "stack %s has no earlier successful deployment to roll back to (see `swarmops stack history %s`)", st.Name, st.Name)
}

// changeStack applies change to the named stack's record (nil deletes
// it), version-checked, and wakes the reconciler.
func (s *Server) changeStack(w http.ResponseWriter, r *http.Request, change func(*api.Stack) (*api.Stack, error)) error {
	name := r.PathValue("name")
	var m store.Mutation
	err := s.view(func(tx store.ReadTx) error {
		st, err := tx.StackByName(name)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("stack %s not found", name)
		}
		if err != nil {
			return err
		}
		c, err := store.Clone(st)
		if err != nil {
			return err
		}
		next, err := change(c)
		if err != nil {
			return err
		}
		if next == nil {
			m = store.Delete(store.TableStacks, st.ID, st.Version.Index)
		} else {
			m = store.Update(next, st.Version.Index)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, m); err != nil {
		return storeWriteError("stack", name, err)
	}
	if g := s.cfg.GitOps; g != nil && m.Op != store.OpDelete {
		_ = g.Sync(r.Context(), name, false)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// setRepo is POST /swarmops/v1/repo.
func (s *Server) setRepo(w http.ResponseWriter, r *http.Request) error {
	var req RepoRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Source.URL == "" {
		return badRequest("the repository URL is empty: pass --git URL (https://, ssh://, git@host:path, file:// or a local path)")
	}
	if req.Source.PollInterval < 0 {
		return badRequest("poll interval cannot be negative")
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var muts []store.Mutation
	err := s.view(func(tx store.ReadTx) error {
		for _, sec := range []struct {
			name string
			data []byte
		}{{SecretGitCredentials, req.Credentials}, {SecretWebhook, req.WebhookSecret}, {SecretAgeIdentity, req.AgeIdentity}} {
			if len(sec.data) == 0 {
				continue
			}
			ms, err := s.replaceInternalSecret(tx, sec.name, sec.data)
			if err != nil {
				return err
			}
			muts = append(muts, ms...)
		}
		c, err := tx.Cluster()
		if err != nil {
			return err
		}
		cc, err := store.Clone(c)
		if err != nil {
			return err
		}
		src := req.Source
		if _, err := tx.SecretByName(SecretGitCredentials); err == nil || len(req.Credentials) > 0 {
			src.AuthRef = SecretGitCredentials
		}
		cc.Source = &src
		muts = append(muts, store.Update(cc, c.Version.Index))
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.propose(w, r, muts...); err != nil {
		return storeWriteError("cluster", "settings", err)
	}
	if g := s.cfg.GitOps; g != nil {
		_ = g.Sync(r.Context(), "", false)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// replaceInternalSecret is the mutations that make secret name hold data.
func (s *Server) replaceInternalSecret(tx store.ReadTx, name string, data []byte) ([]store.Mutation, error) {
	sealed, err := s.cfg.Sealer.Seal(data)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "encrypting %s: %v", name, err)
	}
	var muts []store.Mutation
	if old, err := tx.SecretByName(name); err == nil {
		muts = append(muts, store.Delete(store.TableSecrets, old.ID, 0))
	}
	sec := &swarm.Secret{ID: store.NewID(), Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{LabelInternal: "true"}},
		Data:        sealed,
	}}
	return append(muts, store.Create(sec)), nil
}
