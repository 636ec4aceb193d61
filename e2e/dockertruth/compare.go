package dockertruth

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Path locates a value in generic JSON: map keys as they are, list indexes
// as "[0]".
type Path []string

// String renders a path as "services.s001_web.TaskTemplate.Networks[0]";
// keys that would be ambiguous are quoted: Labels["com.docker.stack.image"].
func (p Path) String() string {
	var b strings.Builder
	for i, seg := range p {
		switch {
		case isIndex(seg):
			b.WriteString(seg)
		case seg == "" || strings.ContainsAny(seg, `.[]"`):
			b.WriteString("[" + strconv.Quote(seg) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String()
}

func isIndex(seg string) bool {
	return len(seg) > 2 && seg[0] == '[' && seg[len(seg)-1] == ']' && seg[1] != '"'
}

// ParsePath reads the String form back; in a pattern "*" stands for any key
// and "[*]" for any index.
func ParsePath(s string) (Path, error) {
	var p Path
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, `["`):
			end := strings.Index(s, `"]`)
			for end > 0 && s[end-1] == '\\' {
				next := strings.Index(s[end+1:], `"]`)
				if next < 0 {
					end = -1
					break
				}
				end += 1 + next
			}
			if end < 0 {
				return nil, fmt.Errorf("path %q: unterminated [\"", s)
			}
			key, err := strconv.Unquote(s[1 : end+1])
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", s, err)
			}
			p = append(p, key)
			s = s[end+2:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: unterminated [", s)
			}
			p = append(p, s[:end+1])
			s = s[end+1:]
		case s[0] == '.':
			s = s[1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			p = append(p, s[:end])
			s = s[end:]
		}
	}
	return p, nil
}

// matches reports whether pattern (a parsed ParsePath pattern) matches p
// segment for segment.
func (p Path) matches(pattern Path) bool {
	if len(p) != len(pattern) {
		return false
	}
	for i, want := range pattern {
		switch {
		case want == "*" && !isIndex(p[i]), want == "[*]" && isIndex(p[i]), want == p[i]:
		default:
			return false
		}
	}
	return true
}

// Rule names one known difference between two sides of a comparison, and
// why it is there.
type Rule struct {
	// Cases limits the rule to these cases; empty means every case.
	Cases []string
	// Path is a pattern in the ParsePath syntax.
	Path string
	// When, if set, must also hold for the values on each side (nil for a
	// side that lacks the value).
	When func(left, right any) bool
	// Why is the reason, as docs/compat.md gives it.
	Why string
}

// Diff is one value that differs between the two sides.
type Diff struct {
	Path        Path
	Left, Right any   // nil where a side lacks the value
	Rule        *Rule // the rule that explains it; nil when none does
}

// Format renders d with the two sides named, values as JSON.
func (d Diff) Format(left, right string) string {
	return fmt.Sprintf("%s: %s %s, %s %s", d.Path, left, show(d.Left), right, show(d.Right))
}

func show(v any) string {
	if v == nil {
		return "(absent)"
	}
	data, err := Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) > 300 {
		return string(data[:300]) + "..."
	}
	return string(data)
}

// Compare returns every difference between left and right, each with the
// first rule that explains it. A value that is absent, null, an empty object
// or an empty list counts as absent on either side: the Engine API treats
// them alike, and Go's encoder writes them differently depending on
// omitempty tags, not on meaning.
func Compare(caseName string, left, right Objects, rules []Rule) ([]Diff, error) {
	patterns := make([]Path, len(rules))
	for i, r := range rules {
		p, err := ParsePath(r.Path)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Path, err)
		}
		patterns[i] = p
	}
	var diffs []Diff
	lk, rk := left.kinds(), right.kinds()
	for _, kind := range []string{"services", "networks", "secrets", "configs"} {
		walk(Path{kind}, mapOrNil(lk[kind]), mapOrNil(rk[kind]), &diffs)
	}
	for i := range diffs {
		diffs[i].Rule = explain(caseName, diffs[i], rules, patterns)
	}
	return diffs, nil
}

func mapOrNil(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func explain(caseName string, d Diff, rules []Rule, patterns []Path) *Rule {
	for i := range rules {
		r := &rules[i]
		if len(r.Cases) > 0 && !contains(r.Cases, caseName) {
			continue
		}
		if !d.Path.matches(patterns[i]) {
			continue
		}
		if r.When != nil && !r.When(d.Left, d.Right) {
			continue
		}
		return r
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func walk(path Path, a, b any, out *[]Diff) {
	if isEmpty(a) && isEmpty(b) {
		return
	}
	// An absent side is walked as an empty object or list, so that a
	// difference deep inside is reported where it is, not as a whole.
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && isEmpty(b) || bIsMap && isEmpty(a) {
		aIsMap, bIsMap = true, true
	}
	if aIsMap && bIsMap {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			walk(append(path[:len(path):len(path)], k), am[k], bm[k], out)
		}
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && isEmpty(b) || bIsList && isEmpty(a) {
		aIsList, bIsList = true, true
	}
	if aIsList && bIsList {
		for i := 0; i < max(len(al), len(bl)); i++ {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			walk(append(path[:len(path):len(path)], "["+strconv.Itoa(i)+"]"), x, y, out)
		}
		return
	}
	if isEmpty(a) {
		a = nil
	}
	if isEmpty(b) {
		b = nil
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, Diff{Path: path, Left: a, Right: b})
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}
