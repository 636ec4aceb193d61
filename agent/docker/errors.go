package docker

import (
	"errors"
	"strings"

	"github.com/swarmops/swarmops/agent/runtime"
)

// Errors a Wait can end with besides *ExitError. Their text is Swarm's, since
// it reaches `docker service ps` as the task's error.
var (
	// ErrUnhealthy: the container's healthcheck reported unhealthy.
	ErrUnhealthy = errors.New("unhealthy container")
	// ErrContainerDestroyed: the container was removed while being followed.
	ErrContainerDestroyed = errors.New("dockerexec: container destroyed")
	// ErrNotFound: no container of this runtime carries the task ID.
	ErrNotFound = errors.New("no container for task")
)

// ExitError is the runtimes' shared exit error (agent/runtime).
type ExitError = runtime.ExitError

// daemonPrefix is what the client puts before every engine error; Swarm's
// executor runs inside the engine, so its task errors never carry it.
const daemonPrefix = "Error response from daemon: "

// engineError reads like Swarm's task error ("No such image: x:latest")
// while still unwrapping to the client's error for errdefs checks, and to
// the pull failure that led to it, which Swarm only logs.
type engineError struct{ err, pull error }

func (e engineError) Error() string { return strings.TrimPrefix(e.err.Error(), daemonPrefix) }
func (e engineError) Unwrap() []error {
	if e.pull != nil {
		return []error{e.err, e.pull}
	}
	return []error{e.err}
}

func taskErr(err error) error {
	if err == nil {
		return nil
	}
	return engineError{err: err}
}
