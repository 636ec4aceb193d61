// Package control is the leader's control loop: the constraint enforcer, the
// orchestrator and the scheduler run over one store snapshot at a time, and
// their decisions are committed through Raft as version-checked batches.
//
// The planners are pure functions of a Snapshot and the time: Enforce says
// which placed tasks their node no longer admits, Orchestrate turns the
// orchestrator's per-service plans (and the enforcer's rejections) into
// mutations — the rollout engine's decisions among them, including its
// writes of a service's update status and, for a rollback, its spec —
// and Schedule turns the scheduler's decisions into mutations. They
// read no store and no clock. The deterministic simulation (cluster/sim)
// drives the same Loop the leader runs, through Settle, with a fake clock
// and a simulated Raft.
//
// The shell, Loop, reads a snapshot, plans, commits and repeats until a pass
// changes nothing, then sleeps until the store changes (a burst of changes
// is coalesced into one pass), a restart delay ends, or its context is
// cancelled. Its only memory is when to wake: a new leader builds a new Loop
// and reaches the same decisions from the store alone. Decisions are
// committed in small groups (a replacement with the shutdown of the task it
// replaces; everything else alone), packed into batches. A plan made from a
// snapshot the store has since moved past fails its version checks
// (store.ErrVersionConflict); the refused batch is re-checked against the
// store, its stale groups are left to the next pass, which plans them again
// from a fresh snapshot, and the rest is proposed again — so agents'
// status reports landing on a few tasks never hold back the others.
//
// The package must not decide what the orchestrator and scheduler decide
// (that is their packages' job) nor talk to Raft other than through the
// Propose function it is given.
package control
