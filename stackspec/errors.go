package stackspec

import (
	"fmt"
	"strings"
)

// Error is one problem in a stack file, placed where a person can fix it:
//
//	stacks/shop/compose.yml:14:7: services.web.deploy.replicas: must be an integer, got "three"
type Error struct {
	File   string // the compose file, as it was named to Load
	Line   int    // 1-based; 0 when the problem has no place in a file
	Column int    // 1-based; 0 when unknown
	Path   string // dotted field path, "services.web.deploy.replicas"
	Msg    string // what is wrong and, where it helps, how to fix it
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
