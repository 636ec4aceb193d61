package stackspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// check validates every file on its own against the compose schema after
// interpolation with env, and returns every problem found (not just the
// first), each positioned. It returns nil when the files are valid.
//
// It follows compose-go's loader step by step (interpolate, cast the typed
// strings interpolation can produce, validate against the schema) but keeps
// going after each problem, and it also checks the strings compose-go only
// parses later (durations, sizes, ports, volumes) and the values
// `docker stack deploy` rejects (deploy.mode and friends), so that none of
// them surfaces later without a line. Each file is checked alone: an
// override fragment is valid without an image.
func (s *sources) check(env map[string]string) ErrorList {
	var errs ErrorList
	for i, file := range s.files {
		for _, doc := range s.docs[i] {
			c := &docCheck{file: file, root: doc, env: env, reported: map[string]bool{}}
			c.run()
			errs = append(errs, c.errs...)
		}
	}
	return errs.sorted(s.files)
}

// docCheck checks one YAML document of one file.
type docCheck struct {
	file     string
	root     *yaml.Node
	env      map[string]string
	errs     ErrorList
	instance any             // the document as the schema sees it
	reported map[string]bool // field paths that already have an error
	depth    int
	visits   int
	cutShort bool // the document was not read to the end
}

// maxVisits bounds the nodes one document may expand to through its
// aliases, as compose-go bounds it, so a "billion laughs" file fails fast.
const maxVisits = 100_000

func (c *docCheck) run() {
	value, ok := c.build(c.root, nil).(map[string]any)
	if !ok || c.cutShort {
		return // the schema would only complain about what is missing
	}
	// The schema library wants plain JSON values, as compose-go gives it.
	raw, err := json.Marshal(value)
	if err != nil {
		c.addAt(nil, c.root, fmt.Sprintf("cannot be checked: %v", err))
		return
	}
	if err := json.Unmarshal(raw, &c.instance); err != nil {
		c.addAt(nil, c.root, fmt.Sprintf("cannot be checked: %v", err))
		return
	}
	violations, err := schemaViolations(c.instance)
	if err != nil {
		c.addAt(nil, c.root, fmt.Sprintf("cannot be checked: %v", err))
		return
	}
	for _, v := range violations {
		c.addSchemaError(v)
	}
}

// addAt records an error about the value node n found at path.
func (c *docCheck) addAt(path []string, n *yaml.Node, msg string) {
	p := strings.Join(path, ".")
	c.reported[p] = true
	e := &Error{File: c.file, Path: p, Msg: msg}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	c.errs = append(c.errs, e)
}

// addKeyAt records an error about a key, placed at the key.
func (c *docCheck) addKeyAt(path []string, msg string) {
	pl := find(c.root, path, nil)
	line, col := pl.keyPos()
	p := strings.Join(path, ".")
	c.reported[p] = true
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Column: col, Path: p, Msg: msg})
}

// build turns the node tree into the plain value compose-go validates,
// interpolating every string on the way, so that each problem is reported
// at the node it comes from. Anchors are expanded wherever they are used,
// as the YAML decoder does; their problems are reported at the anchor.
func (c *docCheck) build(n *yaml.Node, path []string) any {
	c.depth++
	c.visits++
	defer func() { c.depth-- }()
	switch {
	case c.visits == maxVisits:
		c.cutShort = true
		c.addAt(nil, n, fmt.Sprintf("the document expands to more than %d values through its aliases: use fewer", maxVisits))
		return nil
	case c.visits > maxVisits:
		return nil
	case c.depth > 200:
		c.cutShort = true
		c.addAt(path, n, "is nested too deeply: does an anchor refer to itself?")
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.build(n.Alias, path)
	case yaml.MappingNode:
		return c.buildMapping(n, path)
	case yaml.SequenceNode:
		list := []any{}
		for i, item := range n.Content {
			if item.Tag == "!reset" {
				continue
			}
			list = append(list, c.build(item, appendPath(path, strconv.Itoa(i))))
		}
		return list
	case yaml.ScalarNode:
		return c.buildScalar(n, path)
	}
	return nil
}

func appendPath(path []string, seg string) []string {
	return append(slices.Clip(path), seg)
}

func (c *docCheck) buildMapping(n *yaml.Node, path []string) map[string]any {
	m := map[string]any{}
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		key := k.Value
		kpath := appendPath(path, key)
		if k.Kind != yaml.ScalarNode {
			c.addAt(path, k, "a key must be a plain string, not a mapping or a list")
			continue
		}
		if tag := k.ShortTag(); tag != "!!str" {
			// compose-go and Docker both refuse keys YAML reads as
			// something other than a string.
			what := map[string]string{"!!int": "a number", "!!float": "a number", "!!bool": "true or false",
				"!!null": "empty", "!!timestamp": "a date"}[tag]
			if what == "" {
				what = "tagged " + tag
			}
			c.addAt(kpath, k, fmt.Sprintf("key %s is read as %s, not a string: quote it (%q)", key, what, key))
			continue
		}
		if first, dup := seen[key]; dup {
			c.addAt(kpath, k, fmt.Sprintf("key %q is already set at line %d: remove one of them", key, first.Line))
			continue
		}
		seen[key] = k
		if v.Tag == "!reset" {
			continue
		}
		m[key] = c.build(v, kpath)
	}
	// Merged keys fill in what the mapping does not set itself; among
	// several merged mappings the first one listed wins.
	for _, mv := range merges {
		sources := []*yaml.Node{mv}
		if r := resolve(mv); r.Kind == yaml.SequenceNode {
			sources = r.Content
		}
		for _, src := range sources {
			if resolve(src).Kind != yaml.MappingNode {
				c.addAt(path, src, "a merge (<<) takes a mapping or a list of mappings, such as *defaults")
				continue
			}
			merged, _ := c.build(src, path).(map[string]any) // nil when cut short
			for k, v := range merged {
				if _, set := m[k]; !set {
					m[k] = v
				}
			}
		}
	}
	return m
}

func (c *docCheck) buildScalar(n *yaml.Node, path []string) any {
	tag := n.ShortTag()
	if n.Tag == "!override" {
		// compose-go's !override only matters when files merge; the value
		// itself is read as if it had no tag.
		plain := *n
		plain.Tag = ""
		tag = plain.ShortTag()
	}
	switch tag {
	case "!!str":
	case "!!null":
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
			c.addAt(path, n, fmt.Sprintf("must be a finite number, got %s", n.Value))
			return n.Value
		}
		fallthrough
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			c.addAt(path, n, fmt.Sprintf("cannot be read: %v", err))
			return n.Value
		}
		return v
	}
	value, err := template.SubstituteWithOptions(n.Value, c.lookup, template.WithoutLogging)
	if err != nil {
		c.addAt(path, n, interpolationMsg(err, n.Value))
		return n.Value
	}
	for _, r := range fieldRules {
		if matchPath(r.pattern, path) {
			v, msg := r.check(value)
			if msg != "" {
				if value != n.Value {
					msg += fmt.Sprintf(" (from %q)", n.Value)
				}
				c.addAt(path, n, msg)
				return value
			}
			return v
		}
	}
	return value
}

func (c *docCheck) lookup(name string) (string, bool) {
	v, ok := c.env[name]
	return v, ok
}

// interpolationMsg says what is wrong with a ${...} and how to fix it.
func interpolationMsg(err error, text string) string {
	var missing *template.MissingRequiredError
	var invalid *template.InvalidTemplateError
	switch {
	case errors.As(err, &missing):
		return requiredMsg(missing.Variable, missing.Reason)
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid interpolation format in %q: write a literal $ as $$", text)
	}
	return fmt.Sprintf("cannot interpolate %q: %v", text, err)
}

func requiredMsg(name, reason string) string {
	if reason == "" {
		reason = fmt.Sprintf("set %s in the environment or the .env file", name)
	}
	return fmt.Sprintf("required variable %s is missing a value: %s", name, reason)
}

// A fieldRule checks the strings of one field after interpolation. The
// casts mirror the ones compose-go applies while interpolating (it fails on
// a bad value there, with no line); the other checks mirror what compose-go
// or Docker parse later.
type fieldRule struct {
	pattern []string // "*" is any key, "[]" any list item
	check   func(string) (any, string)
}

var fieldRules = buildFieldRules()

func buildFieldRules() []fieldRule {
	var rules []fieldRule
	add := func(check func(string) (any, string), patterns ...string) {
		for _, p := range patterns {
			rules = append(rules, fieldRule{pattern: strings.Split(p, "."), check: check})
		}
	}
	svc := func(fields ...string) []string {
		out := make([]string, len(fields))
		for i, f := range fields {
			out[i] = "services.*." + f
		}
		return out
	}
	add(castInt, svc("deploy.replicas", "deploy.update_config.parallelism", "deploy.rollback_config.parallelism",
		"deploy.restart_policy.max_attempts", "deploy.placement.max_replicas_per_node", "scale",
		"healthcheck.retries", "ports.[].target", "ulimits.*", "ulimits.*.hard", "ulimits.*.soft")...)
	add(castInt64, svc("cpu_count", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares",
		"oom_score_adj", "pids_limit")...)
	add(castFloat, svc("cpu_percent", "cpus", "deploy.update_config.max_failure_ratio",
		"deploy.rollback_config.max_failure_ratio")...)
	add(castBool, svc("init", "oom_kill_disable", "privileged", "read_only", "stdin_open", "tty",
		"networks.*.use_service_name_alias", "volumes.[].read_only", "volumes.[].volume.nocopy",
		"depends_on.*.required", "depends_on.*.restart", "healthcheck.disable")...)
	add(castBool, "networks.*.external", "networks.*.internal", "networks.*.attachable", "networks.*.enable_ipv4",
		"networks.*.enable_ipv6", "volumes.*.external", "secrets.*.external", "configs.*.external")
	add(castUmask, svc("umask")...)

	add(checkFloat, svc("deploy.resources.limits.cpus", "deploy.resources.reservations.cpus")...)
	add(checkDuration, svc("stop_grace_period", "healthcheck.interval", "healthcheck.timeout",
		"healthcheck.start_period", "healthcheck.start_interval",
		"deploy.update_config.delay", "deploy.update_config.monitor",
		"deploy.rollback_config.delay", "deploy.rollback_config.monitor",
		"deploy.restart_policy.delay", "deploy.restart_policy.window")...)
	add(checkBytes, svc("mem_limit", "mem_reservation", "memswap_limit", "shm_size", "build.shm_size",
		"deploy.resources.limits.memory", "deploy.resources.reservations.memory", "volumes.[].tmpfs.size")...)
	add(checkFileMode, svc("secrets.[].mode", "configs.[].mode")...)
	add(checkPort, svc("ports.[]")...)
	add(checkVolume, svc("volumes.[]")...)
	// Docker's converter and engine reject these; an empty value (say, from
	// an unset variable) means the default.
	add(oneOf("replicated", "global", "replicated-job", "global-job"), svc("deploy.mode")...)
	add(oneOf("vip", "dnsrr"), svc("deploy.endpoint_mode")...)
	add(oneOf("none", "on-failure", "any"), svc("deploy.restart_policy.condition")...)
	add(oneOf("continue", "pause", "rollback"), svc("deploy.update_config.failure_action",
		"deploy.rollback_config.failure_action")...)
	return rules
}

// matchPath matches a field path against a pattern; numeric segments are
// list items.
func matchPath(pattern, path []string) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, p := range pattern {
		switch p {
		case "*":
		case "[]":
			if _, err := strconv.Atoi(path[i]); err != nil {
				return false
			}
		default:
			if p != path[i] {
				return false
			}
		}
	}
	return true
}

func castInt(s string) (any, string) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return s, fmt.Sprintf("must be an integer, got %q", s)
	}
	return n, ""
}

func castInt64(s string) (any, string) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s, fmt.Sprintf("must be an integer, got %q", s)
	}
	return n, ""
}

func castFloat(s string) (any, string) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s, fmt.Sprintf("must be a number, got %q", s)
	}
	return f, ""
}

func castBool(s string) (any, string) {
	switch strings.ToLower(s) {
	case "true", "y", "yes", "on":
		return true, ""
	case "false", "n", "no", "off":
		return false, ""
	}
	return s, fmt.Sprintf("must be true or false, got %q", s)
}

func castUmask(s string) (any, string) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return s, fmt.Sprintf("must be an octal umask such as 022, got %q", s)
	}
	return n, ""
}

func checkFloat(s string) (any, string) {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return s, fmt.Sprintf("must be a number, got %q", s)
	}
	return s, ""
}

func checkDuration(s string) (any, string) {
	var d types.Duration
	if err := d.DecodeMapstructure(s); err != nil {
		return s, fmt.Sprintf("must be a duration such as 10s, 1m30s or 500ms, got %q", s)
	}
	return s, ""
}

func checkBytes(s string) (any, string) {
	var b types.UnitBytes
	if err := b.DecodeMapstructure(s); err != nil {
		return s, fmt.Sprintf("must be a size such as 512m, 2g or a number of bytes, got %q", s)
	}
	return s, ""
}

func checkFileMode(s string) (any, string) {
	var m types.FileMode
	if err := m.DecodeMapstructure(s); err != nil {
		return s, fmt.Sprintf("must be an octal file mode such as 0440, got %q", s)
	}
	return s, ""
}

func checkPort(s string) (any, string) {
	if _, err := types.ParsePortConfig(s); err != nil {
		return s, fmt.Sprintf("invalid port %q (%v): write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], such as \"8080:80\" or \"53:53/udp\"", s, err)
	}
	return s, ""
}

func checkVolume(s string) (any, string) {
	if _, err := format.ParseVolume(s); err != nil {
		return s, fmt.Sprintf("invalid volume %q (%v): write SOURCE:TARGET[:MODE], such as \"data:/var/lib/data\" or \"./conf:/etc/app:ro\"", s, err)
	}
	return s, ""
}

func oneOf(allowed ...string) func(string) (any, string) {
	return func(s string) (any, string) {
		if s == "" || slices.Contains(allowed, s) {
			return s, ""
		}
		return s, enumMsg(allowed, s)
	}
}

func enumMsg(allowed []string, got string) string {
	msg := fmt.Sprintf("must be one of: %s (got %q", strings.Join(allowed, ", "), got)
	if near := suggest(got, allowed); near != "" {
		msg += fmt.Sprintf(", did you mean %q?", near)
	}
	return msg + ")"
}

// suggest finds the option a mistyped word most likely meant: a different
// case or "-" for "_" first, then the nearest by edit distance, if near
// enough to be a typo.
func suggest(word string, options []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", -1
	for _, o := range options {
		if norm(o) == norm(word) {
			return o
		}
		d := editDistance(norm(word), norm(o))
		if d <= max(1, min(2, len(word)/4)) && (bestDist < 0 || d < bestDist) {
			best, bestDist = o, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b (swapped letters are a common typo).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
