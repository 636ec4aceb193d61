package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// RenderCache keeps stack renderings by what they were rendered from, so a
// commit that touches one stack of a hundred renders just that one:
// loading compose files is most of what a new head costs (docs/bench.md).
//
// A stack's key hashes its source (files, env files, options), the age
// identities, and every file of the checkout outside the other stacks'
// directories: whatever a stack may read (its own directory, files shared
// from elsewhere in the repository, swarmops.yaml) is in its key, and a
// change in another stack's directory is not. A nil *RenderCache renders
// everything.
type RenderCache struct {
	entries map[string]cachedRender
}

type cachedRender struct {
	spec   *api.StackSpec
	err    error
	digest string
}

// maxCachedRenders bounds the cache; past it, it starts over.
const maxCachedRenders = 4096

// RenderDir renders every stack of the checkout in dir (the repository's
// root; path is the configured stack directory inside it). Stacks render
// independently: one that fails carries its error and the others are
// unaffected. Variables come from the stacks' env files only, never the
// manager's environment. idsKey identifies ids (a digest of the identity
// file), for the cache's keys.
func (c *RenderCache) RenderDir(ctx context.Context, dir, cfgPath, commit, message string, ids []age.Identity, idsKey string) *Snapshot {
	snap := &Snapshot{Commit: commit, Message: message, Stacks: map[string]*Rendered{}}
	root := filepath.Join(dir, filepath.FromSlash(cfgPath))
	layout, err := LoadLayout(os.DirFS(root), ".")
	if err != nil {
		snap.Err = err
		return snap
	}
	snap.Layout = layout
	var files []fileDigest
	if c != nil {
		files = digestFiles(dir)
	}
	for _, src := range layout.Stacks {
		r := &Rendered{Source: src, Revision: api.Revision{Commit: commit, Message: message}}
		key := ""
		if c != nil {
			key = stackKey(src, cfgPath, layout, files, idsKey)
		}
		if e, ok := c.get(key); ok {
			r.Spec, r.Err, r.Revision.Digest = e.spec, e.err, e.digest
		} else {
			r.Spec, r.Err = RenderStack(ctx, root, src, ids)
			if r.Err != nil {
				r.Err = inRepo(r.Err, dir)
			} else {
				r.Revision.Digest = stackspec.DigestStack(r.Spec)
			}
			c.put(key, cachedRender{spec: r.Spec, err: r.Err, digest: r.Revision.Digest})
		}
		snap.Stacks[src.Name] = r
	}
	return snap
}

// RenderDir renders every stack of the checkout in dir, without a cache.
func RenderDir(ctx context.Context, dir, cfgPath, commit, message string, ids []age.Identity) *Snapshot {
	return (*RenderCache)(nil).RenderDir(ctx, dir, cfgPath, commit, message, ids, "")
}

func (c *RenderCache) get(key string) (cachedRender, bool) {
	if c == nil || key == "" {
		return cachedRender{}, false
	}
	e, ok := c.entries[key]
	return e, ok
}

func (c *RenderCache) put(key string, e cachedRender) {
	if c == nil || key == "" {
		return
	}
	if c.entries == nil || len(c.entries) >= maxCachedRenders {
		c.entries = map[string]cachedRender{}
	}
	c.entries[key] = e
}

// fileDigest is one file of a checkout: its slash path from the
// repository's root and the digest of its content.
type fileDigest struct{ path, sum string }

// digestFiles hashes every regular file under dir, in path order.
func digestFiles(dir string) []fileDigest {
	var out []fileDigest
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(data)
		out = append(out, fileDigest{path: filepath.ToSlash(rel), sum: hex.EncodeToString(sum[:])})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// stackKey is the cache key of src: see RenderCache.
func stackKey(src StackSource, cfgPath string, layout *Layout, files []fileDigest, idsKey string) string {
	own := path.Join(cfgPath, src.Dir)
	var others []string
	for _, o := range layout.Stacks {
		d := path.Join(cfgPath, o.Dir)
		if o.Name == src.Name || within(own, d) || within(d, own) {
			continue // its own directory, or one nested with it
		}
		others = append(others, d)
	}
	h := sha256.New()
	b, _ := json.Marshal(src)
	h.Write(b)
	h.Write([]byte("\x00" + idsKey + "\x00"))
	for _, f := range files {
		skip := false
		for _, d := range others {
			skip = skip || within(f.path, d)
		}
		if !skip {
			h.Write([]byte(f.path + "\x00" + f.sum + "\n"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// within reports whether slash path p is dir or under it.
func within(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}
