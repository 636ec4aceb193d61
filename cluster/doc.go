// Package cluster assembles a manager: the Raft node and its FSM, the
// replicated store (typed tables, indexes, watches), membership, the CA and
// join tokens, the API server (Docker's Engine API subset and
// /swarmops/v1) and its client, and, on the leader, the orchestrators, the
// scheduler, the dispatcher and the network allocator.
//
// Control loops keep a pure core (state and now in, actions out) apart from
// the shell that reads the store and commits through Raft.
package cluster
