package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/manager"
	"github.com/swarmops/swarmops/cluster/raftnode"
)

// defaultDataDir is where a node keeps its state when --data-dir is not
// given: $SWARMOPS_DATA_DIR, else /var/lib/swarmops for root and
// ~/.swarmops for anyone else.
func defaultDataDir() string {
	if d := os.Getenv("SWARMOPS_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/swarmops"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".swarmops")
	}
	return ".swarmops"
}

func addDataDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "data-dir", defaultDataDir(), "the node's state directory (env SWARMOPS_DATA_DIR)")
}

func newLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// untilSignal runs until SIGINT or SIGTERM, then shuts the manager down.
// If the cluster demotes the node meanwhile, it shuts the manager down and
// carries on as a worker.
func untilSignal(ctx context.Context, m *manager.Manager, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	demoted := false
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-m.Demoted():
		demoted = true
		log.Info("demoted to worker: leaving the managers")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Shutdown(sctx); err != nil || !demoted {
		return err
	}
	if err := m.BecomeWorker(); err != nil {
		return err
	}
	return runWorker(ctx, m.Config(), log)
}

func newInitCmd() *cobra.Command {
	var (
		dataDir, advertise, listen, hostname string
		debug                                bool
		tuning                               raftTuning
		agentOpts                            agentOptions
		repo                                 repoOptions
		webhookAddr                          string
	)
	cmd := &cobra.Command{
		Use:   "init --advertise-addr HOST:PORT [--git URL [--branch B] [--path P]]",
		Short: "Create a cluster with this node as its first manager, and run it",
		Long: `Init creates a cluster in an empty data directory: a CA, this node's
certificate, the worker and manager join tokens, and a client certificate for
the CLI. It then runs the manager in the foreground until SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if advertise == "" {
				return invalid(errors.New("init: --advertise-addr HOST:PORT is required: the address other nodes and the docker CLI reach this manager at"))
			}
			log := newLogger(cmd.ErrOrStderr(), debug)
			m, err := manager.Init(cmd.Context(), manager.InitConfig{
				Config:    managerConfig(dataDir, log, tuning, agentOpts),
				Advertise: advertise,
				Listen:    listen,
				Hostname:  hostname,
			})
			if err != nil {
				return err
			}
			tokens, err := m.JoinTokens()
			if err != nil {
				m.Shutdown(context.Background())
				return err
			}
			if repo.url != "" {
				if err := setRepoInProcess(cmd.Context(), m, repo); err != nil {
					m.Shutdown(context.Background())
					return err
				}
			}
			if err := serveWebhooks(cmd.Context(), webhookAddr, m, log); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Swarm initialized: current node (%s) is now a manager.\n\n", m.Identity().NodeID)
			fmt.Fprintf(out, "To add a worker to this swarm, run the following command:\n\n")
			fmt.Fprintf(out, "    %s\n\n", joinCommand(tokens.Worker, advertise))
			fmt.Fprintf(out, "To add a manager to this swarm, run 'swarmops join-token manager' and follow the instructions.\n\n")
			fmt.Fprintf(out, "To point the docker CLI at this swarm, run:\n\n    eval \"$(swarmops env --data-dir %s)\"\n\n", dataDir)
			return untilSignal(cmd.Context(), m, log)
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVar(&advertise, "advertise-addr", "", "HOST:PORT other nodes and clients reach this manager at")
	cmd.Flags().StringVar(&listen, "listen-addr", "", "address to bind (default: the advertise address)")
	cmd.Flags().StringVar(&hostname, "hostname", "", "the node's name (default: the machine's hostname)")
	cmd.Flags().BoolVar(&debug, "debug", false, "log at debug level")
	cmd.Flags().StringVar(&webhookAddr, "webhook-addr", "", "HOST:PORT to receive git webhooks on (plain HTTP)")
	tuning.addFlags(cmd)
	agentOpts.addFlags(cmd)
	repo.addFlags(cmd)
	return cmd
}

func newDaemonCmd() *cobra.Command {
	var (
		dataDir     string
		debug       bool
		tuning      raftTuning
		agentOpts   agentOptions
		webhookAddr string
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Start this node again from its data directory, and run it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(cmd.ErrOrStderr(), debug)
			id, err := (manager.DataDir{Dir: dataDir}).LoadIdentity()
			if err != nil {
				return err
			}
			if id.Role != ca.RoleManager {
				return runWorker(cmd.Context(), managerConfig(dataDir, log, tuning, agentOpts), log)
			}
			m, err := manager.Open(managerConfig(dataDir, log, tuning, agentOpts))
			if err != nil {
				return err
			}
			if err := serveWebhooks(cmd.Context(), webhookAddr, m, log); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			return untilSignal(cmd.Context(), m, log)
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().BoolVar(&debug, "debug", false, "log at debug level")
	cmd.Flags().StringVar(&webhookAddr, "webhook-addr", "", "HOST:PORT to receive git webhooks on (plain HTTP)")
	tuning.addFlags(cmd)
	agentOpts.addFlags(cmd)
	return cmd
}

func newEnvCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the variables that point the docker CLI at this cluster",
		Long:  "Use it as: eval \"$(swarmops env)\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := manager.DataDir{Dir: dataDir}
			id, err := dir.LoadIdentity()
			if err != nil {
				return err
			}
			certs, err := filepath.Abs(dir.Certs().ClientDir())
			if err != nil {
				return err
			}
			if _, err := os.Stat(dir.Certs().ClientCertFile()); err != nil {
				return fmt.Errorf("env: %s has no client certificate: run it on the manager that ran `swarmops init`, or copy its client directory", dataDir)
			}
			host := id.Advertise
			if h, p, err := net.SplitHostPort(host); err == nil {
				host = net.JoinHostPort(h, p)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "export DOCKER_HOST=%s\n", shellQuote("tcp://"+host))
			fmt.Fprintf(out, "export DOCKER_TLS_VERIFY=1\n")
			fmt.Fprintf(out, "export DOCKER_CERT_PATH=%s\n", shellQuote(certs))
			fmt.Fprintf(out, "# Run this command to configure your shell:\n# eval \"$(swarmops env --data-dir %s)\"\n", dataDir)
			return nil
		},
	}
	addDataDirFlag(cmd, &dataDir)
	return cmd
}

func managerConfig(dataDir string, log *slog.Logger, tuning raftTuning, agent agentOptions) manager.Config {
	return manager.Config{DataDir: dataDir, Logger: log, Agent: nodeAgent(dataDir, agent, log), GitOps: gitopsHook, HeartbeatPeriod: tuning.heartbeatPeriod, Timeouts: raftnode.Timeouts{
		SnapshotThreshold: tuning.snapshotThreshold,
		SnapshotInterval:  tuning.snapshotInterval,
		TrailingLogs:      tuning.trailingLogs,
	}}
}

// raftTuning is set by hidden flags that make Raft snapshot after a few
// entries and keep few behind, so the end-to-end tests can force a
// snapshot, and a follower's catch-up from one, without writing thousands
// of entries. Zero keeps the defaults, which operators have no reason to
// change.
type raftTuning struct {
	snapshotThreshold, trailingLogs uint64
	snapshotInterval                time.Duration
	// heartbeatPeriod is how often agents must reach the leader; a node
	// silent for three periods is down.
	heartbeatPeriod time.Duration
}

func (r *raftTuning) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Uint64Var(&r.snapshotThreshold, "raft-snapshot-threshold", 0, "snapshot once this many entries are new (testing)")
	f.DurationVar(&r.snapshotInterval, "raft-snapshot-interval", 0, "how often to check whether to snapshot (testing)")
	f.Uint64Var(&r.trailingLogs, "raft-trailing-logs", 0, "entries kept behind a snapshot (testing)")
	f.DurationVar(&r.heartbeatPeriod, "heartbeat-period", 0, "how often agents must reach the leader; silent for 3 periods, a node is down (testing; default 5s)")
	for _, name := range []string{"raft-snapshot-threshold", "raft-snapshot-interval", "raft-trailing-logs", "heartbeat-period"} {
		if err := f.MarkHidden(name); err != nil {
			panic(err)
		}
	}
}

func joinCommand(token, addr string) string {
	return fmt.Sprintf("swarmops join --token %s %s", token, addr)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == ':' || r == '-' || r == '_') {
			safe = false
			break
		}
	}
	if safe && s != "" {
		return s
	}
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}
