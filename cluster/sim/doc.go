// Package sim is a deterministic simulation of a swarmops cluster's
// leader: the real store (every write a batch applied at an increasing
// index and a fake time), the real dispatcher core (registration,
// heartbeats and their expiry, assignments, status reports batched into
// one entry) and the real control loop (constraint enforcer, orchestrator
// and scheduler, committing version-checked batches), driven by simulated
// agents that run containers through accepted, preparing, ready, starting
// and running — to completion for jobs — and sometimes fail them.
//
// Services come in every mode (replicated, global, replicated job with
// max_concurrent and total_completions, global job) with a random mix of
// zone and role constraints, CPU and memory reservations, host-mode
// published ports, max replicas per node, and restart policies with a
// condition, a delay, max_attempts and a window. Seeded faults happen
// between steps: containers crash, agent processes crash (their containers
// keep running and are reported again), nodes are cut off — sometimes
// rebooted, losing their containers — and are marked down by the
// dispatcher, then come back; nodes are drained, paused and made active,
// lose and gain labels, change role, come back with less memory; services
// are created, scaled, removed, get new constraints, and jobs run again;
// the leader changes (the dispatcher's sessions and the loop's memory are
// thrown away and rebuilt from the store); and agents' status reports land
// while the loop's batches are in flight, so that its plans go stale.
//
// Rollouts run through the same loop (the real rollout engine, deploy):
// services carry random update_config and rollback_config blocks (any
// parallelism, delay, monitor, order, failure_action, max_failure_ratio),
// health-gate labels and healthchecks; the faults update their image — to
// a good release, to one that crashes soon after it runs, or to one whose
// healthcheck never passes — and roll them back by hand, every write made
// as the API makes it (the previous spec kept, the update status reset);
// healthy containers turn unhealthy, and tasks with a healthcheck take a
// while to pass it.
//
// After every step the invariants are checked: states only move forward;
// no slot (node, for global services; per job run) has two tasks meant to
// run; nothing is placed on a node that is not ready and active, nor left
// meant to run on a down or drained one; every task on an active node
// meets its service's constraints; no node's tasks reserve more than it
// has, publish one host port twice, or exceed a service's max replicas; a
// job run never completes more tasks than total_completions nor runs more
// than max_concurrent; no task is restarted beyond max_attempts within the
// window. And the rollout properties (rollouts.go): outside a start-first
// overlap no slot has two tasks meant to run, and a replacement starts
// beside the task it replaces only under order start-first; a stop-first
// rollout has no more than parallelism of its replacements on their way,
// so no more slots are down because of it; a finished rollback runs
// exactly the spec the simulation knows it had to restore; a paused
// update (or rollback) makes no replacement and stops no task that serves
// its slot alone. Once the faults stop and the cluster is quiet, every
// service must have converged: its replicas running, its job runs done —
// except where the restart policy gave up, or a task waits for a node that
// the simulation, judging independently of the scheduler, agrees none can
// give (a start-first replacement, for one, waiting for room beside the
// task it replaces, as in Swarm).
//
// With Config.GitOps the git reconciler runs in the loop too (the same
// reconciler.Stepper the leader runs, writing through a Writer over the
// store): an in-memory repository gets random commits (releases, broken
// files, failing releases, reverts, restores of older commits), operators
// edit services by hand, retry stacks and roll services back, and every
// step checks that a broken commit changes nothing, that no revision is
// applied again after it rolled back unless retried, that the
// reconciler never writes again a spec a rollback just undid, and that it
// never writes over a hand change under the same head without self_heal
// (but while a deployment is in flight, or rollback_stack holds a
// quarantined stack at its last good revision); once quiet,
// each stack runs its last good, non-quarantined revision
// (`go test ./cluster/sim -run TestGitOpsSimulation -gitops-seeds N`).
//
// Everything is driven from one seeded math/rand/v2 source and a fake
// clock, with no goroutines: a seed replays exactly.
package sim
