package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/agent/docker"
	agentexec "github.com/swarmops/swarmops/agent/exec"
	"github.com/swarmops/swarmops/agent/runtime"
	"github.com/swarmops/swarmops/agent/worker"
	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/manager"
)

// agentOptions are the flags of the node's agent, on every command that
// runs a node.
type agentOptions struct {
	// engine is the Docker engine the docker runtime drives; "none" runs
	// without it (exec tasks only).
	engine string
	// secretsDir is the tmpfs directory secrets and configs are written to.
	secretsDir string
}

func (o *agentOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.engine, "engine", "unix:///var/run/docker.sock", `the Docker engine tasks run on ("none": run exec tasks only)`)
	cmd.Flags().StringVar(&o.secretsDir, "secrets-dir", defaultSecretsDir(), "tmpfs directory for the secrets and configs of the node's tasks (mounted as tmpfs when root)")
}

// defaultSecretsDir is a directory on tmpfs, so secret data never reaches
// a disk: /run/swarmops/secrets for root (mounted as tmpfs if /run is not
// one), else under $XDG_RUNTIME_DIR or /dev/shm.
func defaultSecretsDir() string {
	if os.Geteuid() == 0 {
		return "/run/swarmops/secrets"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "swarmops", "secrets")
	}
	return fmt.Sprintf("/dev/shm/swarmops-%d/secrets", os.Getuid())
}

// nodeAgent is the agent every node runs: agent/worker with the exec
// runtime, and the docker runtime when the engine answers.
func nodeAgent(dataDir string, o agentOptions, log *slog.Logger) manager.Agent {
	return func(ctx context.Context, env manager.AgentEnv) error {
		log := log.With("component", "agent")
		node := runtime.Node{ID: env.NodeID, Hostname: env.Hostname, Platform: runtime.ThisNode(env.NodeID).Platform}
		runtimes := map[string]worker.Runtime{
			"exec": worker.Exec(agentexec.New(filepath.Join(dataDir, "exec"), env.NodeID, agentexec.Options{SecretsDir: o.secretsDir, Node: node})),
		}
		desc := describeNode(env.Hostname)
		if cli, info, err := dialEngine(ctx, o.engine); err != nil {
			log.Warn("no Docker engine: this node runs exec tasks only; tasks of the docker driver are rejected", "engine", o.engine, "err", err)
		} else {
			defer cli.Close()
			runtimes["docker"] = worker.Docker(docker.New(cli, env.NodeID, docker.Options{SecretsDir: o.secretsDir, Node: node}))
			desc.Engine.EngineVersion = info.ServerVersion
			desc.Engine.Labels = engineLabels(info.Labels)
		}
		a, err := worker.New(worker.Config{
			Managers:    env.Managers,
			TLS:         env.TLS,
			Description: desc,
			Addr:        env.Addr,
			Runtimes:    runtimes,
			Role:        env.Role,
			OnRole:      env.OnRole,
			Logger:      log,
		})
		if err != nil {
			return err
		}
		// The node's listener lets managers alone reach the handler.
		env.Handle(api.NodeLogsPath, a.LogsHandler(func(*http.Request) error { return nil }))
		return a.Run(ctx)
	}
}

// engineInfo is what the node takes from the engine's /info.
type engineInfo struct {
	ServerVersion string
	Labels        []string
}

// dialEngine connects to the Docker engine at host, or says why not.
func dialEngine(ctx context.Context, host string) (*client.Client, engineInfo, error) {
	if host == "" || host == "none" {
		return nil, engineInfo{}, fmt.Errorf("--engine=%q", host)
	}
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, engineInfo{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := cli.Info(pctx)
	if err != nil {
		cli.Close()
		return nil, engineInfo{}, err
	}
	return cli, engineInfo{ServerVersion: info.ServerVersion, Labels: info.Labels}, nil
}

// describeNode is the node as its agent registers it: name, platform and
// what the scheduler may reserve. The engine fields are filled in when an
// engine answers; without one, the engine version is swarmops's.
func describeNode(hostname string) swarm.NodeDescription {
	p := runtime.ThisNode("").Platform
	return swarm.NodeDescription{
		Hostname: hostname,
		Platform: swarm.Platform{Architecture: p.Architecture, OS: p.OS},
		Resources: swarm.Resources{
			NanoCPUs:    int64(goruntime.NumCPU()) * 1e9,
			MemoryBytes: manager.MemoryBytes(),
		},
		Engine: swarm.EngineDescription{EngineVersion: manager.Version},
	}
}

// engineLabels turns the engine's "key=value" labels into a map, as node
// descriptions hold them (constraints read engine.labels.key).
func engineLabels(labels []string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	out := make(map[string]string, len(labels))
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}
