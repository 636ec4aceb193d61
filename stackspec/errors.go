package stackspec

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Error is one problem in a stack file, placed where a person can fix it:
//
//	stacks/shop/compose.yml:14:7: services.web.deploy.replicas: must be an integer, got "three"
type Error struct {
	File   string `json:"file"`             // the compose file, as it was named to Load
	Line   int    `json:"line,omitempty"`   // 1-based; 0 when the problem has no place in a file
	Column int    `json:"column,omitempty"` // 1-based; 0 when unknown
	Path   string `json:"path,omitempty"`   // dotted field path, "services.web.deploy.replicas"
	Msg    string `json:"message"`          // what is wrong and, where it helps, how to fix it
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Column)
			}
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a load or conversion, in file and
// line order. Load and Convert return one when anything is wrong, so a
// person fixes all of them in one pass.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each *Error in the list.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sorted returns the list in file order (files as given to Load, then any
// other file by name), then line and column, without repeats. An error met
// through a YAML anchor is found once per use of the anchor, under several
// field paths but at the same place: it is kept once. A nil list is
// returned when there is nothing to report, so the result can be returned
// as an error.
func (l ErrorList) sorted(files []string) ErrorList {
	if len(l) == 0 {
		return nil
	}
	rank := func(file string) int {
		if i := slices.Index(files, file); i >= 0 {
			return i
		}
		return len(files)
	}
	out := slices.Clone(l)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(rank(a.File), rank(b.File)),
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Msg, b.Msg),
		)
	})
	type key struct {
		file      string
		line, col int
		path, msg string
	}
	seen := map[key]bool{}
	uniq := out[:0]
	for _, e := range out {
		k := key{file: e.File, line: e.Line, col: e.Column, msg: e.Msg}
		if e.Line == 0 {
			k.path = e.Path
		}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, e)
		}
	}
	return uniq
}

// wrap turns an error from compose-go, which carries no lines, into
// positioned errors by reading the field path out of its message.
//
// compose-go joins the errors of interpolation (one per bad value) and
// prefixes schema errors with "validating FILE: "; both are taken apart so
// that each problem is placed on its own. A message whose form is not known
// is kept as it is, under the only file when there is one.
func (s *sources) wrap(err error) ErrorList {
	if err == nil {
		return nil
	}
	var out ErrorList
	s.wrapInto(&out, err, "")
	return out.sorted(s.files)
}

var fileContext = regexp.MustCompile(`^(?:validating|failed to parse) (.+?): `)

func (s *sources) wrapInto(out *ErrorList, err error, file string) {
	// Errors of our own are already placed, even under added context.
	var list ErrorList
	if errors.As(err, &list) {
		*out = append(*out, list...)
		return
	}
	var one *Error
	if errors.As(err, &one) {
		*out = append(*out, one)
		return
	}
	msg := err.Error()
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		children := joined.Unwrap()
		texts := make([]string, len(children))
		for i, c := range children {
			texts[i] = c.Error()
		}
		if msg == strings.Join(texts, "\n") {
			for _, c := range children {
				s.wrapInto(out, c, file)
			}
			return
		}
	}
	if m := fileContext.FindStringSubmatch(msg); m != nil {
		file = m[1]
		if inner := errors.Unwrap(err); inner != nil && inner.Error() == msg[len(m[0]):] {
			s.wrapInto(out, inner, file)
			return
		}
		msg = msg[len(m[0]):]
	}
	if strings.HasPrefix(msg, "yaml: ") || yamlMark.MatchString(msg) {
		*out = append(*out, s.yamlErrors(err, msg, file)...)
		return
	}
	if errs := s.fromMessage(msg, file); errs != nil {
		*out = append(*out, errs...)
		return
	}
	// Our caller may have added context of its own around compose-go's
	// error: the inner error, placed, says more than the outer unplaced.
	if inner := errors.Unwrap(err); inner != nil {
		var sub ErrorList
		s.wrapInto(&sub, inner, file)
		if len(sub) > 0 && sub[0].Line > 0 {
			*out = append(*out, sub...)
			return
		}
	}
	// A message of no known form: it is about the file compose-go names,
	// or, when it names none, the first (where the merge starts), as a
	// whole.
	e := &Error{File: file, Msg: cleanMsg(msg)}
	if file != "" {
		e.File = s.fileNamed(file)
	} else if len(s.files) > 0 {
		e.File = s.files[0]
	}
	if root := s.root(e.File); root != nil {
		e.Line, e.Column = root.Line, root.Column
	}
	*out = append(*out, e)
}

// messageForm is one shape of compose-go error message and how to place it.
type messageForm struct {
	re    *regexp.Regexp
	place func(s *sources, file string, m []string) ErrorList
}

// pathToken is a field path as compose-go writes one in a message.
const pathToken = `((?:services|networks|volumes|secrets|configs|models|include|name|version|x-[^.\s]*)(?:[.\[][^\s]*)?)`

var messageForms = []messageForm{
	{regexp.MustCompile(`(?s)^invalid interpolation format for (\S+?)\.\n.*\n(.*)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], containsText(m[2]), fmt.Sprintf("invalid interpolation format in %q: write a literal $ as $$", m[2]))
	}},
	{regexp.MustCompile(`(?s)^error while interpolating (\S+): required variable (\S+) is missing a value(?:: (.*))?$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], refersTo(m[2]), requiredMsg(m[2], m[3]))
	}},
	{regexp.MustCompile(`(?s)^error while interpolating (\S+): failed to cast to expected type: (.*)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], nil, castMsg(m[2]))
	}},
	{regexp.MustCompile(`(?s)^error while interpolating (\S+): (.*)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], nil, m[2])
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) additional propert(?:y|ies) (.+) not allowed$`), func(s *sources, file string, m []string) ErrorList {
		var out ErrorList
		for _, q := range regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`).FindAllStringSubmatch(m[2], -1) {
			parent := splitPath(m[1])
			p := s.lookupIn(append(slices.Clip(parent), q[1]), file, nil)
			line, col := p.keyPos()
			out = append(out, &Error{File: p.file, Line: line, Column: col, Path: joinPath(m[1], q[1]), Msg: unknownKeyMsg(parent, q[1])})
		}
		return out
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) false schema$`), func(s *sources, file string, m []string) ErrorList {
		parts := splitPath(m[1])
		if len(parts) == 0 {
			return nil
		}
		p := s.lookupIn(parts, file, nil)
		line, col := p.keyPos()
		return ErrorList{{File: p.file, Line: line, Column: col, Path: m[1], Msg: unknownKeyMsg(parts[:len(parts)-1], parts[len(parts)-1])}}
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) must be an? (.+)$`), func(s *sources, file string, m []string) ErrorList {
		want := strings.Split(strings.ReplaceAll(m[2], ", ", " or "), " or ")
		return s.placedGot(file, m[1], "must be "+orList(typeNames(want)))
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) must be (greater|less) than or equal to (.+)$`), func(s *sources, file string, m []string) ErrorList {
		bound := map[string]string{"greater": "at least", "less": "at most"}[m[2]]
		return s.placedGot(file, m[1], fmt.Sprintf("must be %s %s", bound, m[3]))
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) missing propert(?:y|ies) (.+)$`), func(s *sources, file string, m []string) ErrorList {
		keys := strings.ReplaceAll(m[2], "'", `"`)
		p := s.lookupIn(splitPath(m[1]), file, nil)
		line, col := p.keyPos()
		return ErrorList{{File: p.file, Line: line, Column: col, Path: m[1], Msg: "missing required key " + keys}}
	}},
	{regexp.MustCompile(`^((?:\S*[^:\s])?) value must be one of (.+)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placedGot(file, m[1], "must be one of: "+strings.ReplaceAll(m[2], "'", ""))
	}},
	{regexp.MustCompile(`^service "([^"]+)" refers to undefined (network|volume|config|secret|build secret|model) (.+?)(?:: invalid compose project)?$`), func(s *sources, file string, m []string) ErrorList {
		field := map[string]string{"network": "networks", "volume": "volumes", "config": "configs", "secret": "secrets", "build secret": "build.secrets", "model": "models"}[m[2]]
		top := strings.TrimPrefix(field, "build.")
		return s.reference(file, "services."+m[1]+"."+field, m[3],
			fmt.Sprintf("undefined %s %q: declare it under the top-level %s: key", m[2], m[3], top))
	}},
	{regexp.MustCompile(`^service "([^"]+)" depends on undefined service "([^"]+)"`), func(s *sources, file string, m []string) ErrorList {
		return s.reference(file, "services."+m[1]+".depends_on", m[2],
			fmt.Sprintf("depends on undefined service %q: define it under services: or remove the dependency", m[2]))
	}},
	{regexp.MustCompile(`^service "([^"]+)" has neither an image nor a build context specified`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, "services."+m[1], nil, "has no image: set image: to the image the service runs")
	}},
	{regexp.MustCompile("^service (\\S+) declares mutually exclusive `network_mode` and `networks`"), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, "services."+m[1]+".network_mode", nil, "network_mode and networks cannot both be set: keep one")
	}},
	{regexp.MustCompile("^secret \"([^\"]+)\" must declare either `file` or `environment`"), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, "secrets."+m[1], nil, "needs file: (a path to its content) or external: true (created beforehand)")
	}},
	{regexp.MustCompile(`(?s)^decoding failed due to the following error\(s\):\n\n(.*)$`), func(s *sources, file string, m []string) ErrorList {
		var out ErrorList
		for _, line := range strings.Split(m[1], "\n") {
			if d := decodeLine.FindStringSubmatch(line); d != nil {
				out = append(out, s.placed(file, d[1], nil, decodeMsg(d[1], d[2]))...)
			}
		}
		return out
	}},
	{regexp.MustCompile(`^invalid (?:hostPort|containerPort|proto|range for (?:hostPort|containerPort)|port|IP address): (.+)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, "services.*.ports.[]", containsText(m[1]),
			fmt.Sprintf("invalid port (%s): write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], such as \"8080:80\" or \"53:53/udp\"", m[0]))
	}},
	{regexp.MustCompile(`^non-string key (?:in (\S+)|at top level): (.*)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], nil, fmt.Sprintf("key %s is not a string: quote it", m[2]))
	}},
	{regexp.MustCompile(`^cannot override (\S+)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], nil, "cannot be overridden by a later file: set it in one file only")
	}},
	{regexp.MustCompile(`(?s)^` + pathToken + `: (.+)$`), func(s *sources, file string, m []string) ErrorList {
		return s.placed(file, m[1], nil, cleanMsg(m[2]))
	}},
}

var decodeLine = regexp.MustCompile(`^\s*(?:\* )?'([^']+)' (.*)$`)

// fromMessage places an error message of a known form; nil when the form
// is not known.
func (s *sources) fromMessage(msg, file string) ErrorList {
	for _, f := range messageForms {
		if m := f.re.FindStringSubmatch(msg); m != nil {
			if errs := f.place(s, file, m); len(errs) > 0 {
				return errs
			}
		}
	}
	return nil
}

// yamlErrors places go-yaml's errors, which carry their line; a list of
// construct errors ("line 2: mapping key "a" already defined at line 1") is
// split into one error each.
func (s *sources) yamlErrors(err error, msg, file string) ErrorList {
	if file == "" && len(s.files) == 1 {
		file = s.files[0]
	}
	file = s.fileNamed(file)
	var data []byte
	if i := slices.Index(s.files, file); i >= 0 {
		data = s.text[i]
	}
	if rest, ok := strings.CutPrefix(msg, "yaml: construct errors:"); ok {
		var out ErrorList
		for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
			out = append(out, syntaxError(file, data, errors.New(strings.TrimSpace(line))))
		}
		return out
	}
	// The error go-yaml made, rather than the text around it, tells how
	// its position is counted.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == msg {
			return ErrorList{syntaxError(file, data, e)}
		}
	}
	return ErrorList{syntaxError(file, data, errors.New(msg))}
}

// placed makes one error for a field path; match picks the list item meant
// when the path has a "[]" segment.
func (s *sources) placed(file, path string, match func(*yaml.Node) bool, msg string) ErrorList {
	parts := splitPath(path)
	p := s.lookupIn(parts, file, match)
	line, col := p.pos()
	return ErrorList{{File: p.file, Line: line, Column: col, Path: shownPath(parts, p), Msg: msg}}
}

// placedGot is placed with ", got VALUE" added when the value is a scalar.
func (s *sources) placedGot(file, path, msg string) ErrorList {
	parts := splitPath(path)
	p := s.lookupIn(parts, file, nil)
	if p.complete && p.val != nil {
		msg += ", got " + describeNode(p.val)
	}
	line, col := p.pos()
	return ErrorList{{File: p.file, Line: line, Column: col, Path: path, Msg: msg}}
}

// reference places an error about a name a service refers to, written as a
// key (networks: {front: ...}) or as a list item (networks: [front],
// secrets: [{source: db}], volumes: ["data:/var/lib"]).
func (s *sources) reference(file, field, name, msg string) ErrorList {
	parts := append(splitPath(field), name)
	if p := s.lookupIn(parts, file, nil); p.complete {
		line, col := p.keyPos()
		return ErrorList{{File: p.file, Line: line, Column: col, Path: field + "." + name, Msg: msg}}
	}
	return s.placed(file, field+".[]", namesRef(name), msg)
}

// namesRef matches a list item that refers to name: "name",
// "name:/target" or a mapping with source: name.
func namesRef(name string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		switch n.Kind {
		case yaml.ScalarNode:
			return n.Value == name || strings.HasPrefix(n.Value, name+":")
		case yaml.MappingNode:
			_, v := mapGet(n, "source")
			return v != nil && resolve(v).Value == name
		}
		return false
	}
}

func containsText(text string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		return n.Kind == yaml.ScalarNode && strings.Contains(n.Value, text)
	}
}

// shownPath is the path an error names: the path found, with the list
// item or key a wildcard stood for; or, when the path is not all written,
// the part of it before any wildcard.
func shownPath(parts []string, p place) string {
	if p.complete {
		return strings.Join(p.found, ".")
	}
	for i, seg := range parts {
		if seg == "[]" || seg == "*" {
			return strings.Join(parts[:i], ".")
		}
	}
	return strings.Join(parts, ".")
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

var castFailure = regexp.MustCompile(`^(?:strconv\.(\w+): parsing "(.*)": .*|invalid boolean: (.*))$`)

// castMsg rewrites compose-go's "failed to cast to expected type" detail.
func castMsg(detail string) string {
	m := castFailure.FindStringSubmatch(detail)
	switch {
	case m == nil:
		return "has the wrong type: " + detail
	case m[3] != "" || strings.HasPrefix(detail, "invalid boolean"):
		return fmt.Sprintf("must be true or false, got %q", m[3])
	case m[1] == "ParseFloat":
		return fmt.Sprintf("must be a number, got %q", m[2])
	case m[1] == "ParseUint":
		return fmt.Sprintf("must be an octal umask such as 022, got %q", m[2])
	}
	return fmt.Sprintf("must be an integer, got %q", m[2])
}

// decodeMsg rewrites what compose-go says when a value does not decode
// into its field.
func decodeMsg(path, detail string) string {
	got := ""
	if q := quoted.FindAllStringSubmatch(detail, -1); len(q) > 0 {
		got = q[len(q)-1][1] + q[len(q)-1][2]
	}
	switch {
	case strings.HasPrefix(detail, "time: "):
		return fmt.Sprintf("must be a duration such as 10s, 1m30s or 500ms, got %q", got)
	case strings.HasPrefix(detail, "invalid size"):
		return fmt.Sprintf("must be a size such as 512m, 2g or a number of bytes, got %q", got)
	case strings.HasPrefix(detail, "strconv.ParseInt") && strings.HasSuffix(path, ".mode"):
		return fmt.Sprintf("must be an octal file mode such as 0440, got %q", got)
	case strings.HasPrefix(detail, "strconv."):
		return castMsg(detail)
	}
	return detail
}

var quoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"|'([^']*)'`)

// refersTo matches a string that uses the variable name.
func refersTo(name string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		return n.Kind == yaml.ScalarNode && (strings.Contains(n.Value, "${"+name) || strings.Contains(n.Value, "$"+name))
	}
}

// cleanMsg drops what compose-go appends for programs (": invalid compose
// project") and keeps a multi-line message on one line.
func cleanMsg(msg string) string {
	msg = strings.TrimSuffix(msg, ": invalid compose project")
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
}
