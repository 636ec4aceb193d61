package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// maxRequestBytes bounds a request body: a status call carries at most a
// few hundred updates.
const maxRequestBytes = 4 << 20

// Handler serves api.SessionPath, api.AssignmentsPath and api.StatusPath
// to nodes: the caller is the node its certificate (verified by the
// server's TLS configuration against the cluster root) names, worker or
// manager; other callers are refused (401 without a certificate, 403 with
// another role or for a node the cluster does not hold). Errors are
// Docker's {"message": ...}: 404 for an unknown session, 400 for a bad
// request, 503 when the dispatcher stopped or the write did not commit.
func (d *Dispatcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(api.SessionPath, d.route(func(ctx context.Context, r *http.Request, nodeID string) (any, error) {
		var req api.SessionRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return d.Register(ctx, nodeID, r.RemoteAddr, req)
	}))
	mux.Handle(api.AssignmentsPath, d.route(func(ctx context.Context, r *http.Request, nodeID string) (any, error) {
		var req api.AssignmentsRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return d.Assignments(ctx, nodeID, req)
	}))
	mux.Handle(api.StatusPath, d.route(func(ctx context.Context, r *http.Request, nodeID string) (any, error) {
		var req api.StatusRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, d.UpdateStatus(ctx, nodeID, req)
	}))
	return mux
}

type call func(ctx context.Context, r *http.Request, nodeID string) (any, error)

func (d *Dispatcher) route(serve call) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reply(w, http.StatusMethodNotAllowed, message(r.URL.Path+": use POST"))
			return
		}
		if r.TLS == nil {
			reply(w, http.StatusUnauthorized, message("a node certificate is required"))
			return
		}
		nodeID, role, err := ca.PeerIdentity(*r.TLS)
		if err != nil || (role != ca.RoleWorker && role != ca.RoleManager) {
			reply(w, http.StatusForbidden, message("a node certificate is required"))
			return
		}
		if !d.isNode(nodeID) {
			reply(w, http.StatusForbidden, message(fmt.Sprintf("node %s is not a member of this cluster", nodeID)))
			return
		}
		out, err := serve(r.Context(), r, nodeID)
		if err != nil {
			if r.Context().Err() != nil {
				return // the caller left
			}
			reply(w, statusOf(err), message(err.Error()))
			return
		}
		reply(w, http.StatusOK, out)
	}
}

func (d *Dispatcher) isNode(nodeID string) bool {
	return d.cfg.Store.View(func(tx store.ReadTx) error {
		_, err := tx.Node(nodeID)
		return err
	}) == nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxRequestBytes))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: body: %v", ErrInvalid, r.URL.Path, err)
	}
	return nil
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrUnknownSession):
		return http.StatusNotFound
	case errors.Is(err, ErrUnknownNode):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	default:
		// Stopped, not committed, or the store unreadable: the agent
		// tries again.
		return http.StatusServiceUnavailable
	}
}

func message(msg string) map[string]string { return map[string]string{"message": msg} }

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
