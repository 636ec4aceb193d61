package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/api"
)

func newStatusCmd() *cobra.Command {
	var (
		flags  clusterFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status [STACK]",
		Short: "Show whether the cluster is what git says, per stack and service",
		Long: `Status shows each stack's revision applied against the branch head, its status
(Synced, OutOfSync, Progressing, Degraded, Failed, Suspended), its drift (git
moved, cluster moved by hand, not converged, rolled back), its services' tasks
and its last deployment.

Exit code 0 when everything is Synced and converged, 1 when anything is
Degraded, Failed, progressing or drifting, or the repository cannot be read.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			var rep api.Report
			if err := c.call(cmd.Context(), "GET", "/swarmops/v1/report", nil, nil, &rep); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if len(args) == 1 {
				var only []api.StackReport
				for _, s := range rep.Stacks {
					if s.Name == args[0] {
						only = append(only, s)
					}
				}
				if only == nil {
					return fmt.Errorf("status: no stack %s (see `swarmops stack ls`)", args[0])
				}
				rep.Stacks = only
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				writeStatus(cmd.OutOrStdout(), rep, len(args) == 1, time.Now())
			}
			if !rep.Healthy() {
				return &exitError{code: exitFailed, err: errors.New("status: the cluster is not what git says")}
			}
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func writeStatus(out io.Writer, rep api.Report, detail bool, now time.Time) {
	if rep.Source != nil {
		branch := rep.Source.Branch
		if branch == "" {
			branch = "default branch"
		}
		line := fmt.Sprintf("Repository: %s (%s", rep.Source.URL, branch)
		if rep.Source.Path != "" {
			line += ", path " + rep.Source.Path
		}
		line += ")"
		if rep.Head != "" {
			line += "  head " + short(rep.Head)
		}
		if !rep.LastPoll.IsZero() {
			line += fmt.Sprintf("  polled %s ago", now.Sub(rep.LastPoll).Round(time.Second))
		}
		fmt.Fprintln(out, line)
	}
	if rep.PollError != "" {
		fmt.Fprintf(out, "Poll error: %s (everything keeps running)\n", rep.PollError)
	}
	if rep.Error != "" {
		fmt.Fprintf(out, "Error: %s\n", rep.Error)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "STACK\tSTATUS\tAPPLIED\tHEAD\tDRIFT\tSERVICES\tLAST DEPLOYMENT")
	for _, s := range rep.Stacks {
		applied := "-"
		if s.Applied != nil {
			applied = short(s.Applied.Commit)
		}
		ready := 0
		for _, svc := range s.Services {
			if svc.Running == svc.Desired {
				ready++
			}
		}
		last := "-"
		if d := s.LastDeploy; d != nil {
			last = short(d.Commit) + " " + d.Outcome
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", s.Name, s.Status, applied, orDash(short(s.Head)), orDash(driftKinds(s.Drift)), ready, len(s.Services), last)
	}
	tw.Flush()
	for _, s := range rep.Stacks {
		if s.Message == "" && len(s.Drift) == 0 && !detail {
			continue
		}
		fmt.Fprintf(out, "\n%s: %s", s.Name, s.Status)
		if s.Message != "" {
			fmt.Fprintf(out, ": %s", s.Message)
		}
		fmt.Fprintln(out)
		for _, d := range s.Drift {
			line := "  " + d.Kind
			if d.Object != "" {
				line += " " + d.Object
			}
			line += ": " + d.Message
			if d.By != "" {
				line += fmt.Sprintf(" (changed by %s at %s)", d.By, d.At.UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(out, line)
		}
		if detail {
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "  SERVICE\tTASKS\tUPDATE\tDRIFT")
			for _, svc := range s.Services {
				fmt.Fprintf(tw, "  %s\t%d/%d\t%s\t%s\n", svc.Name, svc.Running, svc.Desired, orDash(svc.UpdateState), orDash(driftKinds(svc.Drift)))
			}
			tw.Flush()
		}
	}
}

func driftKinds(ds []api.Drift) string {
	var kinds []string
	seen := map[string]bool{}
	for _, d := range ds {
		if !seen[d.Kind] {
			seen[d.Kind] = true
			kinds = append(kinds, d.Kind)
		}
	}
	return strings.Join(kinds, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func newSyncCmd() *cobra.Command {
	var (
		flags clusterFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "sync [STACK]",
		Short: "Poll the repository and reconcile now",
		Long: `Sync makes the leader ask the remote for its head at once and reconcile every
stack (or STACK). A deny sync window (or being outside every allow window)
still holds changes back unless --force is given.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if len(args) == 1 {
				q.Set("stack", args[0])
			}
			if force {
				q.Set("force", "1")
			}
			if err := c.call(cmd.Context(), "POST", "/swarmops/v1/sync", q, nil, nil); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Sync requested; follow it with `swarmops status`.")
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "apply even outside the sync windows")
	return cmd
}
