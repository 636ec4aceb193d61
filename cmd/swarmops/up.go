package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/cluster/manager"
)

// exampleStack is the stack a new repository of `swarmops up` starts with.
const exampleStack = `# A stack: every directory holding a compose.yml is a stack named after the
# directory (this one is "hello"). Commit a change and swarmops rolls it out;
# a release that fails its healthcheck or crashes is rolled back by itself.
#
# Try it:
#   1. change the replicas or the image tag below, then
#        git commit -am "scale hello" 
#   2. watch it converge:  swarmops status hello
services:
  web:
    image: nginx:alpine
    ports:
      - "8080:80"
    deploy:
      replicas: 2
      update_config:
        parallelism: 1
        delay: 5s
        order: start-first
# Beyond Swarm (per service, or for the whole stack at the top level):
#    x-swarmops:
#      min_healthy_time: 10s     # a new task must stay up this long
#      healthy_deadline: 2m      # ... and be healthy within this
#      auto_rollback: true       # the default for stacks from git
`

func newUpCmd() *cobra.Command {
	var (
		dataDir, repoPath, advertise string
		debug                        bool
		agentOpts                    agentOptions
		webhookAddr                  string
		poll                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up [--repo PATH] [--data-dir DIR]",
		Short: "Run a single-node cluster that deploys the stacks of a local git repository",
		Long: `Up runs one process that is a manager and a worker: it creates the cluster in
--data-dir the first time (later it starts it again from there) and follows
the git repository at --repo, creating it with an example stack if PATH is not
a repository yet. Commit to the repository and watch the cluster follow with
` + "`swarmops status`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := newLogger(cmd.ErrOrStderr(), debug)
			out := cmd.OutOrStdout()
			if err := checkEngine(ctx, agentOpts.engine); err != nil {
				return err
			}
			abs, created, err := ensureRepo(repoPath)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(out, "Created a git repository with an example stack at %s\n", abs)
			}
			cfg := managerConfig(dataDir, log, raftTuning{}, agentOpts)
			var m *manager.Manager
			if _, err := (manager.DataDir{Dir: dataDir}).LoadIdentity(); err == nil {
				m, err = manager.Open(cfg)
				if err != nil {
					return err
				}
			} else {
				m, err = manager.Init(ctx, manager.InitConfig{Config: cfg, Advertise: advertise})
				if err != nil {
					return err
				}
			}
			if err := setRepoInProcess(ctx, m, repoOptions{url: abs, poll: poll}); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			if err := serveWebhooks(ctx, webhookAddr, m, log); err != nil {
				m.Shutdown(context.Background())
				return err
			}
			fmt.Fprintf(out, "swarmops is up: following %s (polled every %s).\n\n", abs, poll)
			fmt.Fprintf(out, "In another shell:\n    swarmops status --data-dir %s\n    eval \"$(swarmops env --data-dir %s)\" && docker service ls\n\n", dataDir, dataDir)
			return untilSignal(ctx, m, log)
		},
	}
	addDataDirFlag(cmd, &dataDir)
	cmd.Flags().StringVar(&repoPath, "repo", "swarmops-repo", "the local git repository to follow (created with an example stack if missing)")
	cmd.Flags().StringVar(&advertise, "advertise-addr", "127.0.0.1:4243", "HOST:PORT the manager listens at")
	cmd.Flags().DurationVar(&poll, "poll-interval", 2*time.Second, "how often to look at the repository's head")
	cmd.Flags().StringVar(&webhookAddr, "webhook-addr", "", "HOST:PORT to receive git webhooks on (plain HTTP)")
	cmd.Flags().BoolVar(&debug, "debug", false, "log at debug level")
	agentOpts.addFlags(cmd)
	return cmd
}

// checkEngine makes sure the Docker engine answers, unless tasks are to
// run without one.
func checkEngine(ctx context.Context, engine string) error {
	if engine == "none" {
		return nil
	}
	c, err := client.NewClientWithOpts(client.WithHost(engine), client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx); err != nil {
		return fmt.Errorf("up: no Docker engine answers at %s (%v).\n"+
			"Start Docker (or install it: https://docs.docker.com/engine/install/), or point --engine at one;\n"+
			"with --engine none only stacks that set `x-swarmops: {driver: exec}` can run", engine, err)
	}
	return nil
}

// ensureRepo returns the absolute path of the repository at path, creating
// it with the example stack when path holds none.
func ensureRepo(path string) (string, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, err
	}
	if _, err := git.PlainOpen(abs); err == nil {
		return abs, false, nil
	} else if !errors.Is(err, git.ErrRepositoryNotExists) {
		return "", false, fmt.Errorf("up: %s: %w", abs, err)
	}
	repo, err := git.PlainInitWithOptions(abs, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		return "", false, fmt.Errorf("up: create a repository at %s: %w", abs, err)
	}
	dir := filepath.Join(abs, "stacks", "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(exampleStack), 0o644); err != nil {
		return "", false, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", false, err
	}
	if _, err := wt.Add("stacks/hello/compose.yml"); err != nil {
		return "", false, err
	}
	sig := &object.Signature{Name: "swarmops up", Email: "swarmops@localhost", When: time.Now()}
	if _, err := wt.Commit("Add an example stack", &git.CommitOptions{Author: sig}); err != nil {
		return "", false, fmt.Errorf("up: commit the example stack: %w", err)
	}
	return abs, true, nil
}
