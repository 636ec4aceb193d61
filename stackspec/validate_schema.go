package stackspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// violation is one complaint of the schema, after the alternatives of a
// oneOf or anyOf have been narrowed down to the one the author meant.
type violation struct {
	at   []string
	kind jsonschema.ErrorKind
	// alts holds, when no alternative accepts the value's type, what each
	// alternative would have accepted.
	alts []jsonschema.ErrorKind
}

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.Schema))
	if err != nil {
		return nil, fmt.Errorf("read compose schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		return nil, fmt.Errorf("add compose schema: %w", err)
	}
	sch, err := c.Compile("compose-spec.json")
	if err != nil {
		return nil, fmt.Errorf("compile compose schema: %w", err)
	}
	return sch, nil
})

// schemaViolations validates a document against compose-go's schema and
// returns every complaint, where compose-go keeps only the most specific one.
func schemaViolations(instance any) ([]violation, error) {
	sch, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	err = sch.Validate(instance)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, err
	}
	return leaves(verr), nil
}

// leaves flattens the error tree. For a oneOf or anyOf every alternative
// complains; the one kept is the alternative whose complaints go deepest,
// since the value has that alternative's shape. When every alternative
// rejects the value's type outright, one violation lists what each accepts.
func leaves(e *jsonschema.ValidationError) []violation {
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		if len(k.Subschemas) > 1 {
			return []violation{{at: e.InstanceLocation, kind: k}}
		}
		return bestAlternative(e)
	case *kind.AnyOf:
		return bestAlternative(e)
	}
	if len(e.Causes) == 0 {
		return []violation{{at: e.InstanceLocation, kind: e.ErrorKind}}
	}
	var out []violation
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func bestAlternative(e *jsonschema.ValidationError) []violation {
	var best []violation
	bestScore := -1
	var alts []jsonschema.ErrorKind
	for _, c := range e.Causes {
		vs := leaves(c)
		if shallow(vs, e.InstanceLocation) {
			for _, v := range vs {
				alts = append(alts, v.kind)
				alts = append(alts, v.alts...)
			}
			continue
		}
		score := 0
		for _, v := range vs {
			s := len(v.at)
			if _, ok := v.kind.(*kind.AdditionalProperties); ok {
				s++
			}
			score = max(score, s)
		}
		if score > bestScore {
			best, bestScore = vs, score
		}
	}
	if best != nil {
		return best
	}
	return []violation{{at: e.InstanceLocation, kind: e.ErrorKind, alts: alts}}
}

// shallow tells whether an alternative only rejected the type or value of
// the instance itself, not anything inside it.
func shallow(vs []violation, at []string) bool {
	for _, v := range vs {
		if !slices.Equal(v.at, at) {
			return false
		}
		switch v.kind.(type) {
		case *kind.Type, *kind.Enum, *kind.Const, *kind.AnyOf, *kind.OneOf:
		default:
			return false
		}
	}
	return len(vs) > 0
}

func (c *docCheck) addSchemaError(v violation) {
	at := v.at
	if c.reported[strings.Join(at, ".")] {
		return
	}
	value := instanceAt(c.instance, at)
	switch k := v.kind.(type) {
	case *kind.AdditionalProperties:
		for _, prop := range k.Properties {
			c.addKeyAt(appendPath(at, prop), unknownKeyMsg(at, prop))
		}
		return
	case *kind.FalseSchema:
		// unevaluatedProperties: false, the way the schema closes a service.
		// A key the schema knows is flagged too when its own value is
		// wrong (a failing subschema evaluates nothing); that value has its
		// own error, so only keys unknown at this place are reported.
		if len(at) > 0 {
			parent, key := at[:len(at)-1], at[len(at)-1]
			if _, inMapping := instanceAt(c.instance, parent).(map[string]any); inMapping {
				if keys, _ := schemaKeysAt(parent); !slices.Contains(keys, key) {
					c.addKeyAt(at, unknownKeyMsg(parent, key))
				}
				return
			}
		}
		c.addKeyAt(at, "is not allowed here")
		return
	case *kind.Required:
		for _, m := range k.Missing {
			c.addKeyAt(at, fmt.Sprintf("missing required key %q", m))
		}
		return
	case *kind.UniqueItems:
		c.addPathError(appendPath(at, strconv.Itoa(k.Duplicates[1])),
			fmt.Sprintf("repeats item %d of the list: remove one", k.Duplicates[0]))
		return
	}
	c.addPathError(at, violationMsg(v, value))
}

// addPathError places an error at the value found at path in this document.
func (c *docCheck) addPathError(path []string, msg string) {
	pl := find(c.root, path, nil)
	line, col := pl.pos()
	p := strings.Join(path, ".")
	c.reported[p] = true
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Column: col, Path: p, Msg: msg})
}

func violationMsg(v violation, value any) string {
	got := describeValue(value)
	switch k := v.kind.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", orList(typeNames(k.Want)), got)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return enumMsg(want, fmt.Sprint(k.Got))
	case *kind.Const:
		return fmt.Sprintf("must be %s, got %s", describeValue(k.Want), got)
	case *kind.OneOf, *kind.AnyOf:
		if len(v.alts) > 0 {
			var want []string
			for _, alt := range v.alts {
				switch a := alt.(type) {
				case *kind.Type:
					want = append(want, typeNames(a.Want)...)
				case *kind.Enum:
					for _, w := range a.Want {
						want = append(want, describeValue(w))
					}
				case *kind.Const:
					want = append(want, describeValue(a.Want))
				}
			}
			return fmt.Sprintf("must be %s, got %s", orList(want), got)
		}
		return "matches more than one of the allowed forms: write it in one form only"
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s, got %s", k.Want.FloatString(0), got)
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s, got %s", k.Want.FloatString(0), got)
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be more than %s, got %s", k.Want.FloatString(0), got)
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s, got %s", k.Want.FloatString(0), got)
	case *kind.MinItems:
		return fmt.Sprintf("must list at least %d item(s), got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must list at most %d item(s), got %d", k.Want, k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d character(s) long, got %s", k.Want, got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d character(s) long, got %s", k.Want, got)
	case *kind.MinProperties:
		return fmt.Sprintf("must set at least %d key(s)", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("%q does not match the pattern %s", k.Got, k.Want)
	case *kind.Format:
		return fmt.Sprintf("%s is not a valid %s", got, k.Want)
	case *kind.PropertyNames:
		return fmt.Sprintf("invalid key %q", k.Property)
	}
	return fmt.Sprintf("does not match the compose schema (%s)", strings.Join(v.kind.KeywordPath(), "/"))
}

func typeNames(want []string) []string {
	out := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "object":
			out[i] = "a mapping"
		case "array":
			out[i] = "a list"
		case "integer":
			out[i] = "an integer"
		case "boolean":
			out[i] = "true or false"
		case "null":
			out[i] = "empty"
		default:
			out[i] = "a " + w
		}
	}
	return out
}

// orList writes "a", "a or b", "a, b or c", each phrase once.
func orList(items []string) string {
	var uniq []string
	for _, it := range items {
		if !slices.Contains(uniq, it) {
			uniq = append(uniq, it)
		}
	}
	switch len(uniq) {
	case 0:
		return "something else"
	case 1:
		return uniq[0]
	}
	return strings.Join(uniq[:len(uniq)-1], ", ") + " or " + uniq[len(uniq)-1]
}

// describeValue names a JSON value for "got ...".
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing (the value is empty)"
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

// instanceAt finds the value at a path in a JSON document.
func instanceAt(doc any, at []string) any {
	for _, seg := range at {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(d) {
				return nil
			}
			doc = d[i]
		default:
			return nil
		}
	}
	return doc
}

// unknownKeyMsg says a key is not part of the format at its place and
// suggests the key the author likely meant.
func unknownKeyMsg(parent []string, key string) string {
	keys, names := schemaKeysAt(parent)
	if names != nil && !names.MatchString(key) {
		return fmt.Sprintf("invalid name %q: use only letters, digits, \".\", \"_\" and \"-\"", key)
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if near := suggest(key, keys); near != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", near)
	}
	if len(keys) > 0 {
		return msg + ": custom keys must start with x-"
	}
	return msg
}

var rawSchema = sync.OnceValue(func() map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(schema.Schema), &m); err != nil {
		return nil
	}
	return m
})

// schemaKeysAt lists the keys the schema allows at an instance path and,
// where the keys are names (services, networks ...), the pattern a name
// must match.
func schemaKeysAt(path []string) ([]string, *regexp.Regexp) {
	nodes := expandSchema([]map[string]any{rawSchema()})
	for _, seg := range path {
		var next []map[string]any
		for _, n := range nodes {
			next = append(next, schemaChild(n, seg)...)
		}
		nodes = expandSchema(next)
	}
	var keys []string
	var names *regexp.Regexp
	for _, n := range nodes {
		if props, ok := n["properties"].(map[string]any); ok {
			for k := range props {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		if pats, ok := n["patternProperties"].(map[string]any); ok {
			for p := range pats {
				if p != "^x-" && names == nil {
					names, _ = regexp.Compile(p)
				}
			}
		}
	}
	slices.Sort(keys)
	return keys, names
}

// schemaChild finds the schemas that apply to the value under key seg.
func schemaChild(n map[string]any, seg string) []map[string]any {
	if props, ok := n["properties"].(map[string]any); ok {
		if sub, ok := props[seg].(map[string]any); ok {
			return []map[string]any{sub}
		}
	}
	if pats, ok := n["patternProperties"].(map[string]any); ok {
		for p, sub := range pats {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(seg) {
				if m, ok := sub.(map[string]any); ok {
					return []map[string]any{m}
				}
			}
		}
	}
	if sub, ok := n["additionalProperties"].(map[string]any); ok {
		return []map[string]any{sub}
	}
	if sub, ok := n["items"].(map[string]any); ok {
		if _, err := strconv.Atoi(seg); err == nil {
			return []map[string]any{sub}
		}
	}
	return nil
}

// expandSchema adds to each schema the ones it refers to or combines
// ($ref, allOf, anyOf, oneOf), where the properties of a mapping may live.
func expandSchema(nodes []map[string]any) []map[string]any {
	var out []map[string]any
	var visit func(n map[string]any, depth int)
	visit = func(n map[string]any, depth int) {
		if n == nil || depth > 8 {
			return
		}
		out = append(out, n)
		if ref, ok := n["$ref"].(string); ok {
			visit(schemaRef(ref), depth+1)
		}
		for _, comb := range []string{"allOf", "anyOf", "oneOf"} {
			if alts, ok := n[comb].([]any); ok {
				for _, a := range alts {
					if m, ok := a.(map[string]any); ok {
						visit(m, depth+1)
					}
				}
			}
		}
	}
	for _, n := range nodes {
		visit(n, 0)
	}
	return out
}

// schemaRef resolves a local reference such as "#/$defs/service".
func schemaRef(ref string) map[string]any {
	var node any = rawSchema()
	for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[seg]
	}
	m, _ := node.(map[string]any)
	return m
}
