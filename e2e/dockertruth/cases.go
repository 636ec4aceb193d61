package dockertruth

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Case is one deploy: a single stack file, or a base file with the override
// file written for it, taken together as `docker stack deploy -c base -c
// override` takes them.
type Case struct {
	// Name is the stem of the golden and truth files: the stack file's stem,
	// or "025+026__..." (the override's stem behind both numbers) for a pair.
	Name string
	// Namespace is the stack name the deploy uses: "s" and the file number,
	// "s025-026" for a pair, so that every case owns distinct objects.
	Namespace string
	// Files are the compose files in stacksDir, in override order.
	Files []string
	// Fixtures are the fixture directories the deploy draws on, one per file
	// stem; a missing directory means the file needs no support files.
	Fixtures []string
}

// overrideMark ends the stem of a file that overrides another: the base has
// the same stem without it ("stack-elk.override" overrides "stack-elk").
const overrideMark = ".override"

// Cases lists one case per stack file in stacksDir, in file order, and after
// each override file the case pairing it with its base. It fails when the
// directory is missing or holds no stack file, because a comparison over no
// stacks would pass vacuously.
func Cases(stacksDir string) ([]Case, error) {
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(stacksDir, pattern))
		if err != nil {
			return nil, fmt.Errorf("list stacks: %w", err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		if _, err := os.Stat(stacksDir); err != nil {
			return nil, fmt.Errorf("the shared stacks are missing (clone them beside the repository so that %s exists): %w", stacksDir, err)
		}
		return nil, fmt.Errorf("no stack files (*.yml, *.yaml) in %s", stacksDir)
	}
	sort.Strings(files)

	byRest := map[string]string{} // stem without its number -> file
	for _, f := range files {
		_, rest := splitStem(stem(f))
		byRest[rest] = f
	}
	var cases []Case
	for _, f := range files {
		s := stem(f)
		num, rest := splitStem(s)
		cases = append(cases, Case{Name: s, Namespace: "s" + num, Files: []string{f}, Fixtures: []string{s}})
		base, ok := byRest[strings.TrimSuffix(rest, overrideMark)]
		if !strings.HasSuffix(rest, overrideMark) || !ok {
			continue
		}
		baseNum, _ := splitStem(stem(base))
		cases = append(cases, Case{
			Name:      baseNum + "+" + s,
			Namespace: "s" + baseNum + "-" + num,
			Files:     []string{base, f},
			Fixtures:  []string{stem(base), s},
		})
	}
	return cases, nil
}

func stem(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// splitStem splits "001__owner__repo__path" into "001" and the rest.
func splitStem(s string) (num, rest string) {
	num, rest, ok := strings.Cut(s, "__")
	if !ok {
		return s, s
	}
	return num, rest
}

// Fixture files with these names describe the deploy and are not copied
// beside the stack.
const (
	// EnvFile holds KEY=VALUE lines: the only variables the deploy sees.
	EnvFile = "env"
	// ExternalsFile holds "KIND NAME" lines (network, secret, config): the
	// objects the stack declares external, which must exist before Docker
	// converts it.
	ExternalsFile = "externals"
)

// External is an object a stack expects to exist before it is deployed.
type External struct {
	Kind string // network, secret or config
	Name string
}

// Staged is a case laid out in a directory of its own.
type Staged struct {
	// Dir holds the compose files and their support files, so relative
	// paths in the stack resolve as they do in the stack's own repository.
	Dir string
	// Files are the compose files inside Dir, in override order.
	Files []string
	// Env is the whole environment a deploy interpolates from; nothing
	// comes from the process, so the results are reproducible.
	Env map[string]string
	// Externals are what the stack declares external, sorted.
	Externals []External
}

// Stage copies a case's compose files and fixture files into dst (an
// existing, empty directory). When two fixtures hold the same file, the
// later one wins, as the later compose file does.
func Stage(c Case, fixturesDir, dst string) (*Staged, error) {
	st := &Staged{Dir: dst, Env: map[string]string{}}
	for _, f := range c.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", c.Name, err)
		}
		to := filepath.Join(dst, filepath.Base(f))
		if err := os.WriteFile(to, data, 0o644); err != nil {
			return nil, fmt.Errorf("stage %s: %w", c.Name, err)
		}
		st.Files = append(st.Files, to)
	}
	seen := map[External]bool{}
	for _, name := range c.Fixtures {
		dir := filepath.Join(fixturesDir, name)
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			continue
		}
		if err := copyFixture(dir, dst); err != nil {
			return nil, fmt.Errorf("stage %s: %w", c.Name, err)
		}
		if err := readEnv(filepath.Join(dir, EnvFile), st.Env); err != nil {
			return nil, fmt.Errorf("stage %s: %w", c.Name, err)
		}
		ext, err := readExternals(filepath.Join(dir, ExternalsFile))
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", c.Name, err)
		}
		for _, e := range ext {
			if !seen[e] {
				seen[e] = true
				st.Externals = append(st.Externals, e)
			}
		}
	}
	sort.Slice(st.Externals, func(i, j int) bool {
		a, b := st.Externals[i], st.Externals[j]
		return a.Kind < b.Kind || a.Kind == b.Kind && a.Name < b.Name
	})
	return st, nil
}

func copyFixture(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == EnvFile || rel == ExternalsFile {
			return nil
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
}

// readEnv adds the KEY=VALUE lines of file to env; values are taken
// literally, without quotes or interpolation. A missing file adds nothing.
func readEnv(file string, env map[string]string) error {
	return eachLine(file, func(n int, line string) error {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return fmt.Errorf("%s:%d: want KEY=VALUE, got %q", file, n, line)
		}
		env[k] = v
		return nil
	})
}

func readExternals(file string) ([]External, error) {
	var out []External
	err := eachLine(file, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) != 2 || (f[0] != "network" && f[0] != "secret" && f[0] != "config") {
			return fmt.Errorf("%s:%d: want \"network|secret|config NAME\", got %q", file, n, line)
		}
		out = append(out, External{Kind: f[0], Name: f[1]})
		return nil
	})
	return out, err
}

// eachLine calls fn for every line of file that is neither blank nor a
// # comment. A missing file has no lines.
func eachLine(file string, fn func(n int, line string) error) error {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// StackDir stands in for the staging directory in recorded output, so that
// bind sources and file names compare equal wherever a case was staged.
const StackDir = "$STACKDIR"

// Scrub replaces the staging directory in text with StackDir.
func (s *Staged) Scrub(text string) string {
	dirs := []string{s.Dir}
	if real, err := filepath.EvalSymlinks(s.Dir); err == nil && real != s.Dir {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		text = strings.ReplaceAll(text, d, StackDir)
	}
	return text
}

// Environ returns Env as KEY=VALUE strings, sorted.
func (s *Staged) Environ() []string {
	out := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
