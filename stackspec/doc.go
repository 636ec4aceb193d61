// Package stackspec turns compose stack files into the Docker Engine API
// specs that `docker stack deploy` would create from them, and compares
// specs.
//
// Load reads one or more compose files with compose-go (interpolation, .env
// and env_file, anchors and merge keys, x- extensions, later files
// overriding earlier ones) and reports every problem it finds, each placed
// at its file, line, column and field path. Convert maps the loaded project
// to services, networks, secrets and configs field for field as Docker's own
// converter does; docs/compat.md lists where swarmops deliberately differs.
// What Swarm has no key for comes from x-swarmops blocks, on a service or
// for the whole stack: the runtime driver and the rollout's health gates,
// written as labels the agent and the rollout engine read.
// Digest hashes a normalised spec and Diff plans the changes from an actual
// stack to a desired one.
//
// The package is pure: it reads the files it is given and the environment
// it is passed, and never talks to a cluster.
package stackspec
