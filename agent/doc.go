// Package agent is the worker side of swarmops: the session with the
// leader, the task executor, the runtimes (the Docker engine, and plain
// processes), secrets and configs on tmpfs, node DNS and the ingress proxy.
// It depends on api only.
package agent
