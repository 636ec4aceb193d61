package dockertruth

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/swarmops/swarmops/api"
)

// Report is how swarmops's conversion of one case compares with Docker's.
type Report struct {
	// Problems are the differences nothing explains: bugs, until fixed or
	// named (with the reason) in Deliberate and docs/compat.md.
	Problems []string
	// Known are the differences Deliberate explains.
	Known []Diff
	// Relaxed is the entry that explains Docker's rejection, when swarmops
	// deliberately does not make it.
	Relaxed *Relaxed
}

// Ours is swarmops's conversion of one case: the spec, or the error Load
// or Convert returned with the field path of each problem in it.
type Ours struct {
	Spec     *api.StackSpec
	Err      error
	ErrPaths []string
}

// Check compares swarmops's conversion of a staged case with the truth
// Docker recorded for it. Both must reject the stack or both accept it,
// unless relaxed names Docker's rejection as one swarmops does not make:
// then swarmops accepts the stack, or rejects it for its other faults, as
// the entry says. When both reject and Docker's error names a field, one of
// ours must name it too (or a field inside it). When both accept, every
// object Docker's CLI sent must equal ours, and so must the warnings.
func Check(caseName string, ours Ours, st *Staged, truth *Truth, rules []Rule, relaxed []Relaxed) (*Report, error) {
	r := &Report{}
	if truth.Rejected {
		at := DockerErrorPath(truth.Stderr)
		if rx := relaxedFor(caseName, at, relaxed); rx != nil {
			r.Relaxed = rx
			switch {
			case rx.Accepts && ours.Err != nil:
				r.Problems = append(r.Problems, fmt.Sprintf("Docker rejects the stack at %s, which swarmops accepts on purpose (%s), and nothing else is wrong with it; Convert rejects it: %s",
					at, rx.Why, st.Scrub(ours.Err.Error())))
			case !rx.Accepts && ours.Err == nil:
				r.Problems = append(r.Problems, fmt.Sprintf("Docker rejects the stack at %s, which swarmops accepts on purpose, but the stack has other faults (%s); Convert accepts it",
					at, rx.Why))
			}
			return r, nil
		}
	}
	switch {
	case truth.Rejected && ours.Err == nil:
		r.Problems = append(r.Problems, "Docker rejects the stack, Convert accepts it; Docker said: "+lastLine(truth.Stderr))
		return r, nil
	case truth.Rejected:
		if at := DockerErrorPath(truth.Stderr); at != "" && !namesField(ours.ErrPaths, at) {
			r.Problems = append(r.Problems, fmt.Sprintf("Docker rejects the stack at %s (%s); Convert rejects it, but not there: %s",
				at, lastLine(truth.Stderr), strings.Join(ours.ErrPaths, ", ")))
		}
		return r, nil
	case ours.Err != nil:
		r.Problems = append(r.Problems, "Docker deploys the stack, Convert rejects it: "+st.Scrub(ours.Err.Error()))
		return r, nil
	}
	objs, err := OursObjects(ours.Spec, st)
	if err != nil {
		return nil, err
	}
	diffs, err := Compare(caseName, objs, truth.Sent, rules)
	if err != nil {
		return nil, err
	}
	warned := warningDiffs(scrubAll(st, ours.Spec.Warnings), truth.Warnings)
	for i := range warned {
		warned[i].Rule = explainWarning(caseName, warned[i], rules)
	}
	for _, d := range append(diffs, warned...) {
		if d.Rule == nil {
			r.Problems = append(r.Problems, d.Format("ours", "docker"))
		} else {
			r.Known = append(r.Known, d)
		}
	}
	return r, nil
}

// OursObjects turns a converted stack into generic JSON in the form the
// truth files hold, with the staging directory scrubbed.
func OursObjects(spec *api.StackSpec, st *Staged) (Objects, error) {
	var objs Objects
	for _, part := range []struct {
		v   any
		out *map[string]any
	}{
		{spec.Services, &objs.Services}, {spec.Networks, &objs.Networks},
		{spec.Secrets, &objs.Secrets}, {spec.Configs, &objs.Configs},
	} {
		data, err := Marshal(part.v)
		if err != nil {
			return objs, fmt.Errorf("encode our spec: %w", err)
		}
		v, err := Decode([]byte(st.Scrub(string(data))))
		if err != nil {
			return objs, fmt.Errorf("decode our spec: %w", err)
		}
		m, _ := v.(map[string]any)
		*part.out = m
	}
	return objs, nil
}

func scrubAll(st *Staged, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = st.Scrub(s)
	}
	return out
}

// warningDiffs compares warnings as sets: Docker prints them as it meets
// them, and the order carries no meaning.
func warningDiffs(ours, docker []string) []Diff {
	count := map[string]int{}
	for _, w := range docker {
		count[w]++
	}
	var diffs []Diff
	for _, w := range ours {
		if count[w] > 0 {
			count[w]--
			continue
		}
		diffs = append(diffs, Diff{Path: Path{"warnings"}, Left: w})
	}
	var missing []string
	for w, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, w)
		}
	}
	sort.Strings(missing)
	for _, w := range missing {
		diffs = append(diffs, Diff{Path: Path{"warnings"}, Right: w})
	}
	return diffs
}

func explainWarning(caseName string, d Diff, rules []Rule) *Rule {
	return explain(caseName, d, rules, patternsOf(rules))
}

func patternsOf(rules []Rule) []Path {
	out := make([]Path, len(rules))
	for i, r := range rules {
		out[i], _ = ParsePath(r.Path)
	}
	return out
}

// dockerErrors read the field an error of `docker stack deploy` is about
// out of its text, for the errors the shared stacks provoke. The field
// comes from the first group; a second group is appended after a dot.
var dockerErrors = []struct {
	re     *regexp.Regexp
	prefix string
}{
	// Schema errors: "services.db.deploy.resources.limits.cpus must be a string".
	{regexp.MustCompile(`^((?:services|networks|volumes|secrets|configs)\.\S+) (?:must be|is|contains|does not)`), ""},
	{regexp.MustCompile(`^version mismatched between two composefiles`), "version"},
	{regexp.MustCompile(`^unsupported Compose file version`), "version"},
	{regexp.MustCompile(`^invalid image reference for service (\S+?):`), "services."},
	{regexp.MustCompile(`^service (\S+?): replicas can only be used`), "services.|.deploy.replicas"},
}

// DockerErrorPath returns the field path Docker's error names ("" when its
// text names none, as "read DIR: is a directory" does not).
func DockerErrorPath(stderr string) string {
	msg := lastLine(stderr)
	for _, e := range dockerErrors {
		m := e.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		before, after, _ := strings.Cut(e.prefix, "|")
		if len(m) < 2 {
			return before
		}
		return before + m[1] + after
	}
	return ""
}

// namesField reports whether one of paths is at, or inside, the field.
func namesField(paths []string, field string) bool {
	for _, p := range paths {
		if p == field || strings.HasPrefix(p, field+".") {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
