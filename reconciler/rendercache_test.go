package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenderCacheRendersOnlyWhatChanged(t *testing.T) {
	stack := func(image string) string {
		return "services:\n  web:\n    image: " + image + "\n    env_file: ../../common/app.env\n"
	}
	files := map[string]string{
		"stacks/a/compose.yml": stack("a:1"),
		"stacks/b/compose.yml": stack("b:1"),
		"stacks/c/compose.yml": stack("c:1"),
		"common/app.env":       "MODE=prod\n",
		"README.md":            "hello\n",
	}
	ctx := context.Background()
	var cache RenderCache
	render := func(strict bool) *Snapshot {
		t.Helper()
		dir := t.TempDir()
		writeFiles(t, dir, files)
		snap := cache.RenderDir(ctx, dir, "stacks", "c0", "m", nil, "")
		if snap.Err != nil || len(snap.Stacks) != 3 {
			t.Fatalf("render: %v, %d stacks", snap.Err, len(snap.Stacks))
		}
		for name, r := range snap.Stacks {
			if strict && (r.Err != nil || r.Revision.Digest == "") {
				t.Fatalf("stack %s: %v", name, r.Err)
			}
		}
		return snap
	}
	first := render(true)
	files["stacks/b/compose.yml"] = stack("b:2")
	second := render(true)
	for _, name := range []string{"a", "c"} {
		if second.Stacks[name].Spec != first.Stacks[name].Spec {
			t.Errorf("stack %s was rendered again though nothing it reads changed", name)
		}
	}
	if second.Stacks["b"].Spec == first.Stacks["b"].Spec || second.Stacks["b"].Revision.Digest == first.Stacks["b"].Revision.Digest {
		t.Error("stack b changed but came from the cache")
	}
	if got := second.Stacks["b"].Spec.Services["b_web"].TaskTemplate.ContainerSpec.Image; got != "b:2" {
		t.Errorf("b renders image %q, want b:2", got)
	}
	// A file every stack may read changes: all render again.
	files["common/app.env"] = "MODE=staging\n"
	third := render(true)
	for name := range third.Stacks {
		if third.Stacks[name].Spec == second.Stacks[name].Spec {
			t.Errorf("stack %s came from the cache after a shared file changed", name)
		}
		if env := third.Stacks[name].Spec.Services[name+"_web"].TaskTemplate.ContainerSpec.Env; len(env) != 1 || env[0] != "MODE=staging" {
			t.Errorf("stack %s env = %v, want the new shared value", name, env)
		}
	}
	// A bad file fails its stack only, and the failure is cached as well.
	files["stacks/c/compose.yml"] = "services:\n  web:\n    image: c:1\n    deploy: {replicas: three}\n"
	fourth := render(false)
	if fourth.Stacks["c"].Err == nil || fourth.Stacks["a"].Err != nil {
		t.Errorf("c err %v, a err %v: want only c to fail", fourth.Stacks["c"].Err, fourth.Stacks["a"].Err)
	}
	fifth := render(false)
	if fifth.Stacks["c"].Err == nil || fifth.Stacks["c"].Err.Error() != fourth.Stacks["c"].Err.Error() {
		t.Errorf("cached failure = %v, want %v", fifth.Stacks["c"].Err, fourth.Stacks["c"].Err)
	}
}
