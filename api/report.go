package api

import "time"

// Drift kinds: the ways a stack can differ from what git says, each
// reported on its own.
const (
	// DriftGitMoved: the branch head renders something other than what is
	// applied (not yet applied, held by a sync window, quarantined, pinned).
	DriftGitMoved = "git_moved"
	// DriftClusterMoved: a live object differs from the applied revision,
	// as after `docker service update` by hand.
	DriftClusterMoved = "cluster_moved"
	// DriftNotConverged: a service runs fewer or more tasks than it asks
	// for, or tasks of an older spec.
	DriftNotConverged = "not_converged"
	// DriftRolledBack: a service's last update rolled back.
	DriftRolledBack = "rolled_back"
)

// Drift is one difference between a stack and git.
type Drift struct {
	Kind string `json:"kind"`
	// Object names the service, secret, config or network, when the drift
	// is about one.
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
	// By and At say who made a hand change and when (DriftClusterMoved).
	By string    `json:"by,omitempty"`
	At time.Time `json:"at,omitzero"`
}

// ServiceReport is one service of a stack as `swarmops status` shows it.
type ServiceReport struct {
	Name    string `json:"name"`
	Running uint64 `json:"running"`
	Desired uint64 `json:"desired"`
	// UpdateState and UpdateMessage are the service's last rollout, as
	// `docker service inspect` shows them; empty when it never updated.
	UpdateState   string  `json:"update_state,omitempty"`
	UpdateMessage string  `json:"update_message,omitempty"`
	Drift         []Drift `json:"drift,omitempty"`
}

// StackReport is one stack as `swarmops status` shows it.
type StackReport struct {
	Name    string      `json:"name"`
	Status  StackStatus `json:"status"`
	Message string      `json:"message,omitempty"`
	// Head is the commit the branch head points at, as the reconciler last
	// read it.
	Head          string      `json:"head,omitempty"`
	Applied       *Revision   `json:"applied,omitempty"`
	LastAttempted *Revision   `json:"last_attempted,omitempty"`
	LastDeploy    *Deployment `json:"last_deployment,omitempty"`
	Pin           *Pin        `json:"pin,omitempty"`
	Quarantined   []Revision  `json:"quarantined,omitempty"`
	// Drift is every drift of the stack, its services' included.
	Drift    []Drift         `json:"drift,omitempty"`
	Services []ServiceReport `json:"services"`
}

// Healthy reports whether the stack is Synced, converged and without drift.
func (r StackReport) Healthy() bool { return r.Status == StackSynced && len(r.Drift) == 0 }

// Report is the whole answer of `swarmops status`.
type Report struct {
	Source *GitSource `json:"source,omitempty"`
	// Head is the branch's head commit at the last successful poll.
	Head string `json:"head,omitempty"`
	// LastPoll is when the remote was last asked; PollError why that
	// failed (everything keeps running meanwhile).
	LastPoll  time.Time `json:"last_poll,omitzero"`
	PollError string    `json:"poll_error,omitempty"`
	// Error is a problem with the repository as a whole (an invalid
	// swarmops.yaml, a refused prune of every stack): nothing is applied
	// while it lasts.
	Error  string        `json:"error,omitempty"`
	Stacks []StackReport `json:"stacks"`
}

// Healthy reports whether everything is Synced and converged: what
// `swarmops status` exits 0 for.
func (r Report) Healthy() bool {
	if r.PollError != "" || r.Error != "" {
		return false
	}
	for _, s := range r.Stacks {
		if !s.Healthy() {
			return false
		}
	}
	return true
}
