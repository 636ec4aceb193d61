// Package exec is the agent's plain-process runtime: it runs a task's
// command (ContainerSpec.Command then Args) as an ordinary process of the
// host, for hosts without Docker and for fast tests. Its API mirrors
// agent/docker's so that one executor drives both; which runtime a service
// gets is the executor's choice (x-swarmops: {driver: exec}), not this
// package's.
//
// The image is ignored: a stack keeps one so that the same service can run
// under Docker elsewhere. There is no isolation, no TTY, no healthcheck,
// no networks, mounts, secrets or configs: a process gets its Env (over the
// agent's PATH), its Dir and nothing else.
//
// Every task lives in a directory of the state dir named by its task ID,
// holding the spec, the process's pid and start time, its exit code and its
// stdout and stderr files. The runtime keeps no other state, so a Runtime
// created on the same state dir (a restarted agent) finds its processes
// again; the start time read from /proc guards against a recycled pid. The
// process runs under a small /bin/sh wrapper that writes the exit code to
// the task dir, so that code survives the agent that started it.
package exec
