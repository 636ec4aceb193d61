package reconciler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// ConfigFileName is the repository's optional settings file, read at the
// configured root path:
//
//	allow_prune_all: false
//	defaults: {self_heal: true}
//	sync_windows:
//	  - {kind: deny, schedule: "0 22 * * *", duration: 8h, time_zone: Europe/Berlin}
//	stacks:
//	  shop:
//	    path: apps/shop
//	    files: [compose.yml, compose.prod.yml]
//	    env_files: [prod.env]
//	    prune: true
//	    sync_windows: [...]
const ConfigFileName = "swarmops.yaml"

// repoConfig is swarmops.yaml, read and checked but not yet held against
// the tree.
type repoConfig struct {
	allowPruneAll bool
	defaults      optionValues
	windows       []api.SyncWindow
	stacks        []stackEntry // in file order
}

// optionValues are api.StackOptions as written: nil where the file does
// not say, so that a stack's own settings can be laid over the defaults.
type optionValues struct {
	prune, selfHeal, autoRollback, rollbackStack *bool
	windows                                      []api.SyncWindow
}

// over lays o over base: what o sets wins.
func (o optionValues) over(base optionValues) optionValues {
	pick := func(own, def *bool) *bool {
		if own != nil {
			return own
		}
		return def
	}
	return optionValues{
		prune:         pick(o.prune, base.prune),
		selfHeal:      pick(o.selfHeal, base.selfHeal),
		autoRollback:  pick(o.autoRollback, base.autoRollback),
		rollbackStack: pick(o.rollbackStack, base.rollbackStack),
		windows:       o.windows,
	}
}

func (o optionValues) options() api.StackOptions {
	opts := api.StackOptions{Windows: o.windows}
	if o.prune != nil {
		opts.Prune = *o.prune
	}
	if o.selfHeal != nil {
		opts.SelfHeal = *o.selfHeal
	}
	if o.autoRollback != nil {
		v := *o.autoRollback
		opts.AutoRollback = &v
	}
	if o.rollbackStack != nil {
		opts.RollbackStack = *o.rollbackStack
	}
	return opts
}

// stackEntry is one stack under stacks:, with the nodes it was read from
// so that what is wrong against the tree can be placed in the file.
type stackEntry struct {
	name     string
	key      *yaml.Node
	path     *yaml.Node // nil when not set
	files    []*yaml.Node
	envFiles []*yaml.Node
	opts     optionValues
}

var (
	topKeys    = []string{"allow_prune_all", "defaults", "sync_windows", "stacks"}
	optionKeys = []string{"prune", "self_heal", "auto_rollback", "rollback_stack"}
	stackKeys  = append([]string{"path", "files", "env_files", "sync_windows"}, optionKeys...)
	windowKeys = []string{"kind", "schedule", "duration", "time_zone"}
)

// configReader walks the YAML nodes of swarmops.yaml and collects every
// problem, so that all of them are fixed in one pass.
type configReader struct {
	file string
	errs stackspec.ErrorList
}

// parseRepoConfig reads swarmops.yaml; file is its name in errors. An
// empty file, or one of comments only, sets nothing.
func parseRepoConfig(file string, data []byte) (*repoConfig, error) {
	doc, err := decodeSingle(file, data)
	if err != nil || doc == nil {
		return &repoConfig{}, err
	}
	r := &configReader{file: file}
	cfg := &repoConfig{}
	r.fields(doc, "", topKeys, func(key string, v *yaml.Node, path string) {
		switch key {
		case "allow_prune_all":
			if b := r.boolean(v, path); b != nil {
				cfg.allowPruneAll = *b
			}
		case "defaults":
			r.fields(v, path, append([]string{"sync_windows"}, optionKeys...), func(key string, v *yaml.Node, path string) {
				if key == "sync_windows" {
					r.failAt(v, path, "windows for every stack go under the top-level sync_windows; move them there")
					return
				}
				r.option(key, v, path, &cfg.defaults)
			})
		case "sync_windows":
			cfg.windows = r.windows(v, path)
		case "stacks":
			cfg.stacks = r.stacks(v, path)
		}
	})
	if len(r.errs) > 0 {
		return nil, sortErrors(r.errs)
	}
	return cfg, nil
}

// decodeSingle parses the one YAML document of the file; nil for none.
func decodeSingle(file string, data []byte) (*yaml.Node, error) {
	loader, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var doc yaml.Node
	switch err := loader.Load(&doc); {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, stackspec.ErrorList{syntaxError(file, data, err)}
	}
	var more yaml.Node
	switch err := loader.Load(&more); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, stackspec.ErrorList{syntaxError(file, data, err)}
	default:
		return nil, stackspec.ErrorList{{File: file, Line: more.Line, Column: more.Column,
			Msg: "a second YAML document; keep everything in one (remove the ---)"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

// yamlPlace finds the positions go-yaml writes into a message ("line 3,
// column 7" or "line 3"); the last one is where the problem is, any
// before it the context.
var yamlPlace = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: `)

func syntaxError(file string, data []byte, err error) *stackspec.Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &stackspec.Error{File: file}
	if all := yamlPlace.FindAllStringSubmatchIndex(msg, -1); len(all) > 0 {
		last := all[len(all)-1]
		e.Line, _ = strconv.Atoi(msg[last[2]:last[3]])
		if last[4] >= 0 {
			e.Column, _ = strconv.Atoi(msg[last[4]:last[5]])
		}
		msg = msg[last[1]:]
	}
	// go-yaml v4.0.0-rc.4 counts a parser error's lines from 0 where its
	// scanner counts from 1 (TestRepoConfigSyntaxErrors pins this down).
	if fmt.Sprintf("%T", err) == "libyaml.ParserError" {
		e.Line++
	}
	fix := "check the indentation, colons and quotes here and on the line before"
	if lines := strings.Split(string(data), "\n"); e.Line > 0 && e.Line <= len(lines) && strings.Contains(lines[e.Line-1], "\t") {
		fix = "indent with spaces: YAML does not allow tabs there"
	}
	e.Msg = msg + "; " + fix
	return e
}

func (r *configReader) failAt(n *yaml.Node, path, format string, args ...any) {
	r.errs = append(r.errs, &stackspec.Error{File: r.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows an alias to the node its anchor names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields walks a mapping (null counts as empty), refusing unknown and
// repeated keys, and calls each for the known ones in file order.
func (r *configReader) fields(n *yaml.Node, path string, known []string, each func(key string, v *yaml.Node, path string)) {
	r.mapping(n, path, func(k, v *yaml.Node, key string) {
		if !slices.Contains(known, key) {
			r.failAt(k, joinPath(path, key), "unknown key; %s", knownKeysHint(key, known))
			return
		}
		each(key, v, joinPath(path, key))
	})
}

// mapping walks any mapping with string keys.
func (r *configReader) mapping(n *yaml.Node, path string, each func(k, v *yaml.Node, key string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		where := path
		if where == "" {
			where = "the file"
		}
		r.failAt(n, path, "must be a mapping (key: value lines), got %s; write %s as keys and values", describe(n), where)
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			r.failAt(k, path, "keys must be plain names; write the key out instead of merging a mapping in")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			r.failAt(k, joinPath(path, k.Value), "set twice (first on line %d); keep one", line)
			continue
		}
		seen[k.Value] = k.Line
		each(k, v, k.Value)
	}
}

func knownKeysHint(key string, known []string) string {
	for _, k := range known {
		if editDistance(key, k) <= 2 {
			return fmt.Sprintf("did you mean %s?", k)
		}
	}
	return "the keys here are " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance, for "did you mean".
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func (r *configReader) boolean(n *yaml.Node, path string) *bool {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		r.failAt(n, path, "must be true or false, got %s", describe(n))
		return nil
	}
	b := n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	return &b
}

// str reads a scalar as text ("2024" is a fine directory name).
func (r *configReader) str(n *yaml.Node, path, example string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Value == "" {
		r.failAt(n, path, "must be text, got %s; write it as in %s", describe(n), example)
		return "", false
	}
	return n.Value, true
}

// list reads a list (null counts as empty), calling each per item.
func (r *configReader) list(n *yaml.Node, path, example string, each func(item *yaml.Node, path string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		r.failAt(n, path, "must be a list, got %s; write it as in %s", describe(n), example)
		return
	}
	for i, item := range n.Content {
		each(resolve(item), fmt.Sprintf("%s[%d]", path, i))
	}
}

// option reads one of optionKeys into opts.
func (r *configReader) option(key string, v *yaml.Node, path string, opts *optionValues) {
	b := r.boolean(v, path)
	switch key {
	case "prune":
		opts.prune = b
	case "self_heal":
		opts.selfHeal = b
	case "auto_rollback":
		opts.autoRollback = b
	case "rollback_stack":
		opts.rollbackStack = b
	}
}

func (r *configReader) stacks(n *yaml.Node, path string) []stackEntry {
	var out []stackEntry
	r.mapping(n, path, func(k, v *yaml.Node, name string) {
		spath := joinPath(path, name)
		if !validStackName(name) {
			r.failAt(k, spath, "%q is not a valid stack name; use letters, digits, '-' and '_', starting with a letter or digit", name)
			return
		}
		e := stackEntry{name: name, key: k}
		r.fields(v, spath, stackKeys, func(key string, v *yaml.Node, path string) {
			switch key {
			case "path":
				if _, ok := r.str(v, path, "path: apps/shop"); ok {
					e.path = resolve(v)
				}
			case "files":
				e.files = r.fileList(v, path, "files: [compose.yml, compose.prod.yml]")
			case "env_files":
				e.envFiles = r.fileList(v, path, "env_files: [prod.env]")
			case "sync_windows":
				e.opts.windows = r.windows(v, path)
			default:
				r.option(key, v, path, &e.opts)
			}
		})
		out = append(out, e)
	})
	return out
}

func (r *configReader) fileList(n *yaml.Node, path, example string) []*yaml.Node {
	var out []*yaml.Node
	r.list(n, path, example, func(item *yaml.Node, path string) {
		if _, ok := r.str(item, path, example); ok {
			out = append(out, item)
		}
	})
	return out
}

func (r *configReader) windows(n *yaml.Node, path string) []api.SyncWindow {
	const example = `- {kind: deny, schedule: "0 22 * * *", duration: 8h}`
	var out []api.SyncWindow
	r.list(n, path, example, func(item *yaml.Node, path string) {
		if w, ok := r.window(item, path); ok {
			out = append(out, w)
		}
	})
	return out
}

// window reads and checks one sync window, placing each problem at the
// field that has it.
func (r *configReader) window(n *yaml.Node, path string) (api.SyncWindow, bool) {
	var w api.SyncWindow
	before := len(r.errs)
	set := map[string]bool{}
	r.fields(n, path, windowKeys, func(key string, v *yaml.Node, path string) {
		set[key] = true
		switch key {
		case "kind":
			if s, ok := r.str(v, path, "kind: deny"); ok {
				w.Kind = s
				if err := checkWindowKind(s); err != nil {
					r.failAt(resolve(v), path, "%v", err)
				}
			}
		case "schedule":
			if s, ok := r.str(v, path, `schedule: "0 22 * * 1-5"`); ok {
				w.Schedule = s
				if _, err := parseSchedule(s); err != nil {
					r.failAt(resolve(v), path, "%v", err)
				}
			}
		case "duration":
			w.Duration = r.duration(v, path)
		case "time_zone":
			if s, ok := r.str(v, path, "time_zone: Europe/Berlin"); ok {
				w.TimeZone = s
				if _, err := loadZone(s); err != nil {
					r.failAt(resolve(v), path, "%v", err)
				}
			}
		}
	})
	if resolve(n).Kind == yaml.MappingNode {
		for _, key := range []string{"kind", "schedule", "duration"} {
			if !set[key] {
				r.failAt(resolve(n), path, "%s is missing; a window needs kind, schedule and duration, as in {kind: deny, schedule: \"0 22 * * *\", duration: 8h}", key)
			}
		}
	}
	return w, len(r.errs) == before
}

func (r *configReader) duration(n *yaml.Node, path string) time.Duration {
	const fix = "write a number with a unit, as in 90m, 8h or 1h30m"
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		r.failAt(n, path, "must be a duration, got %s; %s", describe(n), fix)
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		r.failAt(n, path, "%q is not a duration; %s", n.Value, fix)
		return 0
	}
	if err := checkWindowDuration(d); err != nil {
		r.failAt(n, path, "%v", err)
	}
	return d
}

// sortErrors puts a list in line order, as a person reads the file.
func sortErrors(errs stackspec.ErrorList) stackspec.ErrorList {
	slices.SortStableFunc(errs, func(a, b *stackspec.Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return errs
}
