package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/manager"
)

func newJoinCmd() *cobra.Command {
	var (
		dataDir, advertise, listen, hostname, token string
		webhookAddr                                 string
		debug                                       bool
		tuning                                      raftTuning
		agentOpts                                   agentOptions
	)
	cmd := &cobra.Command{
		Use:   "join --token TOKEN --advertise-addr HOST:PORT MANAGER_HOST:PORT",
		Short: "Join a cluster as a worker or, with the manager token, as a manager, and run",
		Long: `Join asks the manager at MANAGER_HOST:PORT to admit this node. The token
decides the role and carries the digest of the cluster's CA: a manager whose
CA does not match is refused before anything is sent to it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				return invalid(errors.New("join: --token is required (see `swarmops join-token worker` on a manager)"))
			}
			if advertise == "" {
				addr, err := inferAdvertise(args[0])
				if err != nil {
					return invalid(fmt.Errorf("join: %w; pass --advertise-addr HOST:PORT, the address the cluster reaches this node at", err))
				}
				advertise = addr
			}
			log := newLogger(cmd.ErrOrStderr(), debug)
			cfg := managerConfig(dataDir, log, tuning, agentOpts)
			id, err := manager.JoinCluster(cmd.Context(), manager.JoinConfig{
				Config:    cfg,
				Remote:    args[0],
				Token:     token,
				Advertise: advertise,
				Listen:    listen,
				Hostname:  hostname,
			})
			if err != nil {
				return err
			}
			if id.Role != ca.RoleManager {
				fmt.Fprintln(cmd.OutOrStdout(), "This node joined a swarm as a worker.")
				return runWorker(cmd.Context(), cfg, log)
			}
			m, err := manager.Open(cfg)
			if err != nil {
				return err
			}
			if err := m.JoinRaft(cmd.Context(), args[0]); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			if err := serveWebhooks(cmd.Context(), webhookAddr, m, log); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "This node joined a swarm as a manager.")
			return untilSignal(cmd.Context(), m, log)
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVar(&token, "token", "", "the worker or manager join token")
	cmd.Flags().StringVar(&advertise, "advertise-addr", "", "HOST:PORT the cluster reaches this node at (default: this machine's address toward the manager, port "+defaultPort+")")
	cmd.Flags().StringVar(&listen, "listen-addr", "", "address to bind (default: the advertise address)")
	cmd.Flags().StringVar(&hostname, "hostname", "", "the node's name (default: the machine's hostname)")
	cmd.Flags().BoolVar(&debug, "debug", false, "log at debug level")
	cmd.Flags().StringVar(&webhookAddr, "webhook-addr", "", "HOST:PORT to receive git webhooks on, when this node joins as a manager (plain HTTP)")
	tuning.addFlags(cmd)
	agentOpts.addFlags(cmd)
	return cmd
}

// runWorker keeps a worker in touch with the managers until SIGTERM. If
// the cluster promotes it, it carries on as a manager.
func runWorker(ctx context.Context, cfg manager.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := manager.RunWorker(ctx, manager.WorkerConfig{Config: cfg})
	if err != nil || m == nil {
		return err
	}
	log.Info("this node is now a manager", "node", m.Identity().NodeID)
	return untilSignal(ctx, m, log)
}

func newJoinTokenCmd() *cobra.Command {
	var (
		dataDir string
		rotate  bool
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "join-token worker|manager",
		Short: "Print, or with --rotate replace, a join token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role := args[0]
			if role != "worker" && role != "manager" {
				return invalid(fmt.Errorf("join-token: unknown role %q: worker or manager", role))
			}
			cli, err := newAPIClient(dataDir)
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx := cmd.Context()
			if rotate {
				if err := cli.rotateToken(ctx, role); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(cmd.OutOrStdout(), "Successfully rotated %s join token.\n\n", role)
				}
			}
			sw, err := cli.SwarmInspect(ctx)
			if err != nil {
				return fmt.Errorf("join-token: %w", err)
			}
			tok := sw.JoinTokens.Worker
			if role == "manager" {
				tok = sw.JoinTokens.Manager
			}
			out := cmd.OutOrStdout()
			if quiet {
				fmt.Fprintln(out, tok)
				return nil
			}
			fmt.Fprintf(out, "To add a %s to this swarm, run the following command:\n\n    %s\n\n", role, joinCommand(tok, cli.addr))
			return nil
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the token; the old one stops working at once")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the token only")
	return cmd
}

// defaultPort is the port a node listens on when --advertise-addr names
// none.
const defaultPort = "4243"

// inferAdvertise picks the address this machine reaches remote from, as
// `docker swarm join` does when no advertise address is given: the local
// address of a route to the manager, with the default port. No packet is
// sent.
func inferAdvertise(remote string) (string, error) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return "", fmt.Errorf("manager address %q: want HOST:PORT", remote)
	}
	conn, err := net.Dial("udp", net.JoinHostPort(host, defaultPort))
	if err != nil {
		return "", fmt.Errorf("no route to the manager %s to choose this node's address from: %w", host, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	return net.JoinHostPort(local.IP.String(), defaultPort), nil
}
