package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// treeFile is a regular file of a tree, to be written at a slash path.
type treeFile struct {
	path string
	mode os.FileMode
	hash plumbing.Hash
}

// writeTree writes tree into root: directories and regular files first,
// then the symbolic links that resolve inside root.
func writeTree(ctx context.Context, store storer.EncodedObjectStorer, tree *object.Tree, root string) error {
	var files []treeFile
	links := map[string]string{}
	if err := collectTree(store, tree, "", &files, links); err != nil {
		return err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeBlob(store, f, root); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(links))
	for p := range links {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if !linkStaysInside(links, p) {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(links[p], dst); err != nil {
			return err
		}
	}
	return nil
}

func collectTree(store storer.EncodedObjectStorer, tree *object.Tree, dir string, files *[]treeFile, links map[string]string) error {
	for _, e := range tree.Entries {
		if !safeEntryName(e.Name) {
			return fmt.Errorf("tree entry %q in %q: unsafe file name, refusing to write it", e.Name, dir)
		}
		p := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(store, e.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if err := collectTree(store, sub, p, files, links); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated:
			*files = append(*files, treeFile{p, 0o644, e.Hash})
		case filemode.Executable:
			*files = append(*files, treeFile{p, 0o755, e.Hash})
		case filemode.Symlink:
			target, err := readLinkTarget(store, e.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			links[p] = target
		}
		// Submodules (and unknown modes) have no content in this
		// repository: nothing is written for them.
	}
	return nil
}

func safeEntryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00") &&
		!strings.EqualFold(name, ".git")
}

func writeBlob(store storer.EncodedObjectStorer, f treeFile, root string) (err error) {
	blob, err := object.GetBlob(store, f.hash)
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	defer r.Close()
	dst := filepath.Join(root, filepath.FromSlash(f.path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// O_EXCL: never write through something already at the path.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, r)
	return err
}

func readLinkTarget(store storer.EncodedObjectStorer, h plumbing.Hash) (string, error) {
	blob, err := object.GetBlob(store, h)
	if err != nil {
		return "", err
	}
	r, err := blob.Reader()
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxLinkTarget+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxLinkTarget {
		return "", errors.New("symbolic link target too long")
	}
	return string(b), nil
}

// linkStaysInside reports whether resolving the link at slash path p,
// following the other links of the tree as the kernel would, stays inside
// the checkout at every step. A purely textual check is not enough: "a/l"
// -> ".." is inside, yet "m" -> "a/l/.." is then the checkout's parent.
func linkStaysInside(links map[string]string, p string) bool {
	hops := 0
	var resolve func(dir []string, target string) ([]string, bool)
	resolve = func(dir []string, target string) ([]string, bool) {
		if target == "" || path.IsAbs(target) || strings.ContainsRune(target, 0) {
			return nil, false
		}
		cur := append([]string(nil), dir...)
		for _, part := range strings.Split(target, "/") {
			switch part {
			case "", ".":
				continue
			case "..":
				if len(cur) == 0 {
					return nil, false
				}
				cur = cur[:len(cur)-1]
				continue
			}
			cur = append(cur, part)
			next, isLink := links[strings.Join(cur, "/")]
			if !isLink {
				continue
			}
			if hops++; hops > maxLinkHops {
				return nil, false
			}
			var ok bool
			if cur, ok = resolve(cur[:len(cur)-1], next); !ok {
				return nil, false
			}
		}
		return cur, true
	}
	parts := strings.Split(p, "/")
	_, ok := resolve(parts[:len(parts)-1], links[p])
	return ok
}

// localTransport serves a repository on this machine in process, so a local
// path needs no git binary.
type localTransport struct{}

func (localTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	repo, err := git.PlainOpenWithOptions(ep.Path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, transport.ErrRepositoryNotFound
	}
	if err != nil {
		return nil, err
	}
	sess, err := server.NewClient(fixedLoader{repo.Storer}).NewUploadPackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &localSession{UploadPackSession: sess, store: repo.Storer}, nil
}

func (localTransport) NewReceivePackSession(*transport.Endpoint, transport.AuthMethod) (transport.ReceivePackSession, error) {
	return nil, errors.New("pushing is not supported")
}
