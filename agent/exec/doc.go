// Package exec is the agent's plain-process runtime: it runs a task's
// command (ContainerSpec.Command then Args) as an ordinary process of the
// host, for hosts without Docker and for fast tests. Its API mirrors
// agent/docker's so that one executor drives both; which runtime a service
// gets is the executor's choice (x-swarmops: {driver: exec}), not this
// package's.
//
// The image is ignored: a stack keeps one so that the same service can run
// under Docker elsewhere. There is no isolation, no TTY, no healthcheck,
// no networks, published ports or mounts: a process gets its Env (over the
// agent's PATH, with Swarm's templates expanded), its Dir and its files.
//
// Secrets and configs: with no mount namespace to place a file at its
// target, the runtime writes a task's secrets to <secrets dir>/<node ID>/
// <task ID>/secrets/ and its configs to .../configs/, each named by its
// target's base name (/run/secrets/db_pass and db_pass both become
// db_pass; /etc/app/app.conf becomes app.conf; two files of a task with
// one base name are refused), and tells the process where they are in
// SWARMOPS_SECRETS_DIR and SWARMOPS_CONFIGS_DIR, set only when the task
// has files of that kind. The secrets dir must be on tmpfs (Options): the
// data never reaches a disk, and a task directory records only those two
// paths. The reference's mode applies; its owner too when the agent is
// root, and otherwise the files stay the agent's, which the process runs
// as anyway. The files survive an agent restart with the process that
// reads them and go with Remove.
//
// Every task lives in a directory of the state dir named by its task ID,
// holding the spec, the process's pid and start time, its exit code and its
// stdout and stderr files. The runtime keeps no other state, so a Runtime
// created on the same state dir (a restarted agent) finds its processes
// again; the start time read from /proc guards against a recycled pid. The
// process runs under a small /bin/sh wrapper that writes the exit code to
// the task dir, so that code survives the agent that started it.
package exec
