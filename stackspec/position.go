package stackspec

// sources holds the compose files of one load, parsed into YAML node trees,
// so that any problem found later can be placed at a file, line and column.
//
// STUB: the positions helper replaces the bodies below; the signatures are
// the contract Load and Convert build on.
type sources struct {
	files []string
}

// newSources parses every file's YAML. Syntax errors come back positioned.
// contents[i] holds the bytes of files[i]; when contents is nil the files
// are read from disk.
func newSources(files []string, contents [][]byte) (*sources, error) {
	return &sources{files: files}, nil
}

// check validates every file on its own against the compose schema after
// interpolation with env, and returns every problem found (not just the
// first), each positioned. It returns nil when the files are valid.
func (s *sources) check(env map[string]string) ErrorList {
	return nil
}

// locate finds where a dotted field path ("services.web.deploy.replicas")
// is written. When several files set it, the last one wins, as it does in
// the merge; when no file writes the path, the nearest ancestor that is
// written is used.
func (s *sources) locate(path string) (file string, line, col int) {
	if len(s.files) > 0 {
		file = s.files[0]
	}
	return file, 0, 0
}

// errorAt makes an Error for a field path, placed where it is written.
func (s *sources) errorAt(path, msg string) *Error {
	file, line, col := s.locate(path)
	return &Error{File: file, Line: line, Column: col, Path: path, Msg: msg}
}

// wrap turns an error from compose-go, which carries no lines, into
// positioned errors by reading the field path out of its message.
func (s *sources) wrap(err error) ErrorList {
	if err == nil {
		return nil
	}
	return ErrorList{{Msg: err.Error()}}
}
