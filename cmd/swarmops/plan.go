package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/reconciler"
	"github.com/swarmops/swarmops/stackspec"
)

// stateFile is the form of a saved cluster state for `plan --state`: the
// specs each stack runs, by stack name.
type stateFile struct {
	Stacks map[string]*api.StackSpec `json:"stacks"`
}

func newPlanCmd() *cobra.Command {
	var (
		offline   bool
		statePath string
		asJSON    bool
		detailed  bool
		flags     clusterFlags
	)
	cmd := &cobra.Command{
		Use:   "plan [DIR] [--offline] [--detailed-exitcode]",
		Short: "Show what applying the stacks under DIR would change on the cluster",
		Long: `Plan finds every stack under DIR (default: the current directory; each
directory holding compose.yml, compose.yaml, docker-compose.yml or stack.yml is
a stack named after the directory, or as swarmops.yaml lists them) and prints
what applying it would create, update and remove — what merging it would do.

Against the live cluster by default (found as every client command finds it:
--data-dir, or the environment ` + "`swarmops env`" + ` prints); with --offline against an
empty cluster, or against --state FILE, a saved state ({"stacks": {NAME: <stack
spec>}}, as GET /swarmops/v1/state answers).

Exit codes: 0 when every stack is valid, 2 when one is invalid (its errors,
with file, line and field, go to stderr). With --detailed-exitcode, for
pull-request CI as terraform's: 0 no change, 2 changes, 1 an error or an
invalid stack.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			fail := func(err error) error {
				if detailed {
					return &exitError{code: exitFailed, err: err}
				}
				return invalid(err)
			}
			var actual map[string]*api.StackSpec
			switch {
			case statePath != "":
				st, err := readState(statePath)
				if err != nil {
					return fail(err)
				}
				actual = st.Stacks
			case !offline:
				c, err := flags.client()
				if err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("plan: %w (or plan against an empty cluster with --offline)", err)}
				}
				var st stateFile
				if err := c.call(cmd.Context(), "GET", "/swarmops/v1/state", nil, nil, &st); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("plan: read the cluster's state: %w", err)}
				}
				actual = st.Stacks
			}
			plan, err := reconciler.PlanDir(cmd.Context(), dir, actual)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				if err := writePlanJSON(cmd.OutOrStdout(), plan); err != nil {
					return err
				}
			} else {
				writePlanText(cmd.OutOrStdout(), cmd.ErrOrStderr(), plan)
			}
			if plan.Failed() {
				return fail(errors.New("plan: some stacks are invalid; they would change nothing"))
			}
			if detailed && plan.Changes() {
				return &exitError{code: exitInvalid, err: errors.New("plan: the cluster would change")}
			}
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&offline, "offline", false, "plan without a cluster: against an empty one or --state")
	cmd.Flags().StringVar(&statePath, "state", "", "saved cluster state to plan against (implies --offline)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 for no change, 2 for changes, 1 for errors")
	return cmd
}

func readState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st stateFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("read state %s: %w (want {\"stacks\": {NAME: {\"services\": {...}, ...}}})", path, err)
	}
	for name, spec := range st.Stacks {
		if spec == nil {
			return nil, fmt.Errorf("read state %s: stack %q has no spec", path, name)
		}
		if spec.Namespace == "" {
			spec.Namespace = name
		}
	}
	return &st, nil
}

// counts tallies a change set by action.
type counts struct{ create, update, remove int }

func (c *counts) add(cs api.ChangeSet) {
	for _, ch := range cs.Changes {
		switch ch.Action {
		case api.ActionCreate:
			c.create++
		case api.ActionUpdate:
			c.update++
		case api.ActionRemove:
			c.remove++
		}
	}
}

func (c counts) String() string {
	return fmt.Sprintf("%d to create, %d to update, %d to remove", c.create, c.update, c.remove)
}

var actionMarks = map[api.Action]string{api.ActionCreate: "+", api.ActionUpdate: "~", api.ActionRemove: "-"}

// writeChanges prints a change set one object a line, with the fields of
// each update below it. spec, when not nil, is the desired stack: a created
// service shows its image and mode.
func writeChanges(w io.Writer, cs api.ChangeSet, spec *api.StackSpec) {
	for _, ch := range cs.Changes {
		var notes []string
		if ch.Action == api.ActionUpdate {
			if ch.Recreate {
				notes = append(notes, "recreated")
			} else if ch.Restarts {
				notes = append(notes, "replaces tasks")
			}
		}
		if ch.Note != "" {
			notes = append(notes, ch.Note)
		}
		if ch.Action == api.ActionCreate && ch.Kind == api.KindService && spec != nil {
			if svc, ok := spec.Services[ch.Name]; ok {
				notes = append(notes, serviceSummary(svc))
			}
		}
		note := ""
		if len(notes) > 0 {
			note = "  (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(w, "  %s %-8s %s%s\n", actionMarks[ch.Action], ch.Kind, ch.Name, note)
		for _, f := range ch.Fields {
			fmt.Fprintf(w, "      %s: %s -> %s\n", f.Path, orNone(f.Old), orNone(f.New))
		}
	}
}

// serviceSummary says in a few words what a new service runs:
// "nginx:1.27-alpine, 2 replicas".
func serviceSummary(svc swarm.ServiceSpec) string {
	image := ""
	if cs := svc.TaskTemplate.ContainerSpec; cs != nil {
		image = cs.Image
	}
	mode := "1 replica"
	switch m := svc.Mode; {
	case m.Global != nil:
		mode = "global"
	case m.GlobalJob != nil:
		mode = "global job"
	case m.ReplicatedJob != nil:
		mode = "replicated job"
	case m.Replicated != nil && m.Replicated.Replicas != nil && *m.Replicated.Replicas != 1:
		mode = fmt.Sprintf("%d replicas", *m.Replicated.Replicas)
	}
	if image == "" {
		return mode
	}
	return image + ", " + mode
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func writePlanText(stdout, stderr io.Writer, plan *reconciler.Plan) {
	var total counts
	invalidStacks := 0
	for _, sp := range plan.Stacks {
		if sp.Err != nil {
			invalidStacks++
			fmt.Fprintf(stdout, "stack %s: invalid, nothing of it would change\n\n", sp.Source.Name)
			fmt.Fprintf(stderr, "stack %s (%s):\n", sp.Source.Name, sp.Source.Dir)
			for _, line := range errorLines(sp.Err) {
				fmt.Fprintf(stderr, "  %s\n", line)
			}
			continue
		}
		var c counts
		c.add(sp.Changes)
		total.add(sp.Changes)
		if sp.Changes.Empty() {
			fmt.Fprintf(stdout, "stack %s: no changes\n", sp.Source.Name)
		} else {
			fmt.Fprintf(stdout, "stack %s: %s\n", sp.Source.Name, c)
			writeChanges(stdout, sp.Changes, sp.Spec)
		}
		for _, w := range sp.Spec.Warnings {
			fmt.Fprintf(stdout, "  warning: %s\n", w)
		}
		fmt.Fprintln(stdout)
	}
	for _, cs := range plan.Orphans {
		var c counts
		c.add(cs)
		total.add(cs)
		fmt.Fprintf(stdout, "stack %s: not in the repository; applying with prune removes it: %s\n", cs.Stack, c)
		writeChanges(stdout, cs, nil)
		fmt.Fprintln(stdout)
	}
	summary := "Plan: " + total.String()
	if invalidStacks > 0 {
		summary += fmt.Sprintf("; %d invalid stack(s) skipped", invalidStacks)
	}
	fmt.Fprintln(stdout, summary+".")
}

// errorLines splits a load or conversion error into one line per problem.
func errorLines(err error) []string {
	var list stackspec.ErrorList
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		return lines
	}
	return strings.Split(err.Error(), "\n")
}

type planJSON struct {
	Stacks  []stackPlanJSON `json:"stacks"`
	Orphans []api.ChangeSet `json:"orphans"`
}

type stackPlanJSON struct {
	Name     string             `json:"name"`
	Dir      string             `json:"dir"`
	Files    []string           `json:"files"`
	Digest   string             `json:"digest,omitempty"`
	Changes  []api.Change       `json:"changes"`
	Warnings []string           `json:"warnings,omitempty"`
	Errors   []*stackspec.Error `json:"errors,omitempty"`
}

func writePlanJSON(w io.Writer, plan *reconciler.Plan) error {
	out := planJSON{Stacks: []stackPlanJSON{}, Orphans: plan.Orphans}
	if out.Orphans == nil {
		out.Orphans = []api.ChangeSet{}
	}
	for _, sp := range plan.Stacks {
		j := stackPlanJSON{Name: sp.Source.Name, Dir: sp.Source.Dir, Files: sp.Source.Files, Changes: sp.Changes.Changes}
		if j.Changes == nil {
			j.Changes = []api.Change{}
		}
		if sp.Err != nil {
			var list stackspec.ErrorList
			if !errors.As(sp.Err, &list) {
				list = stackspec.ErrorList{{Msg: sp.Err.Error()}}
			}
			j.Errors = list
		} else {
			j.Digest = stackspec.DigestStack(sp.Spec)
			j.Warnings = sp.Spec.Warnings
		}
		out.Stacks = append(out.Stacks, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
