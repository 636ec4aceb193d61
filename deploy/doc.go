// Package deploy is the rollout engine: rolling updates, rollbacks, health
// gates and failure accounting, as a pure state machine the orchestrator
// drives. It takes a service's old and new spec, its tasks and the time,
// and returns actions; all progress lives in the store, so a new leader
// resumes a rollout where the old one stopped.
//
// Step follows SwarmKit's updater (manager/orchestrator/update): Swarm's
// update_config and rollback_config with Swarm's defaults, its
// UpdateStatus states and messages, and its failure accounting. What the
// updater keeps in memory — which tasks this rollout made, when each came
// to count as updated, which the health gates failed — is kept on the
// tasks as labels (LabelUpdateOf, LabelRollout, LabelUpdatedAt,
// LabelFailed) that the orchestrator writes as Decisions ask. Beyond Swarm,
// the service labels LabelMinHealthyTime, LabelHealthyDeadline,
// LabelProgressDeadline and LabelAutoRollback gate a rollout on its tasks'
// health, as Nomad's update stanza does.
//
// The package must not read the store or the clock, nor decide what the
// orchestrator decides (slots, restarts, placement): it only paces the
// replacement of out-of-date tasks and judges the result.
package deploy
