// Package orchestrator decides, for one service at a time, which tasks must
// exist and what each task's desired state is: slots 1..N for replicated
// services, one task per eligible node for global services, iterations run to
// completion for replicated and global jobs, Swarm's restart policy, tasks
// moved off down and drained nodes, the per-slot task history, and the
// rolling replacement of out-of-date tasks, paced by the rollout engine
// (package deploy), whose decisions it applies.
//
// It is the orchestrator loop's pure core: Reconcile takes a snapshot (the
// service, its tasks, the nodes, the time) and returns a Plan. It must not read
// the store, commit through Raft, read the clock or choose nodes for
// replicated tasks — the shell that owns the loop applies the plan, and the
// scheduler places the tasks. Behaviour follows SwarmKit's replicated, global
// and jobs orchestrators, its restart supervisor and its task reaper.
//
// Facts SwarmKit keeps in memory are kept on the tasks instead, so that a
// new leader (or a stateless shell) reaches the same decisions: a replacement
// task's labels name the task it replaces (LabelRestartOf,
// deploy.LabelUpdateOf) and the time it may start (LabelStartAfter), and the
// rollout engine's labels (deploy.LabelRollout, LabelUpdatedAt, LabelFailed)
// record a rollout's progress.
package orchestrator
