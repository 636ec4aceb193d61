// Package worker is the agent's session with the leader and the owner of
// the tasks this node runs.
//
// Run registers the node with the managers (following the leader they
// name and failing over across them), long-polls its assignments (every
// call a heartbeat), keeps one executor per assigned task fed with the
// task's desired state, and reports every status change back, batched and
// in order. A task that leaves the assignments is stopped and removed.
// When it starts, before running anything, the agent adopts what its
// runtimes already hold: the container (or process) of a task still
// assigned is followed where it is, never restarted, and any other is
// stopped and removed, so an agent killed and restarted leaves its tasks
// running. LogsHandler serves the managers the logs of the tasks it runs.
//
// The store on the managers is the source of truth: the agent keeps no
// state of its own on disk, and a restarted agent learns its tasks' last
// reported statuses from its first assignments. It decides nothing about
// placement or restarts (a failed task stays failed; the orchestrator
// makes another), and it talks to the managers only through the
// dispatcher's wire protocol in package api, never to cluster packages.
package worker
