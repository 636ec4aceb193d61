package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmops/swarmops/reconciler"
)

// TestUpCreatesARepositoryWithAWorkingExample: `swarmops up` on a path
// with no repository makes one whose example stack renders and is
// committed on main; on an existing repository it changes nothing.
func TestUpCreatesARepositoryWithAWorkingExample(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	abs, created, err := ensureRepo(dir)
	if err != nil || !created || abs != dir {
		t.Fatalf("ensureRepo = %q, %v, %v", abs, created, err)
	}
	snap := reconciler.RenderDir(context.Background(), dir, "", "HEAD", "example", nil)
	if snap.Err != nil || len(snap.Stacks) != 1 || snap.Stacks["hello"] == nil || snap.Stacks["hello"].Err != nil {
		t.Fatalf("the example does not render as stack hello: %+v", snap)
	}
	if _, ok := snap.Stacks["hello"].Spec.Services["hello_web"]; !ok {
		t.Errorf("services = %v, want hello_web", snap.Stacks["hello"].Spec.Services)
	}
	if _, created, err := ensureRepo(dir); err != nil || created {
		t.Errorf("second ensureRepo: created %v, err %v; want the repository left alone", created, err)
	}
	if git, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command(git, "-C", dir, "log", "--format=%s", "main").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Add an example stack") {
			t.Errorf("git log main: %s %v", out, err)
		}
	}
}

func TestUpSaysWhatToDoWithoutAnEngine(t *testing.T) {
	err := checkEngine(context.Background(), "unix://"+filepath.Join(t.TempDir(), "docker.sock"))
	if err == nil || !strings.Contains(err.Error(), "no Docker engine answers") || !strings.Contains(err.Error(), "--engine none") {
		t.Errorf("checkEngine = %v, want it to say no engine answers and what to do", err)
	}
	if err := checkEngine(context.Background(), "none"); err != nil {
		t.Errorf("--engine none: %v", err)
	}
}
