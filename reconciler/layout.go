package reconciler

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// ComposeFileNames are the names that make a directory a stack, in the order
// one is chosen when a directory holds several.
var ComposeFileNames = []string{"compose.yml", "compose.yaml", "docker-compose.yml", "docker-compose.yaml", "stack.yml", "stack.yaml"}

// StackSource is one stack found in a repository.
type StackSource struct {
	// Name is the stack's name: the name of its directory.
	Name string
	// Dir is the directory, slash-separated and relative to the tree's root.
	Dir string
	// Files are the compose files, relative to the tree's root, in override
	// order.
	Files []string
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
