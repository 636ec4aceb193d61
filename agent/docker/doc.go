// Package docker is the agent's Docker engine runtime: it turns a
// swarm.Task into a container the way Swarm's executor does (name, labels,
// config and host config), pulls the image only when it is missing, starts,
// follows, stops and removes that container, lists the containers an agent
// owns so a restarted agent can adopt them, and streams their logs.
//
// It holds no task state of its own: every container is found again by its
// com.docker.swarm.task.id label, so a Runtime can be recreated at any time.
// It does not decide anything (restart policy, desired state and task
// states belong to the executor that calls it), and it does not touch
// networks, secrets or configs.
package docker
