// Package runtime holds what the agent's runtimes share, so one executor
// drives them all alike: the Spec of a task to run, a task's name, Swarm's
// templates in a container spec, the error of a task that exited non-zero,
// the options of a log stream, and the tmpfs directory (FileDir) where a
// task's secrets and configs are written, never to a disk. It depends on
// Docker's types and the kernel's calls only, never on a runtime.
package runtime

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"
)

// TaskName is the name Swarm gives a task's container: service.slot.taskid,
// with the node ID in place of the slot for global services (slot 0), unless
// the task carries its own name.
func TaskName(t swarm.Task, svcName string) string {
	if t.Annotations.Name != "" {
		return t.Annotations.Name
	}
	slot := fmt.Sprint(t.Slot)
	if t.Slot == 0 {
		slot = t.NodeID
	}
	return svcName + "." + slot + "." + t.ID
}

// ExitError is a task whose process exited with a non-zero code; its text
// is the task error Swarm shows, e.g. "task: non-zero exit (1)".
type ExitError struct {
	Code  int
	Cause string // what the runtime adds, if anything (the engine's State.Error)
}

func (e *ExitError) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("task: non-zero exit (%d): %s", e.Code, e.Cause)
	}
	return fmt.Sprintf("task: non-zero exit (%d)", e.Code)
}

// LogOptions chooses what a runtime's Logs streams, as `docker service logs`
// flags do.
type LogOptions struct {
	Follow     bool
	Tail       string // "all" or a number of lines; empty means all
	Timestamps bool
	Since      string // RFC 3339 or Unix time, where the runtime supports it
}

// Spec is a task to run and what a runtime needs beside it to create the
// task's container or process.
type Spec struct {
	Task swarm.Task
	// Service is the service's name, for the task's container name.
	Service string
	// Endpoint is the service's endpoint spec: the runtime binds its
	// host-mode published ports.
	Endpoint *swarm.EndpointSpec
	// Auth is the registry credentials for the pull, as the engine takes
	// them (base64 JSON, from `--with-registry-auth`); empty for none.
	Auth string
	// Secrets and Configs hold, by ID, the data of every secret and config
	// the task references. They live in memory only.
	Secrets map[string][]byte
	Configs map[string][]byte
}
