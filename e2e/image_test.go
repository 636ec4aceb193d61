package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// workloadImage is the tag of the image the task tests run: e2e/workload
// built static and put FROM scratch, since no image can be pulled.
const workloadImage = "swarmops-e2e/workload:test"

var (
	imageOnce sync.Once
	imageErr  error
)

// buildWorkloadImage builds workloadImage once per test binary on the
// engine the docker CLI finds, and returns its tag.
func buildWorkloadImage(t *testing.T, eng *engine) string {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "swarmops-e2e-image-")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "workload"), "github.com/swarmops/swarmops/e2e/workload")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("go build e2e/workload: %w\n%s", err, out)
			return
		}
		df := "FROM scratch\nCOPY workload /workload\nENTRYPOINT [\"/workload\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			imageErr = err
			return
		}
		cmd := exec.Command("docker", "build", "-q", "-t", workloadImage, dir)
		cmd.Env = engineEnv(eng)
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("docker build %s: %w\n%s", workloadImage, err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return workloadImage
}
