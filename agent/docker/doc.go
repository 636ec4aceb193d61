// Package docker is the agent's Docker engine runtime: it turns a
// swarm.Task into a container the way Swarm's executor does (name, labels,
// config and host config, Swarm's templates, host-mode published ports),
// pulls the image only when it is missing, starts, follows, stops and
// removes that container, lists the containers an agent owns so a
// restarted agent can adopt them, and streams their logs.
//
// A task's secrets and configs are written to a directory on tmpfs
// (Options.SecretsDir, one directory per task) and bind-mounted read-only
// at Swarm's targets: a secret at /run/secrets/<target> unless the target
// is absolute, a config at /<target> unless absolute. Their data never
// reaches a disk: a runtime whose directory is not on tmpfs, and cannot
// mount one there, refuses the tasks that reference any. The files outlive
// the agent, so adopted containers keep theirs; Remove deletes them.
//
// It holds no task state of its own: every container is found again by its
// com.docker.swarm.task.id label, so a Runtime can be recreated at any time.
// It does not decide anything (restart policy, desired state and task
// states belong to the executor that calls it), and it does not touch
// networks: ports published in ingress mode belong to the routing mesh.
package docker
