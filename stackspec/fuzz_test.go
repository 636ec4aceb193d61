package stackspec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through Load, Convert and Digest: bad input
// must come back as an error that names where it is, never as a panic or a
// hang.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "shared", "stacks", "*.y*ml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"services:\n  web:\n    image: nginx\n",
		"services:\n  web:\n    image: nginx\n    deploy:\n      replicas: three\n",
		"version: '3.8'\nx-base: &base\n  image: nginx\nservices:\n  a:\n    <<: *base\n",
		"services:\n  web:\n    image: ${IMG:?set IMG}\n",
		"a: &a [*a]\n",
		"services: [",
		"",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	env := map[string]string{"HOME": "/home/fuzz", "IMG": "nginx"}
	f.Fuzz(func(t *testing.T, data []byte) {
		loaded, err := Load(context.Background(), Options{
			Files:      []string{filepath.Join(dir, "compose.yml")},
			Contents:   [][]byte{data},
			Namespace:  "fz",
			WorkingDir: dir,
			Environ:    env,
		})
		if err != nil {
			checkPlaced(t, err)
			return
		}
		spec, err := Convert(loaded)
		if err != nil {
			checkPlaced(t, err)
			return
		}
		for _, s := range spec.Services {
			if Digest(s) == "" {
				t.Fatal("empty digest")
			}
		}
	})
}

// checkPlaced fails unless err is an ErrorList whose every entry names a
// file: a person must always learn where the problem is.
func checkPlaced(t *testing.T, err error) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want ErrorList: %v", err, err)
	}
	if len(list) == 0 {
		t.Fatal("empty ErrorList returned as an error")
	}
	for _, e := range list {
		if e.File == "" || e.Msg == "" {
			t.Fatalf("error without a file or message: %#v", e)
		}
	}
}
