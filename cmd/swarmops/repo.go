package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/manager"
	"github.com/swarmops/swarmops/cluster/store"
	"github.com/swarmops/swarmops/reconciler"
)

// repoOptions are the flags that set the repository the cluster follows.
type repoOptions struct {
	url, branch, path string
	poll              time.Duration
	tokenFile         string
	username          string
	sshKeyFile        string
	knownHostsFile    string
	webhookSecretFile string
	ageIdentityFile   string
}

func (o *repoOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.url, "git", "", "the repository: https://, ssh://, git@host:path, file:// or a local path")
	f.StringVar(&o.branch, "branch", "", "the branch to follow (default: the remote's default branch)")
	f.StringVar(&o.path, "path", "", "the directory of the repository holding the stacks (default: its root)")
	f.DurationVar(&o.poll, "poll-interval", 0, "how often to ask the remote for its head (default 30s)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding an https token or password (kept as a cluster secret)")
	f.StringVar(&o.username, "username", "", "https user for --token-file (default git)")
	f.StringVar(&o.sshKeyFile, "ssh-key-file", "", "file holding an ssh private key (kept as a cluster secret)")
	f.StringVar(&o.knownHostsFile, "known-hosts-file", "", "known_hosts the ssh server's key must match (without it, host keys are not checked)")
	f.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "file holding the secret webhooks are signed with (GitHub, Gitea) or carry (GitLab)")
	f.StringVar(&o.ageIdentityFile, "age-identity-file", "", "age identity file to decrypt *.age secrets with (kept as a cluster secret, used on managers only)")
}

// request reads the files the flags name into a RepoRequest.
func (o *repoOptions) request() (apiserver.RepoRequest, error) {
	req := apiserver.RepoRequest{Source: api.GitSource{URL: o.url, Branch: o.branch, Path: o.path, PollInterval: o.poll}}
	read := func(flag, path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		return b, nil
	}
	var auth reconciler.Auth
	token, err := read("token-file", o.tokenFile)
	if err != nil {
		return req, err
	}
	auth.Token, auth.Username = string(bytes.TrimSpace(token)), o.username
	if auth.SSHKey, err = read("ssh-key-file", o.sshKeyFile); err != nil {
		return req, err
	}
	if auth.KnownHosts, err = read("known-hosts-file", o.knownHostsFile); err != nil {
		return req, err
	}
	if auth.Token != "" || len(auth.SSHKey) > 0 {
		if req.Credentials, err = json.Marshal(auth); err != nil {
			return req, err
		}
	}
	secret, err := read("webhook-secret-file", o.webhookSecretFile)
	if err != nil {
		return req, err
	}
	req.WebhookSecret = bytes.TrimSpace(secret)
	if req.AgeIdentity, err = read("age-identity-file", o.ageIdentityFile); err != nil {
		return req, err
	}
	if len(req.AgeIdentity) > 0 {
		if _, err := reconciler.ParseIdentities(req.AgeIdentity); err != nil {
			return req, fmt.Errorf("--age-identity-file %s: %w", o.ageIdentityFile, err)
		}
	}
	return req, nil
}

func newRepoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Set the git repository the cluster follows"}
	var (
		flags clusterFlags
		opts  repoOptions
	)
	set := &cobra.Command{
		Use:   "set --git URL [--branch B] [--path P]",
		Short: "Set (or change) the repository, branch and path the cluster deploys from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.url == "" {
				return invalid(errors.New("repo set: --git URL is required"))
			}
			req, err := opts.request()
			if err != nil {
				return invalid(err)
			}
			c, err := flags.client()
			if err != nil {
				return err
			}
			if err := c.call(cmd.Context(), "POST", "/swarmops/v1/repo", nil, req, nil); err != nil {
				return fmt.Errorf("repo set: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The cluster now follows %s; see `swarmops status`.\n", reconciler.RedactURL(opts.url))
			return nil
		},
	}
	flags.add(set)
	opts.addFlags(set)
	cmd.AddCommand(set)
	return cmd
}

// setRepoInProcess sets the repository through m's API, as `repo set`.
func setRepoInProcess(ctx context.Context, m *manager.Manager, opts repoOptions) error {
	req, err := opts.request()
	if err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, "POST", "http://swarmops.invalid/swarmops/v1/repo", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: m.API("init")}).Do(hreq)
	if err != nil {
		return fmt.Errorf("set the repository: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("set the repository: %s", bytes.TrimSpace(msg))
	}
	return nil
}

// gitopsHook runs the reconciler on the leader.
func gitopsHook(env manager.GitOpsEnv) manager.GitOpsTerm {
	w, err := reconciler.NewAPIWriter(env.API)
	if err != nil {
		panic(err) // only options that cannot fail are passed
	}
	return reconciler.New(reconciler.Config{Store: env.Store, Writer: w, Open: env.Open, Dir: env.Dir, Now: env.Now, Logger: env.Logger, Self: manager.ReconcilerCaller})
}

// serveWebhooks serves git webhooks on addr (plain HTTP: put TLS in front
// of it) until ctx ends: a verified push to the followed branch asks the
// leader for a sync at once.
func serveWebhooks(ctx context.Context, addr string, m *manager.Manager, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("webhook listener: %w", err)
	}
	secret := func() []byte {
		var data []byte
		_ = m.Store().View(func(tx store.ReadTx) error {
			sec, err := tx.SecretByName(apiserver.SecretWebhook)
			if err == nil {
				data, _ = m.Sealer().Open(sec.Spec.Data)
			}
			return nil
		})
		return data
	}
	branch := func() string {
		var b string
		_ = m.Store().View(func(tx store.ReadTx) error {
			if c, err := tx.Cluster(); err == nil && c.Source != nil {
				b = c.Source.Branch
			}
			return nil
		})
		return b
	}
	hc := &http.Client{Transport: m.API("webhook"), Timeout: 10 * time.Second}
	trigger := func(ev reconciler.WebhookEvent) {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://swarmops.invalid/swarmops/v1/sync", nil)
		if err != nil {
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			log.Warn("webhook: sync request failed", "err", err)
			return
		}
		resp.Body.Close()
		log.Info("webhook: sync requested", "provider", ev.Provider, "ref", ev.Ref, "after", ev.After)
	}
	mux := http.NewServeMux()
	mux.Handle("/", reconciler.WebhookHandler(secret, branch, trigger))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("serving git webhooks", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("webhook listener stopped", "err", err)
		}
	}()
	return nil
}
