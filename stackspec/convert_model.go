package stackspec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/shlex"
)

// modelFacts is what the conversion needs from compose-go's merged model
// (the interpolated YAML tree) that its typed project no longer holds.
type modelFacts struct {
	// hosts are each service's extra_hosts as "host:ip", in Docker's
	// order: compose-go keeps them in a map.
	hosts map[string][]string
	// argv holds, per service, the command and entrypoint written as one
	// string. Docker splits those with shell rules of its own (shlex);
	// compose-go's splitter stops at && and ;, which a string command
	// often holds.
	argv map[string]map[string]string
	// warnings are Docker's notes on the model (a ~ it cannot expand).
	warnings []string
}

func readModelFacts(model map[string]any) modelFacts {
	facts := modelFacts{
		hosts: map[string][]string{},
		argv:  map[string]map[string]string{},
	}
	services, _ := model["services"].(map[string]any)
	for name, s := range services {
		svc, _ := s.(map[string]any)
		if hosts := dockerExtraHosts(svc["extra_hosts"]); hosts != nil {
			facts.hosts[name] = hosts
		}
		for _, key := range []string{"command", "entrypoint"} {
			if text, ok := svc[key].(string); ok {
				if facts.argv[name] == nil {
					facts.argv[name] = map[string]string{}
				}
				facts.argv[name][key] = text
			}
		}
	}
	return facts
}

// dockerExtraHosts reads extra_hosts as Docker's loader does: a list keeps
// its order and each entry splits at its first "=", else at its first ":";
// a mapping is written "host:ip" and sorted. Brackets around an IP are
// dropped.
func dockerExtraHosts(value any) []string {
	var pairs []string
	switch v := value.(type) {
	case []any:
		for _, e := range v {
			entry := fmt.Sprint(e)
			host, ip, ok := strings.Cut(entry, "=")
			if !ok {
				host, ip, ok = strings.Cut(entry, ":")
			}
			if ok {
				pairs = append(pairs, host+":"+unbracket(ip))
			}
		}
	case map[string]any:
		for host, ip := range v {
			if ip != nil {
				pairs = append(pairs, host+":"+fmt.Sprint(ip))
			}
		}
		// Docker sorts before it drops the brackets.
		slices.Sort(pairs)
		for i, p := range pairs {
			host, ip, _ := strings.Cut(p, ":")
			pairs[i] = host + ":" + unbracket(ip)
		}
	}
	return pairs
}

func unbracket(ip string) string {
	if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		return ip[1 : len(ip)-1]
	}
	return ip
}

// splitCommands splits string commands and entrypoints into words as
// Docker does.
func (f modelFacts) splitCommands(p *types.Project, src *sources) ErrorList {
	var errs ErrorList
	for _, name := range sortedNames(f.argv) {
		svc, ok := p.Services[name]
		if !ok {
			continue
		}
		for key, text := range f.argv[name] {
			words, err := shlex.Split(text)
			if err != nil {
				errs = append(errs, src.errorAt("services."+name+"."+key, fmt.Sprintf("cannot split %q into words: %v; check its quotes", text, err)))
				continue
			}
			if key == "command" {
				svc.Command = words
			} else {
				svc.Entrypoint = words
			}
		}
		p.Services[name] = svc
	}
	return errs
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// shortVolumeTargets finds the short-syntax volumes whose target compose-go
// cleans ("/etc/app/" becomes "/etc/app"), which Docker keeps as written,
// and maps each service's cleaned target back to the written one. Later
// files win, as in the merge.
func shortVolumeTargets(raw []rawFile, lookup template.Mapping) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range raw {
		for _, doc := range f.docs {
			for name, svc := range rawServices(doc) {
				volumes, _ := svc["volumes"].([]any)
				for _, v := range volumes {
					spec, ok := v.(string)
					if !ok {
						continue
					}
					if s, err := dockerSubstitute(spec, lookup); err == nil {
						spec = s
					}
					parsed, err := format.ParseVolume(spec)
					if err != nil || parsed.Target == "" || path.Clean(parsed.Target) == parsed.Target {
						continue
					}
					if out[name] == nil {
						out[name] = map[string]string{}
					}
					out[name][path.Clean(parsed.Target)] = parsed.Target
				}
			}
		}
	}
	return out
}

// overriddenServices names the services that more than one file defines.
func overriddenServices(raw []rawFile) map[string]bool {
	files := map[string]int{}
	for _, f := range raw {
		seen := map[string]bool{}
		for _, doc := range f.docs {
			for name := range rawServices(doc) {
				seen[name] = true
			}
		}
		for name := range seen {
			files[name]++
		}
	}
	out := map[string]bool{}
	for name, n := range files {
		if n > 1 {
			out[name] = true
		}
	}
	return out
}

// resolveEnvironments computes every service's environment as Docker's
// loader does, in place of compose-go's: env files are read as Docker reads
// them (a line is KEY=VALUE taken as written, quotes and dollars included;
// a bare KEY takes the environment's value or is left out), each file over
// the one before, then the environment: over them. Any variable whose value
// is missing or empty takes the environment's value when it has one.
func resolveEnvironments(p *types.Project, env map[string]string, src *sources) ErrorList {
	var errs ErrorList
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		resolved := types.MappingWithEquals{}
		for i, f := range svc.EnvFiles {
			vars, err := readDockerEnvFile(f.Path, env)
			if errors.Is(err, fs.ErrNotExist) && !bool(f.Required) {
				continue
			}
			if err != nil {
				errs = append(errs, src.errorAt(indexPath("services."+name+".env_file", i), fmt.Sprintf("env file %s: %s", f.Path, pathErrorText(err))))
				continue
			}
			for _, kv := range vars {
				k, v, _ := strings.Cut(kv, "=")
				resolved[k] = hostValue(k, &v, env)
			}
		}
		for k, v := range svc.Environment {
			resolved[k] = hostValue(k, v, env)
		}
		if len(resolved) == 0 && svc.Environment == nil {
			continue
		}
		svc.Environment = resolved
		p.Services[name] = svc
	}
	return errs
}

// hostValue is Docker's rule for a variable of a service: a missing or
// empty value gives way to the environment's.
func hostValue(key string, value *string, env map[string]string) *string {
	if value == nil || *value == "" {
		if v, ok := env[key]; ok {
			return &v
		}
	}
	return value
}

// readDockerEnvFile reads an env file the way the docker CLI does: leading
// blanks and lines starting with # are skipped, KEY=VALUE is kept as
// written (trailing blanks too), and a bare KEY becomes KEY=value from env,
// or nothing when env lacks it. A key may hold no blank.
func readDockerEnvFile(path string, env map[string]string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	var out []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		line = strings.TrimLeftFunc(line, unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("line %d is not valid UTF-8", n+1)
		}
		key, _, hasValue := strings.Cut(line, "=")
		switch {
		case key == "":
			return nil, fmt.Errorf("line %d names no variable before its =", n+1)
		case strings.ContainsAny(key, " \t"):
			return nil, fmt.Errorf("line %d: variable %q holds a blank; write KEY=VALUE with no blank before the =", n+1, key)
		case hasValue:
			out = append(out, line)
		default:
			if v, ok := env[key]; ok {
				out = append(out, key+"="+v)
			}
		}
	}
	return out, nil
}
