// Package api is the swarmops object model.
//
// Services, tasks, nodes, secrets, configs and networks are Docker's own
// types (github.com/docker/docker/api/types/swarm and .../network), so that
// managers can serve Docker's Engine API unchanged and the docker CLI works
// against a swarmops cluster. Beside them live the types Swarm lacks: a
// Stack and its Revisions, the StackSpec a compose file converts to, and the
// ChangeSet that a diff of desired against actual state produces.
//
// The package holds data and validation helpers only: no I/O, no clocks, no
// dependencies on the rest of swarmops.
package api
