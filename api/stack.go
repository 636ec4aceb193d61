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
	// DependsOn holds each service's depends_on, by full service name.
	// Docker ignores it; the reconciler creates and updates a stack's
	// services in this order. It is not part of the stack's digest: it
	// orders a rollout, it asks nothing of the cluster.
	DependsOn map[string][]Dependency `json:"depends_on,omitempty"`
}

// Dependency is one entry of a service's depends_on.
type Dependency struct {
	// Service is the full name of the service depended on ("shop_db").
	Service string `json:"service"`
	// Condition is compose's: "service_started" (the default),
	// "service_healthy" (its tasks run and pass their healthcheck) or
	// "service_completed_successfully".
	Condition string `json:"condition"`
}

// Dependency conditions.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

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

	// Options are the stack's options as last read from the repository.
	Options StackOptions `json:"options"`

	// Inventory names the objects the stack owns, by kind.
	Inventory Inventory `json:"inventory"`
	// History holds the last deployments (at most HistoryLimit), newest
	// first.
	History []Deployment `json:"history,omitempty"`
	// Quarantined holds revisions that rolled back: a revision whose
	// digest is here is not applied again until the repository renders
	// something else or an operator retries it.
	Quarantined []Revision `json:"quarantined,omitempty"`
	// Pin, when set, holds the stack at an earlier revision
	// (`swarmops stack rollback`): the reconciler applies it instead of the
	// branch head, and the stack is Suspended until the branch moves or an
	// operator resumes it.
	Pin *Pin `json:"pin,omitempty"`
	// Retry, when set, names a quarantined digest an operator asked to
	// apply once more (`swarmops stack retry`).
	Retry string `json:"retry,omitempty"`
	// Written holds, per service, the digest of the spec the reconciler
	// last wrote to it (stackspec.Digest): a service whose update rolled
	// back from that spec is not given it again.
	Written map[string]string `json:"written,omitempty"`
}

// HistoryLimit is how many deployments a stack keeps.
const HistoryLimit = 10

// Deployment outcomes.
const (
	OutcomeProgressing = "progressing"
	OutcomeSucceeded   = "succeeded"
	OutcomeRolledBack  = "rolled_back"
	OutcomePaused      = "paused"
	OutcomeSuperseded  = "superseded"
	OutcomeFailed      = "failed"
)

// Deployment is one apply of a revision to a stack and how it ended.
type Deployment struct {
	Revision
	// Trigger says what started it: "git", "rollback", "retry".
	Trigger string `json:"trigger"`
	// Outcome is one of the Outcome constants.
	Outcome  string    `json:"outcome"`
	Finished time.Time `json:"finished,omitzero"`
	// Detail says why it ended as it did.
	Detail string `json:"detail,omitempty"`
}

// Pin holds a stack at a revision.
type Pin struct {
	Revision Revision `json:"revision"`
	// BranchHead is the branch's head when the pin was taken (filled by
	// the reconciler when it first sees the pin); once the branch moves
	// past it the pin is dropped.
	BranchHead string `json:"branch_head,omitempty"`
	By         string `json:"by,omitempty"`
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

// StackOptions are a stack's GitOps options, set in the repository's
// swarmops.yaml (for every stack under `defaults:`, or per stack). The
// reconciler records them on the stack at every apply, so a stack removed
// from git is judged by the options it was last applied with.
type StackOptions struct {
	// Prune lets the reconciler remove the whole stack when it leaves the
	// repository. Objects a stack stops declaring are always removed.
	Prune bool `json:"prune,omitempty"`
	// SelfHeal reverts hand changes (a live spec that differs from the
	// applied one) instead of only reporting them.
	SelfHeal bool `json:"self_heal,omitempty"`
	// AutoRollback, unless set to false, makes every service of the stack
	// roll back by itself when its update fails (Swarm's
	// failure_action: rollback), as git-deployed stacks should.
	AutoRollback *bool `json:"auto_rollback,omitempty"`
	// RollbackStack rolls the whole stack back to its last good revision
	// when one of its services fails its rollout.
	RollbackStack bool `json:"rollback_stack,omitempty"`
	// Windows limit when the reconciler may apply this stack, beside the
	// repository-wide windows.
	Windows []SyncWindow `json:"sync_windows,omitempty"`
}

// AutoRollbackOn reports whether automatic rollback is on (the default).
func (o StackOptions) AutoRollbackOn() bool { return o.AutoRollback == nil || *o.AutoRollback }

// Sync window kinds.
const (
	WindowAllow = "allow"
	WindowDeny  = "deny"
)

// SyncWindow is a recurring span of time in which the reconciler may
// (allow) or may not (deny) apply changes. It opens at every time its cron
// schedule fires and stays open for Duration. While any deny window is
// open nothing is applied; when allow windows exist, changes are applied
// only while one of them is open. `swarmops sync --force` overrides both.
type SyncWindow struct {
	Kind string `json:"kind"`
	// Schedule is a standard five-field cron expression ("0 22 * * 1-5").
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open after each firing. In
	// JSON it is nanoseconds, as Docker's durations.
	Duration time.Duration `json:"duration"`
	// TimeZone is an IANA zone name for the schedule; empty means UTC.
	TimeZone string `json:"time_zone,omitempty"`
}
