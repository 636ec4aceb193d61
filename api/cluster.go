package api

import (
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Cluster is the one cluster-wide record a swarmops cluster replicates: what
// `docker swarm inspect` shows (ID, versioning, spec, join tokens, root CA)
// plus swarmops's own settings. Private keys are not part of it.
type Cluster struct {
	ID string `json:"id"`
	// Version is the Raft index of the record's last change; CreatedAt and
	// UpdatedAt are the times of the log entries that created and last
	// changed it, identical on every manager.
	Version   swarm.Version `json:"version"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`

	// Spec is Swarm's cluster spec, as `docker swarm update` edits it.
	Spec swarm.Spec `json:"spec"`
	// JoinTokens are the current worker and manager tokens
	// (SWMOPS-1-<CA digest>-<secret>); rotating one replaces it here, so
	// every manager stops accepting the old token at the same log index.
	JoinTokens swarm.JoinTokens `json:"join_tokens"`
	// CACert is the cluster's root certificate, PEM-encoded.
	CACert string `json:"ca_cert"`
	// CADigest is "sha256:" and the hex digest of the root certificate's
	// DER, the value join tokens carry so a joining node can pin the CA.
	CADigest string `json:"ca_digest"`

	// Source is the git repository the reconciler follows; nil until one is
	// configured.
	Source *GitSource `json:"source,omitempty"`
}

// GitSource is where the cluster's stacks come from.
type GitSource struct {
	URL string `json:"url"`
	// Branch is the tracked branch; empty means the remote's default.
	Branch string `json:"branch,omitempty"`
	// Path is the directory of the repository holding the stacks.
	Path string `json:"path,omitempty"`
	// AuthRef names the secret holding the credentials; the credentials
	// themselves never enter the cluster record.
	AuthRef string `json:"auth_ref,omitempty"`
	// PollInterval is how often the leader checks the remote head; zero
	// means the default. In JSON it is nanoseconds, as Docker's durations.
	PollInterval time.Duration `json:"poll_interval,omitempty"`
}
