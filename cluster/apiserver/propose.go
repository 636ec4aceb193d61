package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/swarmops/swarmops/cluster/store"
)

// propose commits one batch of mutations through Raft and records the
// index on the answer. Every mutation carries the caller's name
// (store.Mutation.By), so the store keeps who last changed each object;
// the log line per mutation adds what the store does not keep (the
// forwarding manager, the route).
//
// Errors: the store's own (ErrNameConflict, ErrVersionConflict,
// ErrNotFound, ErrInUse, ... — wrapped, for the handler to word) come back
// as they are; anything else means the entry was not, or not knowably,
// committed, and becomes a 503.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, muts ...store.Mutation) (uint64, error) {
	c := callerOf(r)
	muts = attribute(c.Name(), muts)
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return 0, fmt.Errorf("encode proposal: %w", err)
	}
	for _, m := range muts {
		s.log.Info("api write", "caller", c.NodeID, "role", string(c.Role), "join", c.Join, "via", c.Via,
			"method", r.Method, "path", r.URL.Path, "op", string(m.Op), "table", string(m.Table), "id", m.ID)
	}
	index, err := s.raft.Propose(r.Context(), data)
	switch {
	case err == nil:
		setIndex(w, index)
		return index, nil
	case isStoreError(err):
		return 0, err
	case !s.raft.IsLeader():
		if _, addr := s.raft.Leader(); addr == "" {
			return 0, errNoLeader
		}
		return 0, errorf(http.StatusServiceUnavailable, "this manager lost the swarm leadership while committing the change; it may or may not have been applied: check, then retry (%v)", err)
	default:
		return 0, errorf(http.StatusServiceUnavailable, "the change could not be committed: %v", err)
	}
}

// Name is how the store records the caller as the writer of what it
// changes: the certificate's name (for a forwarded request, the original
// caller's, not the forwarding manager's), or "join" for a join
// connection. Empty for no caller.
func (c Caller) Name() string {
	if c.Join {
		return "join"
	}
	return c.NodeID
}

// WithCaller returns a context carrying c as the caller, for code in this
// process that calls the API's handlers directly (the leader's reconciler
// acts under its own name), so its writes are recorded as a client's are.
// It grants nothing: a request through the server's routes gets its caller
// from authentication, whatever its context held.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey, c)
}

// attribute returns muts, each marked as asked for by name, in a copy so
// that the handler's slice is left as it built it.
func attribute(name string, muts []store.Mutation) []store.Mutation {
	out := make([]store.Mutation, len(muts))
	for i, m := range muts {
		m.By = name
		out[i] = m
	}
	return out
}

func isStoreError(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrNameConflict, store.ErrExists, store.ErrVersionConflict,
		store.ErrInUse, store.ErrInvalid, store.ErrMalformed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// storeWriteError words the store errors every kind shares; handlers
// check their kind-specific ones (name conflicts, in use) first.
func storeWriteError(kind, ref string, err error) error {
	switch {
	case errors.Is(err, store.ErrVersionConflict):
		return errOutOfSequence
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s %s not found", kind, ref)
	case errors.Is(err, store.ErrInvalid):
		return badRequest("%v", err)
	}
	return err
}

// resolve finds the object a user's reference names, as the daemon does:
// full ID, then name (a node's hostname), then unique ID prefix.
func resolve(tx store.ReadTx, t store.Table, kind, ref string) (string, error) {
	id, err := tx.Resolve(t, ref)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, store.ErrNotFound):
		return "", notFound("%s %s not found", kind, ref)
	case errors.Is(err, store.ErrAmbiguous):
		return "", badRequest("%s %s is ambiguous (%d matches found)", kind, ref, ambiguity(err))
	}
	return "", err
}

// ambiguity reads how many objects matched from the store's
// ErrAmbiguous message ("... : N IDs start with it" or "N objects have
// that name").
func ambiguity(err error) int {
	msg := err.Error()
	i := strings.LastIndex(msg, store.ErrAmbiguous.Error()+": ")
	if i < 0 {
		return 2
	}
	var n int
	if _, err := fmt.Sscanf(msg[i+len(store.ErrAmbiguous.Error())+2:], "%d", &n); err != nil || n < 2 {
		return 2
	}
	return n
}

// view runs fn on a consistent snapshot of the store.
func (s *Server) view(fn func(tx store.ReadTx) error) error {
	return s.store.View(fn)
}
