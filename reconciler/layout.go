package reconciler

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// ComposeFileNames are the names that make a directory a stack, in the order
// one is chosen when a directory holds several.
var ComposeFileNames = []string{"compose.yml", "compose.yaml", "docker-compose.yml", "docker-compose.yaml", "stack.yml", "stack.yaml"}

// StackSource is one stack found in a repository.
type StackSource struct {
	// Name is the stack's name: the name of its directory, or its key
	// under stacks: in swarmops.yaml.
	Name string
	// Dir is the directory, slash-separated and relative to the tree's root.
	Dir string
	// Files are the compose files, relative to the tree's root, in override
	// order.
	Files []string
	// EnvFiles hold the variables for interpolation, relative to the
	// tree's root; none means the .env beside the first compose file, as
	// `docker stack deploy` reads it.
	EnvFiles []string
	// Options are the stack's GitOps options: swarmops.yaml's defaults
	// with the stack's own settings over them. Windows holds the stack's
	// own windows only; the repository-wide ones are Layout.Windows.
	Options api.StackOptions
}

// Discover finds the stacks under root in fsys: every directory holding one
// of ComposeFileNames is a stack named after the directory. Directories whose
// names start with "." are not searched. Stacks come back sorted by name; two
// directories with the same name anywhere in the tree are an error, since
// stack names are unique on a cluster.
func Discover(fsys fs.FS, root string) ([]StackSource, error) {
	if root == "" {
		root = "."
	}
	var stacks []StackSource
	seen := map[string]string{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && d.Name()[0] == '.' {
			return fs.SkipDir
		}
		file, ok, err := composeFileIn(fsys, p)
		if err != nil || !ok {
			return err
		}
		name := path.Base(p)
		if p == "." || p == root {
			name = path.Base(path.Clean(root))
		}
		if name == "." || name == "/" || !validStackName(name) {
			return fmt.Errorf("%s: %q is not a valid stack name: use letters, digits, '-' and '_', starting with a letter or digit", p, name)
		}
		if other, dup := seen[name]; dup {
			return fmt.Errorf("%s and %s: both would be stack %q: stack names must be unique, rename one directory", other, p, name)
		}
		seen[name] = p
		stacks = append(stacks, StackSource{Name: name, Dir: p, Files: []string{path.Join(p, file)}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("discover stacks under %s: %w", root, err)
	}
	sort.Slice(stacks, func(i, j int) bool { return stacks[i].Name < stacks[j].Name })
	return stacks, nil
}

// Layout is what a repository holds for the reconciler: its stacks and
// the settings of its swarmops.yaml.
type Layout struct {
	// Stacks are sorted by name.
	Stacks []StackSource
	// AllowPruneAll lets a commit remove every stack; without it the
	// reconciler refuses such a commit, as it is more often a broken path
	// than a wish.
	AllowPruneAll bool
	// Windows are the repository-wide sync windows; each stack's own are
	// in its Options.
	Windows []api.SyncWindow
	// ConfigFile is the path of swarmops.yaml in the tree; "" when there
	// is none.
	ConfigFile string
}

// LoadLayout reads the stacks under root in fsys: those Discover finds,
// and those that root/swarmops.yaml lists. A stack listed there takes its
// directory from path (or, without one, from the directory Discover finds
// under its name) and claims that directory: a directory some listed
// stack uses is not also a stack of its own name. swarmops.yaml's
// defaults apply to every stack. Problems in swarmops.yaml come back as a
// stackspec.ErrorList placed at the line and field that has them.
func LoadLayout(fsys fs.FS, root string) (*Layout, error) {
	if root == "" {
		root = "."
	}
	found, err := Discover(fsys, root)
	if err != nil {
		return nil, err
	}
	layout := &Layout{Stacks: found}
	file := path.Join(root, ConfigFileName)
	data, err := fs.ReadFile(fsys, file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return layout, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	cfg, err := parseRepoConfig(file, data)
	if err != nil {
		return nil, err
	}
	layout.ConfigFile = file
	layout.AllowPruneAll = cfg.allowPruneAll
	layout.Windows = cfg.windows
	layout.Stacks, err = placeStacks(fsys, root, file, cfg, found)
	if err != nil {
		return nil, err
	}
	return layout, nil
}

// placeStacks merges the stacks swarmops.yaml lists with the discovered
// ones and gives each its options.
func placeStacks(fsys fs.FS, root, file string, cfg *repoConfig, found []StackSource) ([]StackSource, error) {
	p := placer{fsys: fsys, root: root, file: file, found: map[string]StackSource{}}
	for _, s := range found {
		p.found[s.Name] = s
	}
	listed := map[string]stackEntry{}
	claimed := map[string]bool{}
	var out []StackSource
	for _, e := range cfg.stacks {
		src, ok := p.place(e)
		if !ok {
			continue
		}
		src.Options = e.opts.over(cfg.defaults).options()
		listed[e.name] = e
		claimed[src.Dir] = true
		out = append(out, src)
	}
	for _, s := range found {
		if claimed[s.Dir] {
			continue
		}
		if e, ok := listed[s.Name]; ok {
			p.failAt(e.path, "stacks."+e.name+".path", "%s holds a compose file, so it would be stack %s too; rename that directory, or list it under another name with path: %s", s.Dir, s.Name, s.Dir)
			continue
		}
		s.Options = cfg.defaults.options()
		out = append(out, s)
	}
	if len(p.errs) > 0 {
		return nil, sortErrors(p.errs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// placer holds a listed stack against the tree.
type placer struct {
	fsys  fs.FS
	root  string
	file  string
	found map[string]StackSource
	errs  stackspec.ErrorList
}

func (p *placer) failAt(n *yaml.Node, field, format string, args ...any) {
	p.errs = append(p.errs, &stackspec.Error{File: p.file, Line: n.Line, Column: n.Column, Path: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *placer) place(e stackEntry) (StackSource, bool) {
	before := len(p.errs)
	field := "stacks." + e.name
	src := StackSource{Name: e.name}
	if e.path == nil {
		found, ok := p.found[e.name]
		if !ok {
			p.failAt(e.key, field, "no directory named %s under %s holds a compose file (%s); set path to the stack's directory", e.name, p.root, strings.Join(ComposeFileNames, ", "))
			return src, false
		}
		src.Dir = found.Dir
	} else {
		dir, ok := p.inRoot(e.path, field+".path", p.root)
		if !ok {
			return src, false
		}
		if st, err := fs.Stat(p.fsys, dir); err != nil || !st.IsDir() {
			p.failAt(e.path, field+".path", "%s is not a directory in the repository; give the stack's directory, relative to %s", dir, p.root)
			return src, false
		}
		src.Dir = dir
	}
	if len(e.files) == 0 {
		name, ok, err := composeFileIn(p.fsys, src.Dir)
		if err != nil || !ok {
			p.failAt(e.key, field, "%s holds none of %s; list the stack's compose files under files:", src.Dir, strings.Join(ComposeFileNames, ", "))
			return src, false
		}
		src.Files = []string{path.Join(src.Dir, name)}
	}
	for i, n := range e.files {
		if f, ok := p.fileIn(n, fmt.Sprintf("%s.files[%d]", field, i), src.Dir, "compose file"); ok {
			src.Files = append(src.Files, f)
		}
	}
	for i, n := range e.envFiles {
		if f, ok := p.fileIn(n, fmt.Sprintf("%s.env_files[%d]", field, i), src.Dir, "env file"); ok {
			src.EnvFiles = append(src.EnvFiles, f)
		}
	}
	return src, len(p.errs) == before
}

// inRoot joins a path written in swarmops.yaml to base and keeps it under
// the root: the reconciler reads nothing of the repository outside it.
func (p *placer) inRoot(n *yaml.Node, field, base string) (string, bool) {
	if strings.HasPrefix(n.Value, "/") {
		p.failAt(n, field, "%s is absolute; write it relative to %s", n.Value, base)
		return "", false
	}
	joined := path.Join(base, n.Value)
	inside := fs.ValidPath(joined) && (p.root == "." || joined == p.root || strings.HasPrefix(joined, p.root+"/"))
	if !inside {
		p.failAt(n, field, "%s leads out of %s, the part of the repository swarmops reads; keep it inside", n.Value, p.root)
		return "", false
	}
	return joined, true
}

// fileIn checks that a file listed for a stack exists.
func (p *placer) fileIn(n *yaml.Node, field, dir, what string) (string, bool) {
	f, ok := p.inRoot(n, field, dir)
	if !ok {
		return "", false
	}
	if st, err := fs.Stat(p.fsys, f); err != nil || st.IsDir() {
		p.failAt(n, field, "%s %s does not exist; the path is relative to the stack's directory %s", what, f, dir)
		return "", false
	}
	return f, true
}

// composeFileIn finds the compose file of a stack directory: the first of
// ComposeFileNames it holds.
func composeFileIn(fsys fs.FS, dir string) (string, bool, error) {
	for _, name := range ComposeFileNames {
		st, err := fs.Stat(fsys, path.Join(dir, name))
		if err == nil && !st.IsDir() {
			return name, true, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	return "", false, nil
}

// validStackName keeps stack names to what Swarm accepts in the service
// names they prefix.
func validStackName(name string) bool {
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return name != ""
}
