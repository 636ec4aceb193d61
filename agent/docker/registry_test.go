package docker

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/swarmops/swarmops/agent/runtime"
)

// testRegistry is the smallest registry the engine pulls from: one image
// (the test program) behind basic auth, on loopback, which the engine
// treats as an insecure registry and so reaches over plain HTTP.
type testRegistry struct {
	user, password string
	blobs          map[string][]byte // by digest
	manifest       []byte

	mu        sync.Mutex
	manifests int      // manifest requests that passed auth
	auths     []string // the user:password of every authenticated request
}

func newTestRegistry(t *testing.T) (*testRegistry, string) {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "prog", Mode: 0o755, Size: int64(len(progBinary))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(progBinary)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(layer.Bytes())
	zw.Close()
	digestOf := func(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }
	config, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/prog"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer.Bytes())}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{
			"mediaType": "application/vnd.docker.container.image.v1+json",
			"size":      len(config), "digest": digestOf(config),
		},
		"layers": []map[string]any{{
			"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
			"size":      gz.Len(), "digest": digestOf(gz.Bytes()),
		}},
	})
	r := &testRegistry{
		user: "swarmops", password: "pw-" + randHex(6), manifest: manifest,
		blobs: map[string][]byte{digestOf(config): config, digestOf(gz.Bytes()): gz.Bytes()},
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, strings.TrimPrefix(srv.URL, "http://")
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	user, pw, ok := req.BasicAuth()
	if !ok || user != r.user || pw != r.password {
		w.Header().Set("WWW-Authenticate", `Basic realm="swarmops-test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.auths = append(r.auths, user+":"+pw)
	r.mu.Unlock()
	path := req.URL.Path
	switch {
	case path == "/v2/":
		w.Write([]byte("{}"))
	case strings.Contains(path, "/manifests/"):
		r.mu.Lock()
		r.manifests++
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Docker-Content-Digest", fmt.Sprintf("sha256:%x", sha256.Sum256(r.manifest)))
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		if req.Method != http.MethodHead {
			w.Write(r.manifest)
		}
	case strings.Contains(path, "/blobs/"):
		b, ok := r.blobs[path[strings.LastIndex(path, "/")+1:]]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if req.Method != http.MethodHead {
			w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}

func (r *testRegistry) stats() (manifests int, auths []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifests, append([]string(nil), r.auths...)
}

// TestPullWithRegistryAuth: a missing image is pulled with the credentials
// the manager passed along (--with-registry-auth), and only when missing.
func TestPullWithRegistryAuth(t *testing.T) {
	rt := newRuntime(t)
	ctx := testCtx(t)
	reg, host := newTestRegistry(t)
	ref := host + "/swarmops-test/prog:" + runID
	t.Cleanup(func() {
		_, _ = engine.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	encode := func(user, pw string) string {
		s, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: pw, ServerAddress: host})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	for _, auth := range []string{"", encode(reg.user, "wrong")} {
		tk := task(1, "LINES=pulled")
		tk.Spec.ContainerSpec.Image = ref
		err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc", Auth: auth})
		if err == nil || !strings.HasPrefix(err.Error(), "No such image: ") {
			t.Fatalf("Prepare with auth %q = %v, want No such image", auth, err)
		}
		var pullErr interface{ Unwrap() []error }
		if !errors.As(err, &pullErr) || len(pullErr.Unwrap()) != 2 {
			t.Errorf("the pull's own failure is not reachable from %v", err)
		}
	}
	if n, _ := reg.stats(); n != 0 {
		t.Fatalf("the registry served %d manifests without credentials", n)
	}

	tk := task(2, "LINES=pulled")
	tk.Spec.ContainerSpec.Image = ref
	if err := runSpec(t, rt, runtime.Spec{Task: tk, Service: "svc", Auth: encode(reg.user, reg.password)}); err != nil {
		t.Fatalf("run the pulled image: %v", err)
	}
	if out, _ := logsOf(t, rt, tk.ID, false); out != "pulled\n" {
		t.Errorf("the pulled image printed %q", out)
	}
	manifests, auths := reg.stats()
	if manifests == 0 || len(auths) == 0 || auths[0] != reg.user+":"+reg.password {
		t.Errorf("registry saw %d manifest requests with credentials %q", manifests, auths)
	}

	// Present now: the next task of the image pulls nothing, even without
	// credentials.
	again := task(3)
	again.Spec.ContainerSpec.Image = ref
	if err := rt.Prepare(ctx, runtime.Spec{Task: again, Service: "svc"}); err != nil {
		t.Fatalf("prepare with the image present: %v", err)
	}
	if n, _ := reg.stats(); n != manifests {
		t.Errorf("the registry was asked again (%d manifest requests, had %d) for an image the engine has", n, manifests)
	}
}
