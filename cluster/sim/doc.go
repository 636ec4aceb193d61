// Package sim is a deterministic simulation of a swarmops cluster's control
// loops: the real store (every write a batch applied at an increasing index
// and a fake time), the real orchestrator and scheduler cores, and simulated
// agents that move their tasks through accepted, preparing, ready, starting
// and running, and sometimes fail them. Seeded faults happen between steps:
// task crashes, agent crashes and restarts, nodes cut off or rebooted and
// back, drain, pause and active, scale changes, services created and removed.
// After every step the invariants Swarm promises are checked, and once the
// faults stop and the cluster is quiet, that every service converged.
//
// Everything is driven from one seeded math/rand/v2 source and a fake clock:
// no goroutines, no wall clock, so a seed replays exactly.
//
// The dispatcher does not exist yet. It is modelled here in a few lines:
// an agent that is alive and reachable heartbeats every step; a node that
// misses heartbeats for HeartbeatTimeout is marked down in the store, and one
// whose agent reaches the managers again is marked ready. Task status updates
// are written one batch per agent per step. When the real dispatcher lands,
// its pure core should replace this model.
//
// Not covered yet: jobs, rolling updates, resource reservations, host ports,
// node label changes (the replicated orchestrator does not move tasks off a
// node whose labels stop matching; SwarmKit's constraint enforcer does),
// restart max_attempts (a slot that gave up never converges), and leader
// changes.
package sim
