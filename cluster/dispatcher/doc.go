// Package dispatcher is the leader's side of the agents' sessions: a node
// registers (its description and address are recorded, it becomes ready),
// long-polls its assignments — every task the store places on it, its
// services' names and ports, and exactly the secrets and configs those
// tasks reference, decrypted — and reports its tasks' status, which is
// batched from all nodes into few Raft entries. Every call is a heartbeat;
// a node silent for HeartbeatPeriod × GraceMultiplier is marked down.
//
// Heartbeats and sessions live in memory only and die with the leadership
// term: a new leader makes a new Dispatcher, which counts every node as
// just heard from, and agents whose session it does not know register
// again. Only changes of a node's description or status reach Raft, never a
// heartbeat.
//
// The core — Register, Assignments, QueueStatus and Flush, Expire — runs
// no goroutine of its own and takes time from Config.Now, so a simulation
// can drive it with a fake clock; Run adds the leader's two loops (status
// flushing and heartbeat expiry) and Handler the HTTP routes of
// api.SessionPath, api.AssignmentsPath and api.StatusPath.
//
// The package does not replace the tasks of a node it marks down (the
// orchestrator does, seeing the node down), does not talk to Raft other
// than through Config.Propose, and never answers for a follower: which
// manager leads, and the redirect to it, is the caller's business.
package dispatcher
