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

// releases are the tags of the workload images the rollout tests move
// between, all built from one binary: two good releases, one that exits
// 1 a second after it starts, and a pair with a healthcheck, one of which
// never passes it.
type releases struct {
	V1, V2, Crash string
	// Healthy and Sick carry a HEALTHCHECK in exec form ("/workload
	// health", every 500ms, 2 retries): the images are FROM scratch, so
	// a --health-cmd, which the docker CLI makes a CMD-SHELL, has no
	// shell to run in. Sick sets UNHEALTHY=1.
	Healthy, Sick string
}

const releaseRepo = "swarmops-e2e/workload"

var (
	releasesOnce sync.Once
	releasesErr  error
)

// buildReleases builds the release images once per test binary on the
// engine the docker CLI finds.
func buildReleases(t *testing.T, eng *engine) releases {
	t.Helper()
	r := releases{V1: releaseRepo + ":v1", V2: releaseRepo + ":v2", Crash: releaseRepo + ":crash",
		Healthy: releaseRepo + ":healthy", Sick: releaseRepo + ":sick"}
	releasesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "swarmops-e2e-releases-")
		if err != nil {
			releasesErr = err
			return
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "workload"), "github.com/swarmops/swarmops/e2e/workload")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			releasesErr = fmt.Errorf("go build e2e/workload: %w\n%s", err, out)
			return
		}
		const health = "HEALTHCHECK --interval=500ms --timeout=3s --retries=2 CMD [\"/workload\", \"health\"]\n"
		for tag, extra := range map[string]string{
			r.V1:      "ENV VERSION=v1\n",
			r.V2:      "ENV VERSION=v2\n",
			r.Crash:   "ENV VERSION=crash EXIT_AFTER=1s\n",
			r.Healthy: "ENV VERSION=healthy\n" + health,
			r.Sick:    "ENV VERSION=sick UNHEALTHY=1\n" + health,
		} {
			df := "FROM scratch\nCOPY workload /workload\n" + extra + "ENTRYPOINT [\"/workload\"]\n"
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
				releasesErr = err
				return
			}
			cmd := exec.Command("docker", "build", "-q", "-t", tag, dir)
			cmd.Env = engineEnv(eng)
			if out, err := cmd.CombinedOutput(); err != nil {
				releasesErr = fmt.Errorf("docker build %s: %w\n%s", tag, err, out)
				return
			}
		}
	})
	if releasesErr != nil {
		t.Fatal(releasesErr)
	}
	return r
}
