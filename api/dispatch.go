package api

import (
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// Routes of the dispatcher, served by every manager beside the Engine API
// to node certificates only (never the CLI's). All take and return JSON
// and are POST. A manager that is not the leader answers 503 with the
// leader's API address in the HeaderLeader header; the agent asks there,
// because the session belongs to the node its certificate names.
const (
	// SessionPath registers a node and opens its session.
	SessionPath = "/swarmops/v1/dispatcher/session"
	// AssignmentsPath long-polls for the node's assignments; every call is
	// also a heartbeat.
	AssignmentsPath = "/swarmops/v1/dispatcher/assignments"
	// StatusPath reports task status changes.
	StatusPath = "/swarmops/v1/dispatcher/status"
)

// NodeLogsPath is served by every node's agent to managers only: GET with
// the query of a LogsQuery streams one task's logs in Docker's multiplexed
// stdout/stderr format.
const NodeLogsPath = "/swarmops/v1/node/logs"

// HeaderLeader names the leader's API address on a 503 from a follower.
const HeaderLeader = "X-Swarmops-Leader"

// SessionRequest opens a session: the node as its agent sees it.
type SessionRequest struct {
	Description swarm.NodeDescription `json:"description"`
	// Addr is where the node's agent serves NodeLogsPath (host:port).
	Addr string `json:"addr"`
}

// SessionReply names the session the node's later calls carry.
type SessionReply struct {
	SessionID string `json:"session_id"`
	NodeID    string `json:"node_id"`
	// HeartbeatPeriod is how often the node must call AssignmentsPath at
	// least; the dispatcher marks a node down after a few missed periods.
	HeartbeatPeriod time.Duration  `json:"heartbeat_period"`
	Role            swarm.NodeRole `json:"role"`
	// Managers are the API addresses of the managers, to fail over to.
	Managers []string `json:"managers,omitempty"`
}

// AssignmentsRequest asks for the node's assignments once they differ
// from the set numbered Since; 0 asks for them at once. The call returns
// after at most one heartbeat period even when nothing changed.
type AssignmentsRequest struct {
	SessionID string `json:"session_id"`
	Since     uint64 `json:"since"`
}

// Assignments is the whole set of what a node must run: every task the
// store places on it, and exactly the secrets and configs those tasks
// reference. A task absent from the set no longer exists; its container
// goes.
type Assignments struct {
	// Sequence numbers the set; equal sequences are equal sets within one
	// session.
	Sequence uint64       `json:"sequence"`
	Tasks    []swarm.Task `json:"tasks"`
	// Services holds what an agent needs of each assigned task's service.
	Services map[string]AssignedService `json:"services,omitempty"`
	Secrets  []AssignedData             `json:"secrets,omitempty"`
	Configs  []AssignedData             `json:"configs,omitempty"`
	// Role is the node's role now: a worker promoted to manager sees
	// swarm.NodeRoleManager here.
	Role     swarm.NodeRole `json:"role"`
	Managers []string       `json:"managers,omitempty"`
}

// AssignedService is what the agent needs of a task's service: its name,
// for container names, its published ports, and its registry credentials.
type AssignedService struct {
	Name     string              `json:"name"`
	Endpoint *swarm.EndpointSpec `json:"endpoint,omitempty"`
	// Auth is the registry credentials the service was created or updated
	// with (`--with-registry-auth`), as the engine takes them; empty for
	// none.
	Auth string `json:"auth,omitempty"`
}

// LabelRegistryAuth is where a manager's store keeps a service's registry
// credentials: a label on the service spec holding them sealed under the
// cluster key (base64). The Engine API never shows it; the dispatcher
// opens it for the nodes that pull the service's image.
const LabelRegistryAuth = "com.swarmops.registry-auth"

// AssignedData is the plaintext of a secret or config a task references.
// It travels over the session's mutual TLS only and is kept in memory (and
// tmpfs) by the agent.
type AssignedData struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// StatusRequest reports task status changes, oldest first.
type StatusRequest struct {
	SessionID string             `json:"session_id"`
	Updates   []TaskStatusUpdate `json:"updates"`
}

// TaskStatusUpdate is one task's new observed status.
type TaskStatusUpdate struct {
	TaskID string           `json:"task_id"`
	Status swarm.TaskStatus `json:"status"`
}

// LogsQuery is the query of NodeLogsPath (as URL parameters of the same
// names): the task and Docker's log options.
type LogsQuery struct {
	Task       string `json:"task"`
	Follow     bool   `json:"follow"`
	Tail       string `json:"tail"`
	Timestamps bool   `json:"timestamps"`
	Since      string `json:"since"`
}
