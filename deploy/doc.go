// Package deploy is the rollout engine: rolling updates, rollbacks, health
// gates and failure accounting, as a pure state machine the orchestrator
// drives. It takes a service's old and new spec, its tasks and the time,
// and returns actions; all progress lives in the store, so a new leader
// resumes a rollout where the old one stopped.
package deploy
