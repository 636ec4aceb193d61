// Package e2e holds the end-to-end tests: real binaries, real git, a real
// Docker engine, the real docker CLI. They live in _test.go files; this
// package has no code of its own.
//
// A test that needs the Docker engine or the docker CLI fails when CI=true
// and it is missing; elsewhere it skips, naming what is missing.
//
// TestDockerStackDeployMatchesConvert deploys every shared stack with
// `docker stack deploy` on a swarm-mode engine and compares what Docker
// created with stackspec's conversion. With -update it rewrites
// stackspec/testdata/docker/*.json, the recorded truth that stackspec's
// compat test replays offline.
//
// The cluster tests build the swarmops binary once (harness_test.go) and
// run managers and workers as separate processes on loopback:
// TestDockerCLIMatchesSwarm compares the docker CLI's output against a
// transcript recorded from real Swarm on this machine
// (testdata/dockercli/swarm.golden; -dockercli.record re-records it);
// TestDockerCLINodes drives availability, promotion and demotion;
// cluster_test.go kills leaders, restarts nodes from their log and from a
// snapshot, and takes the quorum away; security_test.go shows every route
// refuses strangers and that secret plaintext reaches no disk;
// rollout_test.go rolls services between release images of e2e/workload
// (one that crashes, one never healthy) with the docker CLI on a
// terminal, as seed 004's walkthrough does, and kills the leader
// mid-rollout; gitops_test.go pushes stack files with the git CLI to a
// bare repository the cluster follows (releases, a crashing release rolled
// back and quarantined, a revert, broken YAML, a hand change shown as drift
// and healed, a changed secret file, webhooks, a leader killed during a
// git-driven rollout). The benchmarks in bench_test.go measure API writes and
// failover (docs/bench.md).
package e2e
