package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/api"
)

// stackOpsCmds are the `swarmops stack` commands that work on a cluster.
func stackOpsCmds() []*cobra.Command {
	return []*cobra.Command{newStackLsCmd(), newStackPsCmd(), newStackHistoryCmd(),
		stackActionCmd("rollback NAME [--to REVISION]", "Hold a stack at an earlier good revision until the branch moves or `stack resume`", "rollback"),
		stackActionCmd("retry NAME", "Apply a stack's quarantined revision once more", "retry"),
		stackActionCmd("resume NAME", "Follow the branch again after `stack rollback`", "resume")}
}

func newStackLsCmd() *cobra.Command {
	var flags clusterFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the stacks from git",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			var stacks []api.Stack
			if err := c.call(cmd.Context(), "GET", "/swarmops/v1/stacks", nil, nil, &stacks); err != nil {
				return fmt.Errorf("stack ls: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSERVICES\tSTATUS\tAPPLIED\tSOURCE")
			for _, st := range stacks {
				applied := "-"
				if st.Applied != nil {
					applied = short(st.Applied.Commit)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", st.Name, len(st.Inventory.Services), st.Status, applied, orDash(st.Source))
			}
			return tw.Flush()
		},
	}
	flags.add(cmd)
	return cmd
}

func newStackPsCmd() *cobra.Command {
	var flags clusterFlags
	cmd := &cobra.Command{
		Use:   "ps NAME",
		Short: "List the tasks of a stack",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			var services []swarm.Service
			f, _ := filters.ToJSON(filters.NewArgs(filters.Arg("label", api.LabelNamespace+"="+args[0])))
			if err := c.call(cmd.Context(), "GET", "/services", url.Values{"filters": {f}}, nil, &services); err != nil {
				return fmt.Errorf("stack ps: %w", err)
			}
			if len(services) == 0 {
				return fmt.Errorf("stack ps: nothing found in stack: %s", args[0])
			}
			names := map[string]string{}
			ids := filters.NewArgs()
			for _, s := range services {
				names[s.ID] = s.Spec.Name
				ids.Add("service", s.ID)
			}
			f, _ = filters.ToJSON(ids)
			var tasks []swarm.Task
			if err := c.call(cmd.Context(), "GET", "/tasks", url.Values{"filters": {f}}, nil, &tasks); err != nil {
				return fmt.Errorf("stack ps: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tIMAGE\tNODE\tDESIRED STATE\tCURRENT STATE\tERROR")
			for _, t := range tasks {
				name := names[t.ServiceID]
				if t.Slot > 0 {
					name = fmt.Sprintf("%s.%d", name, t.Slot)
				}
				image := ""
				if t.Spec.ContainerSpec != nil {
					image = t.Spec.ContainerSpec.Image
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s ago\t%s\n", t.ID[:min(12, len(t.ID))], name, image, orDash(t.NodeID), t.DesiredState, t.Status.State,
					time.Since(t.Status.Timestamp).Round(time.Second), t.Status.Err)
			}
			return tw.Flush()
		},
	}
	flags.add(cmd)
	return cmd
}

func newStackHistoryCmd() *cobra.Command {
	var flags clusterFlags
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List a stack's last deployments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			var st api.Stack
			if err := c.call(cmd.Context(), "GET", "/swarmops/v1/stacks/"+url.PathEscape(args[0]), nil, nil, &st); err != nil {
				return fmt.Errorf("stack history: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tSTARTED\tTRIGGER\tOUTCOME\tDIGEST\tMESSAGE")
			for _, d := range st.History {
				msg := d.Revision.Message
				if d.Detail != "" {
					msg += " — " + d.Detail
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", short(d.Commit), d.Time.UTC().Format(time.RFC3339), d.Trigger, d.Outcome, shortDigest(d.Digest), msg)
			}
			return tw.Flush()
		},
	}
	flags.add(cmd)
	return cmd
}

func shortDigest(d string) string {
	const p = "sha256:"
	if len(d) > len(p)+12 {
		return d[len(p) : len(p)+12]
	}
	return d
}

func stackActionCmd(use, short, action string) *cobra.Command {
	var (
		flags clusterFlags
		to    string
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if to != "" {
				q.Set("to", to)
			}
			if err := c.call(cmd.Context(), "POST", "/swarmops/v1/stacks/"+url.PathEscape(args[0])+"/"+action, q, nil, nil); err != nil {
				return fmt.Errorf("stack %s: %w", action, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stack %s: %s requested; follow it with `swarmops status %s`\n", args[0], action, args[0])
			return nil
		},
	}
	flags.add(cmd)
	if action == "rollback" {
		cmd.Flags().StringVar(&to, "to", "", "the commit (or its prefix) of a successful deployment in `stack history`; default: the newest one before what is applied")
	}
	return cmd
}
