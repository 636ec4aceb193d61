// Package executor follows one task on this node through Swarm's
// forward-only states (assigned, accepted, preparing, ready, starting,
// running, then complete, failed, shutdown or rejected), driven by the
// task's desired state, and reports every state change with Swarm's status
// messages.
//
// Its core is the pure step Next: from a task and what the runtime just
// reported it returns the next action and the task's new status, touching
// no runtime, store or clock. Run is the thin shell that applies those
// actions to a Runtime (agent/docker or agent/exec) and reports. The
// package decides nothing about restarts or placement: a failed task stays
// failed, and the orchestrator makes a new one.
package executor
