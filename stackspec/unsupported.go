package stackspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/swarmops/swarmops/api"
	"go.yaml.in/yaml/v4"
)

// rawFile is one compose file as written, before interpolation and
// merging: Docker decides what it warns about and what it forbids from
// these, file by file.
type rawFile struct {
	name string
	docs []map[string]any
}

// parseRaw decodes every file for the scans below. Syntax errors were
// reported by newSources already, so a document that does not decode is
// simply skipped here.
func parseRaw(files []string, contents [][]byte) []rawFile {
	raw := make([]rawFile, len(files))
	for i, f := range files {
		raw[i].name = f
		dec := yaml.NewDecoder(bytes.NewReader(contents[i]))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) || (err != nil && doc == nil) {
				break
			}
			if doc != nil {
				raw[i].docs = append(raw[i].docs, doc)
			}
			if err != nil {
				break
			}
		}
	}
	return raw
}

// dockerFinding is something in the files that `docker stack deploy`
// refuses. Load accepts what compose-go accepts; Convert reports these.
type dockerFinding struct {
	path string
	msg  string
}

// Service keys Docker's loader refuses outright, with what to do instead.
var forbiddenServiceKeys = map[string]string{
	"extends":       "docker stack deploy does not support extends; write the settings into the service itself",
	"volume_driver": "docker stack deploy does not support a per-service volume driver; declare a top-level volume with the driver and mount it",
	"volumes_from":  "docker stack deploy does not support volumes_from; declare a top-level volume and mount it in every service that shares it",
	"cpu_quota":     "docker stack deploy does not support cpu_quota; set deploy.resources.limits.cpus",
	"cpu_shares":    "docker stack deploy does not support cpu_shares; set deploy.resources.reservations.cpus or limits.cpus",
	"cpuset":        "docker stack deploy does not support cpuset; set deploy.resources.limits.cpus",
	"mem_limit":     "docker stack deploy does not support mem_limit; set deploy.resources.limits.memory",
	"memswap_limit": "docker stack deploy does not support memswap_limit; set deploy.resources.limits.memory",
}

// Service keys Docker's loader accepts and then ignores, warning about
// them under this name, in this wording (docker CLI 28).
var unsupportedServiceKeys = []string{
	"build", "cgroup_parent", "cgroupns_mode", "devices", "domainname",
	"external_links", "ipc", "links", "mac_address", "network_mode", "pid",
	"privileged", "restart", "security_opt", "shm_size", "userns_mode",
}

// Service keys Docker's loader ignores as deprecated, with the reason it
// prints. The text is Docker's, so that a user sees the same warning.
var deprecatedServiceKeys = map[string]string{
	"container_name": "Setting the container name is not supported.",
	"expose":         "Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
}

// The service keys of the version 3 file format (3.13, the newest) that
// docker stack deploy validates against; the compose specification has
// more, and Docker rejects a file that uses them. swarmops rejects them too:
// Docker's conversion gives none of them a meaning on a swarm service, so
// accepting one would mean ignoring it or inventing a conversion, and
// several duplicate a deploy: setting with rules of their own. (Where only
// the form of a key Docker knows differs, swarmops follows the compose
// specification: see docs/compat.md, "Accepted where Docker rejects".)
var dockerServiceKeys = keySet(
	"build", "cap_add", "cap_drop", "cgroup_parent", "cgroupns_mode",
	"command", "configs", "container_name", "credential_spec", "depends_on",
	"deploy", "devices", "dns", "dns_search", "domainname", "entrypoint",
	"env_file", "environment", "expose", "external_links", "extra_hosts",
	"healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
	"links", "logging", "mac_address", "network_mode", "networks",
	"oom_score_adj", "pid", "ports", "privileged", "read_only", "restart",
	"secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
	"stop_signal", "sysctls", "tmpfs", "tty", "ulimits", "user",
	"userns_mode", "volumes", "working_dir",
)

// composeOnlyServiceKeys say, for the compose specification's service keys
// that real files carry over from docker compose, what to write instead.
var composeOnlyServiceKeys = map[string]string{
	"profiles":        "docker stack deploy has no profiles: it would deploy every service, those of profiles docker compose leaves off too; remove profiles, and the services this stack should not run",
	"scale":           "docker stack deploy does not accept scale; set deploy.replicas",
	"cpus":            "docker stack deploy does not accept cpus on a service; set deploy.resources.limits.cpus",
	"mem_reservation": "docker stack deploy does not accept mem_reservation; set deploy.resources.reservations.memory",
	"pids_limit":      "docker stack deploy does not accept pids_limit; set deploy.resources.limits.pids",
	"platform":        "docker stack deploy does not accept platform; constrain the nodes with deploy.placement.constraints (node.platform.os, node.platform.arch)",
	"gpus":            "docker stack deploy does not accept gpus; reserve them with deploy.resources.reservations.generic_resources",
}

// The top-level keys docker stack deploy reads. name (the stack's name is
// the one it is deployed under), include and models stay refused.
var dockerTopLevelKeys = keySet("version", "services", "networks", "volumes", "secrets", "configs")

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// dockerFindings lists, once per field path, what docker stack deploy
// would refuse in the raw files. lookup interpolates where a check needs
// the value.
func dockerFindings(raw []rawFile, lookup template.Mapping) []dockerFinding {
	found := map[string]string{}
	for _, f := range raw {
		for _, doc := range f.docs {
			for key := range doc {
				if !dockerTopLevelKeys[key] && !strings.HasPrefix(key, "x-") {
					found[key] = fmt.Sprintf("docker stack deploy does not accept the top-level key %q (it is not in the version 3 file format); remove it", key)
				}
			}
			for name, svc := range rawServices(doc) {
				for key := range svc {
					path := "services." + name + "." + key
					switch {
					case forbiddenServiceKeys[key] != "":
						found[path] = forbiddenServiceKeys[key]
					case composeOnlyServiceKeys[key] != "":
						found[path] = composeOnlyServiceKeys[key]
					case !dockerServiceKeys[key] && !strings.HasPrefix(key, "x-"):
						found[path] = fmt.Sprintf("docker stack deploy does not accept %q in a service (it is not in the version 3 file format); remove it", key)
					}
				}
				checkDuplicateTargets("services."+name, svc, lookup, found)
			}
		}
	}
	findings := make([]dockerFinding, 0, len(found))
	for _, path := range slices.Sorted(maps.Keys(found)) {
		findings = append(findings, dockerFinding{path: path, msg: found[path]})
	}
	return findings
}

func rawServices(doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	all, _ := doc["services"].(map[string]any)
	for name, s := range all {
		if svc, ok := s.(map[string]any); ok {
			out[name] = svc
		}
	}
	return out
}

// loadWarnings are the warnings docker stack deploy prints while loading:
// deprecated external names, then ignored options, then deprecated ones.
func loadWarnings(raw []rawFile) []string {
	var warnings []string
	warnings = append(warnings, externalNameWarnings(raw)...)

	unsupported := map[string]bool{}
	deprecated := map[string]bool{}
	for _, f := range raw {
		for _, doc := range f.docs {
			for _, svc := range rawServices(doc) {
				for _, key := range unsupportedServiceKeys {
					if _, ok := svc[key]; ok {
						unsupported[key] = true
					}
				}
				for key := range deprecatedServiceKeys {
					if _, ok := svc[key]; ok {
						deprecated[key] = true
					}
				}
			}
		}
	}
	if len(unsupported) > 0 {
		warnings = append(warnings, "Ignoring unsupported options: "+strings.Join(slices.Sorted(maps.Keys(unsupported)), ", "))
	}
	if len(deprecated) > 0 {
		var lines []string
		for _, key := range slices.Sorted(maps.Keys(deprecated)) {
			lines = append(lines, key+": "+deprecatedServiceKeys[key])
		}
		warnings = append(warnings, "Ignoring deprecated options:\n\n"+strings.Join(lines, "\n\n"))
	}
	return warnings
}

// externalNameWarnings are Docker's notes on `external: {name: x}`, which
// it reads as `name: x` plus `external: true` and, from the file format
// version where `name` arrived, calls deprecated. Docker compares against
// the first file's version. The warning is the one thing the version key
// still decides: swarmops accepts any version, and files that name
// different ones (docs/compat.md).
func externalNameWarnings(raw []rawFile) []string {
	version := "3.13"
	if len(raw) > 0 && len(raw[0].docs) > 0 {
		if v, ok := raw[0].docs[0]["version"]; ok {
			if s := fmt.Sprint(v); s != "" && s != "3" {
				version = s
			}
		}
	}
	kinds := []struct {
		section, kind, since string
	}{
		{"networks", "network", "3.5"},
		{"volumes", "volume", "3.4"},
		{"secrets", "secret", "3.5"},
		{"configs", "config", "3.5"},
	}
	var warnings []string
	for _, k := range kinds {
		if api.CompareVersions(version, k.since) < 0 {
			continue
		}
		names := map[string]bool{}
		for _, f := range raw {
			for _, doc := range f.docs {
				section, _ := doc[k.section].(map[string]any)
				for name, obj := range section {
					o, _ := obj.(map[string]any)
					ext, _ := o["external"].(map[string]any)
					if _, ok := ext["name"]; ok {
						names[name] = true
					}
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(names)) {
			warnings = append(warnings, fmt.Sprintf("%s %s: %s.external.name is deprecated in favor of %s.name", k.kind, name, k.kind, k.kind))
		}
	}
	return warnings
}

// checkDuplicateTargets finds two volumes, or two secrets or configs,
// that one service's list in one file puts at the same place. compose-go
// keeps only the last of them; Docker sends both and is refused (by the
// engine for volumes, by its client for secrets and configs), so both are
// reported here instead of one vanishing.
func checkDuplicateTargets(base string, svc map[string]any, lookup template.Mapping, found map[string]string) {
	volumes, _ := svc["volumes"].([]any)
	seen := map[string]int{}
	for i, v := range volumes {
		target := ""
		switch v := v.(type) {
		case string:
			if s, err := dockerSubstitute(v, lookup); err == nil {
				v = s
			}
			if parsed, err := format.ParseVolume(v); err == nil {
				target = parsed.Target
			}
		case map[string]any:
			target, _ = v["target"].(string)
		}
		if target == "" {
			continue
		}
		if first, dup := seen[target]; dup {
			found[fmt.Sprintf("%s.volumes.%d", base, i)] = fmt.Sprintf("mounts at %s, as volumes[%d] does already: the engine refuses two mounts at one place; remove one", target, first)
			continue
		}
		seen[target] = i
	}
	for _, kind := range []string{"secrets", "configs"} {
		refs, _ := svc[kind].([]any)
		seen := map[string]int{}
		for i, r := range refs {
			target := ""
			switch r := r.(type) {
			case string:
				target = r
			case map[string]any:
				target, _ = r["target"].(string)
				if target == "" {
					target, _ = r["source"].(string)
				}
			}
			if target == "" {
				continue
			}
			if first, dup := seen[target]; dup {
				found[fmt.Sprintf("%s.%s.%d", base, kind, i)] = fmt.Sprintf("lands at %s, as %s[%d] does already: give one another target", target, kind, first)
				continue
			}
			seen[target] = i
		}
	}
}

// checkFileObjects reports every secret and config that has no content,
// before compose-go does: it stops at the first, and which one is first
// changes from run to run. An object may take its source from any of the
// files, as they merge.
func checkFileObjects(raw []rawFile, src *sources) ErrorList {
	sources := map[string][]string{
		"secrets": {"file", "environment", "external", "driver"},
		"configs": {"file", "environment", "content", "external"},
	}
	var errs ErrorList
	for _, section := range []string{"secrets", "configs"} {
		declared, sourced := map[string]bool{}, map[string]bool{}
		for _, f := range raw {
			for _, doc := range f.docs {
				objs, _ := doc[section].(map[string]any)
				for name, o := range objs {
					declared[name] = true
					obj, _ := o.(map[string]any)
					for _, key := range sources[section] {
						if _, ok := obj[key]; ok {
							sourced[name] = true
						}
					}
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(declared)) {
			if !sourced[name] {
				errs = append(errs, src.errorAt(section+"."+name, fmt.Sprintf("%s has no content: set file, or external: true for one that exists on the cluster", strings.TrimSuffix(section, "s")+" "+name)))
			}
		}
	}
	return errs
}
