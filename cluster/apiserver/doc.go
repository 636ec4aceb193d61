// Package apiserver is the HTTPS API every swarmops manager serves: the
// swarm subset of Docker's Engine API (ping, version, info, swarm, nodes,
// services, tasks, secrets, configs, networks), at /v1.24 to /v1.41 and
// unversioned, so that the docker CLI and the Docker SDKs work against a
// swarmops cluster unchanged; and swarmops's own routes under
// /swarmops/v1 (Raft status, stacks, the join exchange).
//
// Every request needs a client certificate from the cluster CA naming the
// manager or client role; workers are refused with Swarm's "not a swarm
// manager" answer, and a join connection (no certificate yet) reaches the
// join route only. Reads are served from this manager's store. Writes are
// built here (IDs chosen, specs normalized and validated as the daemon and
// SwarmKit do, references resolved) and committed through Raft as one
// store batch; a follower forwards them to the leader with the caller's
// identity, then waits for its own store to apply the entry before
// answering, so the client reads its write back from the manager it asked.
// Service writes also check swarmops's health-gate labels (deploy.Label*),
// and their answers carry Warnings, which the docker CLI prints, where an
// update monitor ends before the service's healthcheck can report a
// failure.
// Status codes and error texts are Docker's, including the "rpc error:
// code = ... desc = ..." form of errors that come from SwarmKit, because
// that is what users and their scripts see from Swarm. Where the daemon
// answers 500 for a client's mistake (a stale version, a bad rollback
// option), this server answers 409 or 400 with the same text.
//
// The package does not run control loops or hold state of its own, and
// reaches agents only through Config.Logs. What it leaves to others, as of
// this version:
//   - Endpoint.VirtualIPs, network subnets and gateways the user did not
//     give, and overlay options (VXLAN IDs) are the network allocator's to
//     fill; published ingress ports without a number are chosen here
//     (30000-32767), as Swarm's allocator chooses them.
//   - Registry credentials (X-Registry-Auth, registryAuthFrom) are sealed
//     into the service spec (api.LabelRegistryAuth), never shown; the
//     dispatcher opens them for the nodes that pull.
//   - Service and task logs are the leader's to fetch, from each task's
//     node through Config.Logs; without one they answer 501.
//   - The caller of every write is recorded in the store with the object
//     (store.Mutation.By, read back with ReadTx.Writer: who last changed a
//     service, and when, for the reconciler's drift report) and logged
//     ("api write" with caller, role and forwarding manager). The leader's
//     own loops call the API in process (Server.InProcess) under their own
//     names.
//   - A removed node's certificate stays valid until it expires: the
//     cluster record has no revocation list yet.
package apiserver
