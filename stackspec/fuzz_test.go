package stackspec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes through Load, Convert and Digest: bad input
// must come back as an error that names where it is, never as a panic or a
// hang.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(sharedStacksDir, "*.y*ml"))
	if len(seeds) == 0 {
		f.Fatalf("no stack files under %s to seed the corpus", sharedStacksDir)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
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
		// A hang is a failure too: run the input under a deadline far above
		// the milliseconds a stack file takes. Only t.Error is used in the
		// goroutine, which is safe off the test's own goroutine.
		done := make(chan struct{})
		go func() {
			defer close(done)
			loadConvertDigest(t, dir, env, data)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("Load, Convert and Digest did not return within 20s on:\n%q", data)
		}
	})
}

func loadConvertDigest(t *testing.T, dir string, env map[string]string, data []byte) {
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
	for name, s := range spec.Services {
		if Digest(s) == "" {
			t.Errorf("service %s: empty digest", name)
		}
	}
}

// checkPlaced reports unless err is an ErrorList whose every entry names a
// file and a line: a person must always learn where the problem is.
func checkPlaced(t *testing.T, err error) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Errorf("error is %T, want ErrorList: %v", err, err)
		return
	}
	if len(list) == 0 {
		t.Error("empty ErrorList returned as an error")
	}
	for _, e := range list {
		if e.File == "" || e.Line <= 0 || e.Msg == "" {
			t.Errorf("error without a file, line or message: %#v", e)
		}
	}
}
