// Package e2e holds the end-to-end tests: real binaries, real git, a real
// Docker engine. They live in _test.go files; this package has no code of
// its own.
//
// A test that needs the Docker engine fails when CI=true and no engine
// answers; elsewhere it skips, naming what is missing.
//
// TestDockerStackDeployMatchesConvert deploys every shared stack with
// `docker stack deploy` on a swarm-mode engine and compares what Docker
// created with stackspec's conversion. With -update it rewrites
// stackspec/testdata/docker/*.json, the recorded truth that stackspec's
// compat test replays offline.
package e2e
