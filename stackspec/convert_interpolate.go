package stackspec

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
)

// dockerSubstitute interpolates one string the way docker stack deploy
// does, for compose-go to call on every value. It differs from compose-go's
// own in ways real files hit:
//
//   - a default is taken literally: in ${PASS:-$2y$05$abc} the default is
//     the text "$2y$05$abc", where compose-go would expand $05 and $abc;
//   - the modifier is found by looking for ":-", then "-", then ":?", then
//     "?" anywhere after the name, so ${V:?no-dash} takes "dash" as a
//     default for a variable named "V:?no";
//   - an unbraced $NAME takes a modifier too, up to the next "}" or the end
//     ($HOME-x means HOME, defaulting to x);
//   - a $ followed by anything else ($1, ${1}, a lone $ at the end) is an
//     error: write $$ for a literal dollar.
func dockerSubstitute(s string, mapping template.Mapping) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			next := strings.IndexByte(s[i:], '$')
			if next < 0 {
				out.WriteString(s[i:])
				break
			}
			out.WriteString(s[i : i+next])
			i += next
			continue
		}
		rest := s[i+1:]
		var expr string
		switch {
		case strings.HasPrefix(rest, "$"):
			out.WriteByte('$')
			i += 2
			continue
		case len(rest) > 0 && isNameStart(rest[0]):
			expr = rest[:exprLen(rest)]
			i += 1 + len(expr)
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 1 || exprLen(rest[1:end]) != end-1 || end == 1 {
				return "", &template.InvalidTemplateError{Template: s}
			}
			expr = rest[1:end]
			i += len("${}") + len(expr)
		default:
			return "", &template.InvalidTemplateError{Template: s}
		}
		value, err := dockerExpand(expr, mapping)
		if err != nil {
			return "", err
		}
		out.WriteString(value)
	}
	return out.String(), nil
}

// exprLen is how much of s, which starts with a name, is one expression:
// the name, then optionally ":-", "-", ":?" or "?" and anything up to the
// next "}" or the end.
func exprLen(s string) int {
	if len(s) == 0 || !isNameStart(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && isNameChar(s[n]) {
		n++
	}
	mod := s[n:]
	mod = strings.TrimPrefix(mod, ":")
	if len(mod) > 0 && (mod[0] == '-' || mod[0] == '?') {
		if end := strings.IndexByte(s, '}'); end >= 0 {
			return end
		}
		return len(s)
	}
	return n
}

// dockerExpand resolves one expression, trying the forms in Docker's order.
func dockerExpand(expr string, mapping template.Mapping) (string, error) {
	if name, def, ok := strings.Cut(expr, ":-"); ok {
		if v, set := mapping(name); set && v != "" {
			return v, nil
		}
		return def, nil
	}
	if name, def, ok := strings.Cut(expr, "-"); ok {
		if v, set := mapping(name); set {
			return v, nil
		}
		return def, nil
	}
	if name, reason, ok := strings.Cut(expr, ":?"); ok {
		if v, set := mapping(name); set && v != "" {
			return v, nil
		}
		return "", &template.MissingRequiredError{Variable: name, Reason: reason}
	}
	if name, reason, ok := strings.Cut(expr, "?"); ok {
		if v, set := mapping(name); set {
			return v, nil
		}
		return "", &template.MissingRequiredError{Variable: name, Reason: reason}
	}
	v, _ := mapping(expr)
	return v, nil
}

func isNameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameChar(c byte) bool {
	return isNameStart(c) || ('0' <= c && c <= '9')
}
