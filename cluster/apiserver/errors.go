package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/swarmops/swarmops/cluster/ca"
)

// apiError is an answer in Docker's error form: a status and
// {"message": "..."}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// HTTPStatus is the status the error is answered with.
func (e *apiError) HTTPStatus() int { return e.status }

// NewError makes an error the server answers with the given HTTP status
// and message, for the Joiner (and other callbacks) to choose Docker's
// codes.
func NewError(status int, message string) error { return &apiError{status: status, msg: message} }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Swarm's own errors reach docker users through the daemon as gRPC status
// errors, so their text carries the gRPC code; matching it keeps scripts
// and habits that read `docker` output working. rpcError writes that form.
func rpcError(status int, code, format string, args ...any) error {
	return &apiError{status: status, msg: "rpc error: code = " + code + " desc = " + fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) error {
	return rpcError(http.StatusBadRequest, "InvalidArgument", format, args...)
}

func failedPrecondition(format string, args ...any) error {
	return rpcError(http.StatusBadRequest, "FailedPrecondition", format, args...)
}

func unimplemented(format string, args ...any) error {
	return rpcError(http.StatusNotImplemented, "Unimplemented", format, args...)
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}
func notFound(format string, args ...any) error { return errorf(http.StatusNotFound, format, args...) }

// errOutOfSequence is the answer to a write carrying a stale version. The
// daemon answers it with 500 and gRPC's Unknown code; the status here is
// 409, what it means, while the text stays the one users know.
var errOutOfSequence = rpcError(http.StatusConflict, "Unknown", "update out of sequence")

// Messages Swarm uses for a manager that cannot serve.
const (
	lostQuorumMessage = "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."
	notManagerMessage = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."
	noSwarmMessage    = "This node is not part of a swarm"
)

var errNoLeader = rpcError(http.StatusServiceUnavailable, "Unknown", lostQuorumMessage)

// writeError answers err in Docker's error form and logs server faults.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, err.Error()
	var ae *apiError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		status, msg = ae.status, ae.msg
	case errors.As(err, &tooBig):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: the limit is %d bytes", tooBig.Limit)
	case errors.Is(err, ca.ErrInvalidToken):
		status = http.StatusBadRequest
	case errors.Is(err, ca.ErrTokenWrongCA), errors.Is(err, ca.ErrTokenRejected):
		status = http.StatusForbidden
	default:
		var hs interface{ HTTPStatus() int }
		if errors.As(err, &hs) {
			status = hs.HTTPStatus()
		}
	}
	if status >= http.StatusInternalServerError && status != http.StatusServiceUnavailable && status != http.StatusNotImplemented {
		s.log.Error("api handler failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}

// writeJSON writes v as Docker does: one JSON document, HTML characters
// unescaped, a trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The status is sent; a client gone away is all that can fail here.
	_ = enc.Encode(v)
}
