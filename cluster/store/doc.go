// Package store is the replicated state of a swarmops cluster: typed tables
// of nodes, services, tasks, secrets, configs, networks, stacks and the
// cluster record, held in go-memdb with the indexes the API and the control
// loops read by.
//
// Every write arrives through Apply as one Raft log entry: a batch of
// mutations, encoded by EncodeBatch on the proposer, applied atomically on
// every replica. Apply consults nothing but its arguments and the current
// state (no clock, no randomness, no IDs of its own), so replicas applying
// the same entries in the same order hold the same state and Save the same
// bytes. Versions are Raft indexes and times are log-entry times for the
// same reason. A mutation may name who asked for it (Mutation.By, the API
// caller); each object keeps the last such name with its time and version
// (ReadTx.Writer), so that a hand-made change stays visible after the
// control loops' own writes.
//
// Objects returned by reads and carried by events are shared with the store
// and with other readers: treat them as immutable and Clone before changing
// one. The package does not talk to Raft, the network or the disk; Save and
// Restore write and read whatever stream they are given.
package store
