// Package scheduler decides which node each pending task runs on. It is
// the scheduler's pure core: Schedule takes the nodes, the tasks already
// placed and the pending tasks with their services, and returns a node for
// every task that fits and, for every task that does not, Swarm's reason
// ("no suitable node (insufficient resources on 2 nodes; ...)"). It reads
// no store, clock or network and writes nothing; the leader's shell
// commits the decisions through Raft after re-checking them.
//
// A node is eligible for a task when it passes, in this order, the filters
// SwarmKit applies: ready and active; CPU, memory and generic-resource
// reservations against what placed tasks already reserve; placement
// constraints; platforms; host-mode published ports; max replicas per node.
// Among eligible nodes the task goes where its service has the fewest tasks,
// then where the node has the fewest tasks overall, then to the lowest node
// ID, so the same input always gives the same answer. Placement preferences
// (spread=node.labels.X or engine.labels.X) first split a service's tasks
// evenly over the values of the label, nodes lacking it forming one more
// group of their own, as SwarmKit's decision tree does.
//
// Decisions in one call see each other: a task placed early counts against
// the reservations, ports and spread of the tasks after it.
package scheduler
