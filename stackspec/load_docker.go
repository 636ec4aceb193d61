package stackspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/paths"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// This file holds what Load does around compose-go where compose-go's way
// of reading the files is not Docker's: how later files merge top-level
// objects, which variables an environment pass-through sees, and how
// relative and ~ paths resolve.

// topLevelSections are the top-level mappings whose entries Docker's merge
// replaces whole when a later file names them again.
var topLevelSections = []string{"networks", "volumes", "secrets", "configs"}

// overrideTag is compose-go's YAML tag for "this node replaces what earlier
// files have at its place" (its loader records the path and drops the
// earlier value before merging).
const overrideTag = "!override"

// replaceWholeObjects returns the file contents compose-go is to read:
// where a later file (or a later document of one file) names a network,
// volume, secret or config that an earlier one declares, its definition is
// tagged !override, so that it replaces the earlier one as in Docker's
// merge, where compose-go would merge the two key by key (an override that
// gives a secret another file would keep the first one's labels). Files
// that need no tag are passed on byte for byte; the others are parsed
// afresh (src's trees place errors, and stay as written), tagged and
// re-encoded, which keeps every value.
func replaceWholeObjects(src *sources, contents [][]byte) ([][]byte, error) {
	need := map[int]bool{}
	eachRedeclared(src.docs, func(file int, _ *yaml.Node, _ int) { need[file] = true })
	if len(need) == 0 {
		return contents, nil
	}
	roots := slices.Clone(src.docs)
	fresh := map[int][]*yaml.Node{}
	for i := range need {
		docs, err := decodeDocuments(contents[i])
		if err != nil {
			return nil, err
		}
		fresh[i] = docs
		roots[i] = nil
		for _, d := range docs {
			roots[i] = append(roots[i], d.Content[0])
		}
	}
	eachRedeclared(roots, func(file int, entries *yaml.Node, value int) {
		if !need[file] {
			return // src's own tree: never changed
		}
		if v := overriding(entries.Content[value]); v != nil {
			entries.Content[value] = v
		}
	})
	out := slices.Clone(contents)
	for i, docs := range fresh {
		var err error
		if out[i], err = encodeDocuments(docs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachRedeclared calls fn for every network, volume, secret and config
// entry (the value at entries.Content[value]) of a document that an
// earlier document, of the file or of an earlier file, declares too. roots
// holds each file's top-level mappings.
func eachRedeclared(roots [][]*yaml.Node, fn func(file int, entries *yaml.Node, value int)) {
	declared := map[string]map[string]bool{}
	for _, s := range topLevelSections {
		declared[s] = map[string]bool{}
	}
	for i, docs := range roots {
		for _, root := range docs {
			for _, section := range topLevelSections {
				_, entries := directKey(root, section)
				if entries == nil || entries.Kind != yaml.MappingNode {
					continue
				}
				for j := 0; j+1 < len(entries.Content); j += 2 {
					key := entries.Content[j]
					if isMergeKey(key) {
						continue
					}
					if declared[section][key.Value] {
						fn(i, entries, j+1)
					}
					declared[section][key.Value] = true
				}
			}
		}
	}
}

// encodeDocuments writes parsed documents back as YAML: the text differs
// (indentation, quoting), the values do not.
func encodeDocuments(docs []*yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("re-encode for the merge: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("re-encode for the merge: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeDocuments parses the mapping documents of one file; newSources
// has reported any syntax error already.
func decodeDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse for the merge: %w", err)
		}
		if len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
			docs = append(docs, &doc)
		}
	}
}

// directKey finds a key written in the mapping itself (not merged in).
func directKey(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && !isMergeKey(m.Content[i]) {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// overriding returns the definition v tagged to replace the earlier one,
// or nil when v is no definition (a type error the schema reports). An
// empty definition replaces with nothing, as in Docker, where it is an
// object with every field unset; an alias is merged into a new tagged
// mapping, so that the anchor's other uses stay untagged.
func overriding(v *yaml.Node) *yaml.Node {
	empty := func() *yaml.Node {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: overrideTag, Style: yaml.FlowStyle, Line: v.Line, Column: v.Column}
	}
	target := resolve(v)
	switch {
	case target == nil:
		return nil
	case target.Kind == yaml.ScalarNode && target.ShortTag() == "!!null":
		return empty()
	case target.Kind != yaml.MappingNode:
		return nil
	case v.Kind == yaml.AliasNode:
		n := empty()
		n.Content = []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!merge", Value: "<<"}, v}
		return n
	}
	v.Tag = overrideTag
	return v
}

// projectPlaceholder is the project name compose-go is given. compose-go
// adds COMPOSE_PROJECT_NAME, set to the project name, to the variables it
// resolves `environment: [VAR]` and the environment sources of secrets and
// configs from; docker stack deploy sets no such variable. The name is one
// no file writes, so that what compose-go resolved from it can be told
// apart and undone by unsetProjectName. Convert names every object from
// the namespace, never from the project name.
const projectPlaceholder = "swarmops-compose-project-name-placeholder"

const composeProjectName = "COMPOSE_PROJECT_NAME"

// unsetProjectName undoes compose-go's COMPOSE_PROJECT_NAME in the merged
// model: a pass-through it resolved becomes bare again (resolveEnvironments
// then gives it the environment's value, when there is one), and a secret
// or config read from the variable takes the environment's value.
func unsetProjectName(model map[string]any, env map[string]string) {
	resolved := composeProjectName + "=" + projectPlaceholder
	services, _ := model["services"].(map[string]any)
	for _, s := range services {
		svc, _ := s.(map[string]any)
		list, _ := svc["environment"].([]any)
		for i, e := range list {
			if e == resolved {
				list[i] = composeProjectName
			}
		}
	}
	for section, field := range map[string]string{"secrets": types.SecretConfigXValue, "configs": "content"} {
		objs, _ := model[section].(map[string]any)
		for _, o := range objs {
			obj, _ := o.(map[string]any)
			if obj["environment"] != composeProjectName || obj[field] != projectPlaceholder {
				continue
			}
			if v, ok := env[composeProjectName]; ok {
				obj[field] = v
			} else {
				delete(obj, field)
			}
		}
	}
}

// resolveModelPaths makes the relative paths of the merged model absolute
// as Docker's loader does, in place of compose-go's resolution: a bind
// source starting with ~ takes the HOME of the environment the stack is
// loaded with (Docker's is the CLI's), not the process's, and only a bind
// source expands it; env files, label files and the files of secrets and
// configs are relative to the working directory. It returns Docker's
// warning for a ~ it cannot expand.
func resolveModelPaths(model map[string]any, workingDir string, env map[string]string) []string {
	var warnings []string
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(workingDir, p)
	}
	services, _ := model["services"].(map[string]any)
	for _, s := range services {
		svc, _ := s.(map[string]any)
		volumes, _ := svc["volumes"].([]any)
		for _, v := range volumes {
			vol, _ := v.(map[string]any)
			source, ok := vol["source"].(string)
			if vol["type"] != types.VolumeTypeBind || !ok || source == "" {
				continue
			}
			if strings.HasPrefix(source, "~") {
				if home, ok := env["HOME"]; ok {
					source = strings.Replace(source, "~", home, 1)
				} else {
					warnings = append(warnings, "cannot expand '~', because the environment lacks HOME")
				}
			}
			// A Windows path is absolute too, for a daemon on Windows.
			if !path.IsAbs(source) && !paths.IsWindowsAbs(source) {
				source = abs(source)
			}
			vol["source"] = source
		}
		envFiles, _ := svc["env_file"].([]any)
		for _, e := range envFiles {
			if f, ok := e.(map[string]any); ok {
				if p, ok := f["path"].(string); ok {
					f["path"] = abs(p)
				}
			}
		}
		labelFiles, _ := svc["label_file"].([]any)
		for i, f := range labelFiles {
			if p, ok := f.(string); ok {
				labelFiles[i] = abs(p)
			}
		}
	}
	for _, section := range []string{"secrets", "configs"} {
		objs, _ := model[section].(map[string]any)
		for _, o := range objs {
			if obj, ok := o.(map[string]any); ok {
				if p, ok := obj["file"].(string); ok {
					obj["file"] = abs(p)
				}
			}
		}
	}
	return warnings
}
