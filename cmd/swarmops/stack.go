package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/swarmops/swarmops/stackspec"
)

func newStackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Work with stacks",
	}
	cmd.AddCommand(newStackConvertCmd())
	cmd.AddCommand(stackOpsCmds()...)
	return cmd
}

// convertOutput is the document `stack convert` prints: the specs in the
// Docker Engine API's own JSON form, keyed by object name.
type convertOutput struct {
	Services map[string]swarm.ServiceSpec     `json:"services"`
	Networks map[string]network.CreateRequest `json:"networks"`
	Secrets  map[string]swarm.SecretSpec      `json:"secrets"`
	Configs  map[string]swarm.ConfigSpec      `json:"configs"`
	Warnings []string                         `json:"warnings"`
}

func newStackConvertCmd() *cobra.Command {
	var (
		files     []string
		namespace string
		envFiles  []string
	)
	cmd := &cobra.Command{
		Use:   "convert -c FILE [-c FILE...] [--namespace NAME]",
		Short: "Print what `docker stack deploy` would create from compose files, as Engine API specs",
		Long: `Convert loads compose files the way ` + "`docker stack deploy -c FILE NAME`" + ` does
(later files override earlier ones; variables come from the environment and
the .env file beside the first file) and prints one JSON document with the
services, networks, secrets and configs it would create. Exit code 2 means the
files are invalid; the errors name file, line and field.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return invalid(fmt.Errorf("stack convert: name at least one compose file with -c FILE"))
			}
			if namespace == "" {
				namespace = defaultNamespace(files[0])
			}
			loaded, err := stackspec.Load(cmd.Context(), stackspec.Options{
				Files:     files,
				Namespace: namespace,
				EnvFiles:  envFiles,
			})
			if err != nil {
				return invalid(err)
			}
			spec, err := stackspec.Convert(loaded)
			if err != nil {
				return invalid(err)
			}
			out := convertOutput{
				Services: spec.Services,
				Networks: spec.Networks,
				Secrets:  spec.Secrets,
				Configs:  spec.Configs,
				Warnings: spec.Warnings,
			}
			if out.Warnings == nil {
				out.Warnings = []string{}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "compose-file", "c", nil, "path to a compose file (repeat to override, as docker stack deploy)")
	cmd.Flags().StringVar(&namespace, "namespace", "", "stack name that prefixes every object (default: the first file's directory name)")
	cmd.Flags().StringArrayVar(&envFiles, "env-file", nil, "file of variables for interpolation (default: .env beside the first file)")
	return cmd
}

// defaultNamespace names a stack after the directory of its first file, as
// the reconciler names stacks found in git.
func defaultNamespace(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	name := filepath.Base(filepath.Dir(abs))
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
	if name == "" || name == "_" || name == string(os.PathSeparator) {
		return "stack"
	}
	return name
}
