package api

import (
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// StackSpec is everything one stack asks the cluster for, in the Docker
// Engine API's own form: what `docker stack deploy --compose-file F NAME`
// would create. Map keys are the full object names, prefixed with the
// namespace ("shop_web"), exactly as the objects are named on the cluster.
type StackSpec struct {
	// Namespace is the stack name; every object carries it in the
	// com.docker.stack.namespace label.
	Namespace string                           `json:"namespace"`
	Services  map[string]swarm.ServiceSpec     `json:"services"`
	Networks  map[string]network.CreateRequest `json:"networks"`
	Secrets   map[string]swarm.SecretSpec      `json:"secrets"`
	Configs   map[string]swarm.ConfigSpec      `json:"configs"`
	// Warnings are the notes `docker stack deploy` prints without failing,
	// such as "Ignoring unsupported options: build".
	Warnings []string `json:"warnings,omitempty"`
}

// StackStatus is where a stack stands against git.
type StackStatus string

// Stack statuses, as `swarmops status` shows them.
const (
	StackSynced      StackStatus = "Synced"
	StackOutOfSync   StackStatus = "OutOfSync"
	StackProgressing StackStatus = "Progressing"
	StackDegraded    StackStatus = "Degraded"
	StackFailed      StackStatus = "Failed"
	StackSuspended   StackStatus = "Suspended"
)

// Revision identifies one rendering of a stack: the git commit it came from
// and the digest of the specs it rendered to. Two commits that render the
// same specs have equal digests, so a commit touching only a README deploys
// nothing.
type Revision struct {
	Commit string `json:"commit"`
	Digest string `json:"digest"`
	// Message is the first line of the commit message.
	Message string `json:"message,omitempty"`
	// Time is when the revision was applied or attempted.
	Time time.Time `json:"time,omitempty"`
}

// Stack is swarmops's record of one stack: where it comes from, what of it
// is applied, and how that went.
type Stack struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Version swarm.Version `json:"version"`
	// Source is the path of the stack's directory in the repository.
	Source string `json:"source"`
	// Files are the compose files the stack loads, in override order.
	Files []string `json:"files,omitempty"`

	Applied       *Revision   `json:"applied,omitempty"`
	LastAttempted *Revision   `json:"last_attempted,omitempty"`
	Status        StackStatus `json:"status"`
	Message       string      `json:"message,omitempty"`

	// Inventory names the objects the stack owns, by kind.
	Inventory Inventory `json:"inventory"`
	// History holds the last deployments, newest first.
	History []Revision `json:"history,omitempty"`
	// Quarantined holds revisions that rolled back and are not applied again
	// until a newer commit arrives or an operator retries.
	Quarantined []Revision `json:"quarantined,omitempty"`
}

// Inventory lists the names of the cluster objects a stack owns.
type Inventory struct {
	Services []string `json:"services,omitempty"`
	Networks []string `json:"networks,omitempty"`
	Secrets  []string `json:"secrets,omitempty"`
	Configs  []string `json:"configs,omitempty"`
}

// Well-known labels, as Docker's stack tooling sets them.
const (
	// LabelNamespace marks every object of a stack with the stack's name.
	LabelNamespace = "com.docker.stack.namespace"
	// LabelImage records the image a stack file asked for, before any
	// digest resolution.
	LabelImage = "com.docker.stack.image"
	// LabelDriver, on a service's container spec, picks the runtime its
	// tasks run under: "docker" (the default) or "exec", a plain process
	// for hosts without Docker. A stack file sets it with
	// `x-swarmops: {driver: exec}`; the docker CLI with
	// `--container-label com.swarmops.driver=exec`.
	LabelDriver = "com.swarmops.driver"
)
