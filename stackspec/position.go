package stackspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// sources holds the compose files of one load, parsed into YAML node trees,
// so that any problem found later can be placed at a file, line and column.
type sources struct {
	files []string
	// docs[i] holds the root node of each YAML document of files[i]; a
	// compose file is almost always one document, but compose-go merges a
	// multi-document stream in order, so later documents win like later files.
	docs [][]*yaml.Node
	text [][]byte
}

// newSources parses every file's YAML. Syntax errors come back positioned.
// contents[i] holds the bytes of files[i]; when contents is nil the files
// are read from disk.
//
// Every file is parsed even when an earlier one is broken, so one pass shows
// all the syntax errors. The sources are returned with the error so that
// what did parse can still be located.
func newSources(files []string, contents [][]byte) (*sources, error) {
	s := &sources{
		files: files,
		docs:  make([][]*yaml.Node, len(files)),
		text:  make([][]byte, len(files)),
	}
	var errs ErrorList
	for i, file := range files {
		var data []byte
		if contents != nil && i < len(contents) {
			data = contents[i]
		} else {
			b, err := os.ReadFile(file)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the Error names the file already
				}
				errs = append(errs, &Error{File: file, Msg: fmt.Sprintf("cannot read the file: %v", err)})
				continue
			}
			data = b
		}
		s.text[i] = data
		docs, perrs := parseDocuments(file, data)
		s.docs[i] = docs
		errs = append(errs, perrs...)
	}
	if len(errs) > 0 {
		return s, errs.sorted(files)
	}
	return s, nil
}

// parseDocuments reads every YAML document of one file. It stops at the first
// syntax error: after one, the parser cannot tell where the next token is.
func parseDocuments(file string, data []byte) ([]*yaml.Node, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return docs, ErrorList{syntaxError(file, data, err)}
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if resolve(root).Kind != yaml.MappingNode {
			return docs, ErrorList{{File: file, Line: root.Line, Column: root.Column,
				Msg: fmt.Sprintf("the top level must be a mapping of keys such as services: and networks:, got %s", describeNode(root))}}
		}
		docs = append(docs, root)
	}
	if len(docs) == 0 {
		// docker stack deploy refuses an empty file too, override or not.
		return nil, ErrorList{{File: file, Line: 1, Msg: "the file is empty: a compose file needs at least a services: mapping"}}
	}
	return docs, nil
}

// yamlMark finds the positions go-yaml writes into its messages:
// "line 3, column 7" or just "line 3". A message may carry two, the context
// ("while parsing a flow sequence at line 1, column 4") and then the place of
// the problem itself. go-yaml writes "<unknown position>" for a line it
// holds as 0, which for a parser error is the first line (see syntaxError).
var (
	yamlContext = regexp.MustCompile(`^(.+?) at (?:line (\d+)(?:, column (\d+))?|<unknown position>): `)
	yamlMark    = regexp.MustCompile(`^(?:line (\d+)(?:, column (\d+))?|<unknown position>): `)
	yamlOffset  = regexp.MustCompile(`^offset (\d+): `)
)

// syntaxError places a go-yaml error at its line and column and adds, for the
// common mistakes, how to fix them.
func syntaxError(file string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	// go-yaml v4.0.0-rc.4 counts a parser error's lines from 0 and a
	// composer error's columns from 2, where its scanner counts both from
	// 1 (the tests pin this down, so an upgrade that fixes it shows).
	lineFix, colFix := 0, 0
	switch fmt.Sprintf("%T", err) {
	case "libyaml.ParserError":
		lineFix = 1
	case "*libyaml.ParserError":
		colFix = -1
	}
	mark := func(line, col string) (int, int) {
		l, _ := strconv.Atoi(line)
		c, _ := strconv.Atoi(col)
		if c > 0 {
			c = max(1, c+colFix)
		}
		return l + lineFix, c
	}
	e := &Error{File: file}
	context := ""
	if m := yamlContext.FindStringSubmatch(msg); m != nil {
		e.Line, e.Column = mark(m[2], m[3])
		context = m[1]
		if e.Line > 0 {
			context += fmt.Sprintf(" at line %d", e.Line)
		}
		if e.Column > 0 {
			context += fmt.Sprintf(", column %d", e.Column)
		}
		msg = msg[len(m[0]):]
	}
	if yamlMark.MatchString(msg) {
		// compose-go puts its own "line N: " before go-yaml's: the last
		// one is where the problem is.
		for m := yamlMark.FindStringSubmatch(msg); m != nil; m = yamlMark.FindStringSubmatch(msg) {
			if line, col := mark(m[1], m[2]); line > 0 {
				e.Line, e.Column = line, col
			}
			msg = msg[len(m[0]):]
		}
	} else if m := yamlOffset.FindStringSubmatch(msg); m != nil {
		offset, _ := strconv.Atoi(m[1])
		if offset <= len(data) {
			e.Line = 1 + bytes.Count(data[:offset], []byte("\n"))
		}
		msg = msg[len(m[0]):]
	}
	if context != "" {
		msg += " (" + context + ")"
	}
	if dup := duplicateKey.FindStringSubmatch(msg); dup != nil {
		msg = fmt.Sprintf("key %s is already set at line %s", dup[1], dup[2])
	}
	if hint := syntaxHint(msg, lineOf(data, e.Line)); hint != "" {
		msg += ": " + hint
	}
	e.Msg = "invalid YAML: " + msg
	return e
}

var duplicateKey = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)`)

func syntaxHint(msg, line string) string {
	switch {
	case strings.Contains(msg, "is already set at line"):
		return "remove one of them"
	case strings.Contains(line, "\t") && strings.Contains(msg, "cannot start any token"):
		return "indent with spaces; YAML does not allow tabs"
	case strings.Contains(msg, "mapping values are not allowed"):
		return `check the indentation, or quote a value that contains ": "`
	case strings.Contains(msg, "did not find expected key"):
		return "check this line's indentation against the lines above it"
	case strings.Contains(msg, "did not find expected '-' indicator"):
		return "every item of a list must start at the same indentation"
	case strings.Contains(msg, "could not find expected ':'"):
		return `add ": " after the key, or quote the value`
	case strings.Contains(msg, "unknown anchor"):
		return "define the anchor (&name) before it is used (*name)"
	case strings.Contains(msg, "did not find expected ',' or"):
		return "close the brackets, and separate the items with commas"
	case strings.Contains(msg, "found unexpected end of stream"):
		return "close the quote or bracket"
	case strings.Contains(msg, "cannot start any token"):
		return "quote the value"
	}
	return ""
}

func lineOf(data []byte, line int) string {
	if line < 1 {
		return ""
	}
	for i := 1; i < line; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return ""
		}
		data = data[nl+1:]
	}
	if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
		data = data[:nl]
	}
	return string(data)
}

// resolve follows aliases to the node they stand for. A YAML alias cannot
// refer to itself (the parser rejects an anchor used inside its own value),
// but the loop is bounded all the same.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describeNode names what a node holds, for "got ..." in messages.
func describeNode(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing (the value is empty)"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// isMergeKey tells a YAML merge key (<<) from a quoted "<<" key.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// mapGet finds key in a mapping the way the YAML merge (<<) resolves it: a
// key written in the mapping wins over a merged one, and among merged
// mappings the first listed wins.
func mapGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	return mapGetSeen(m, key, map[*yaml.Node]bool{})
}

// mapGetSeen searches each merged mapping once, so that a mapping merging
// itself, or the same anchor many times over, costs no more than the file.
func mapGetSeen(m *yaml.Node, key string, seen map[*yaml.Node]bool) (k, v *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode || seen[m] {
		return nil, nil
	}
	seen[m] = true
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		if isMergeKey(kn) {
			merges = append(merges, m.Content[i+1])
			continue
		}
		if kn.Value == key {
			return kn, m.Content[i+1]
		}
	}
	for _, mv := range merges {
		mv = resolve(mv)
		sources := []*yaml.Node{mv}
		if mv.Kind == yaml.SequenceNode {
			sources = mv.Content
		}
		for _, src := range sources {
			if k, v := mapGetSeen(src, key, seen); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// place is where (part of) a field path is written.
type place struct {
	file     string
	key, val *yaml.Node // key is nil for a list item
	depth    int        // how many path segments were found
	complete bool       // the whole path was found
	found    []string   // the segments found, with wildcards filled in
}

// pos is where an error about the field belongs: the value itself for a
// scalar (so `replicas: three` points at three), the key for a mapping or a
// list, which is where a person looks for the field.
func (p place) pos() (line, col int) {
	if p.val == nil && p.key == nil {
		return 0, 0
	}
	if p.complete && p.val != nil && resolve(p.val).Kind == yaml.ScalarNode {
		v := resolve(p.val)
		return v.Line, v.Column
	}
	return p.keyPos()
}

// keyPos is the position of the key naming the field, or of the item for a
// list item: where to point at for an unknown or misplaced key.
func (p place) keyPos() (line, col int) {
	if p.key != nil {
		return p.key.Line, p.key.Column
	}
	if p.val != nil {
		return p.val.Line, p.val.Column
	}
	return 0, 0
}

// find walks one document along path. At each mapping it tries the longest
// run of segments that names a key, so that keys which contain dots
// (com.example.foo, net.core.somaxconn) are found. A "[]" segment stands for
// any list item and "*" for any key: match picks the one meant, or the walk
// stops there.
func find(root *yaml.Node, parts []string, match func(*yaml.Node) bool) place {
	best := place{val: root}
	node := root
	for i := 0; i < len(parts); {
		n := resolve(node)
		if n == nil {
			break
		}
		if (parts[i] == "[]" || parts[i] == "*") && match != nil {
			if hit, ok := findAny(n, parts[i], parts[i+1:], match); ok {
				hit.depth += best.depth
				hit.found = append(slices.Clip(best.found), hit.found...)
				return hit
			}
			break
		}
		var k, v *yaml.Node
		used := 0
		switch n.Kind {
		case yaml.MappingNode:
			for j := len(parts); j > i; j-- {
				if k, v = mapGet(n, strings.Join(parts[i:j], ".")); k != nil {
					used = j - i
					break
				}
			}
		case yaml.SequenceNode:
			if idx, err := strconv.Atoi(parts[i]); err == nil && idx >= 0 && idx < len(n.Content) {
				v, used = n.Content[idx], 1
			}
		}
		if used == 0 {
			break
		}
		found := append(slices.Clip(best.found), strings.Join(parts[i:i+used], "."))
		i += used
		best = place{key: k, val: v, depth: best.depth + used, found: found}
		node = v
	}
	best.complete = best.depth == len(parts)
	return best
}

// findAny tries every list item ("[]") or every value of a mapping ("*")
// for the first where the rest of the path leads to a node match accepts.
func findAny(n *yaml.Node, wildcard string, rest []string, match func(*yaml.Node) bool) (place, bool) {
	try := func(seg string, k, v *yaml.Node) (place, bool) {
		hit := find(v, rest, match)
		if !hit.complete || !match(resolve(hit.val)) {
			return place{}, false
		}
		if len(rest) == 0 {
			hit.key = k
		}
		hit.depth++
		hit.found = append([]string{seg}, hit.found...)
		return hit, true
	}
	switch {
	case wildcard == "[]" && n.Kind == yaml.SequenceNode:
		for idx, item := range n.Content {
			if hit, ok := try(strconv.Itoa(idx), nil, item); ok {
				return hit, true
			}
		}
	case wildcard == "*" && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !isMergeKey(k) {
				if hit, ok := try(k.Value, k, n.Content[i+1]); ok {
					return hit, true
				}
			}
		}
	}
	return place{}, false
}

// splitPath turns a field path as compose-go, mapstructure or we write it
// ("services.web.ports.0", "services.web.volumes[1]", "services[web].image",
// "services.web.environment.[]") into segments. A bracketed key is kept whole
// even when it holds dots.
func splitPath(path string) []string {
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '.':
			flush()
		case '[':
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				cur.WriteByte(c)
				continue
			}
			flush()
			inner := path[i+1 : i+end]
			if inner == "" {
				inner = "[]"
			}
			parts = append(parts, inner)
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return parts
}

// lookup finds where parts is written across all files: the last file that
// writes the whole path wins, as in the merge; when none does, the file that
// writes the deepest ancestor. only, when set, limits the search to one file.
func (s *sources) lookup(parts []string, only string, match func(*yaml.Node) bool) place {
	var best place
	found := false
	for i, file := range s.files {
		if only != "" && !sameFile(file, only) {
			continue
		}
		for _, doc := range s.docs[i] {
			p := find(doc, parts, match)
			p.file = file
			if !found || p.depth >= best.depth {
				best, found = p, true
			}
		}
	}
	if !found || best.depth == 0 {
		file := ""
		if only != "" {
			file = s.fileNamed(only)
		} else if len(s.files) > 0 {
			file = s.files[0]
		}
		// Nothing of the path is written: the problem is the file's, and
		// its first key is where a person starts reading.
		return place{file: file, val: s.root(file), complete: len(parts) == 0}
	}
	return best
}

// root is the top-level mapping of a file's first document, or nil.
func (s *sources) root(file string) *yaml.Node {
	for i, f := range s.files {
		if f == file && len(s.docs[i]) > 0 {
			return s.docs[i][0]
		}
	}
	return nil
}

// lookupIn prefers the file compose-go named in its message; a value the
// merge brought in from another file is looked for in all of them.
func (s *sources) lookupIn(parts []string, file string, match func(*yaml.Node) bool) place {
	if file == "" {
		return s.lookup(parts, "", match)
	}
	p := s.lookup(parts, file, match)
	if p.complete {
		return p
	}
	if q := s.lookup(parts, "", match); q.complete || p.depth == 0 {
		return q
	}
	return p
}

// fileNamed returns the file as it was named to Load, for a name compose-go
// may have made absolute.
func (s *sources) fileNamed(name string) string {
	for _, f := range s.files {
		if sameFile(f, name) {
			return f
		}
	}
	return name
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// locate finds where a dotted field path ("services.web.deploy.replicas")
// is written. When several files set it, the last one wins, as it does in
// the merge; when no file writes the path, the nearest ancestor that is
// written is used.
func (s *sources) locate(path string) (file string, line, col int) {
	p := s.lookup(splitPath(path), "", nil)
	line, col = p.pos()
	return p.file, line, col
}

// errorAt makes an Error for a field path, placed where it is written.
func (s *sources) errorAt(path, msg string) *Error {
	file, line, col := s.locate(path)
	return &Error{File: file, Line: line, Column: col, Path: path, Msg: msg}
}
