package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmops/swarmops/agent/runtime"
)

// The engine tests run a tiny static program in an image built FROM scratch,
// since nothing can be pulled on CI machines. Its behaviour is set by env:
// LINES (comma-separated, to stdout), STDERR, SLEEP (a Go duration),
// IGNORE_TERM, EXIT; with the argument "fail" it exits 1 at once (a failing
// healthcheck).
const progSource = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		os.Exit(1)
	}
	if os.Getenv("IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		go func() { <-c; fmt.Println("terminated"); os.Exit(0) }()
	}
	for _, l := range strings.Split(os.Getenv("LINES"), ",") {
		if l != "" {
			fmt.Println(l)
		}
	}
	if e := os.Getenv("STDERR"); e != "" {
		fmt.Fprintln(os.Stderr, e)
	}
	if d, err := time.ParseDuration(os.Getenv("SLEEP")); err == nil {
		time.Sleep(d)
	}
	code, _ := strconv.Atoi(os.Getenv("EXIT"))
	os.Exit(code)
}
`

var (
	engine    *client.Client
	engineErr error
	runID     = randHex(4)
	testImage = "swarmops-dockertest:" + runID

	imageOnce sync.Once
	imageErr  error
	imageMade bool
)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func TestMain(m *testing.M) {
	engine, engineErr = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if engineErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, engineErr = engine.Ping(ctx)
		cancel()
	}
	code := m.Run()
	if imageMade {
		_, err := engine.ImageRemove(context.Background(), testImage, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "remove test image %s: %v\n", testImage, err)
		}
	}
	os.Exit(code)
}

// needEngine returns the engine and the test image, building it once.
func needEngine(t *testing.T) *client.Client {
	t.Helper()
	if engineErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine answers (CI=true): %v", engineErr)
		}
		t.Skipf("no Docker engine answers (set DOCKER_HOST or start dockerd): %v", engineErr)
	}
	imageOnce.Do(func() { imageErr = buildImage() })
	if imageErr != nil {
		t.Fatalf("build test image: %v", imageErr)
	}
	return engine
}

func buildImage() error {
	dir, err := os.MkdirTemp("", "swarmops-dockertest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"go.mod":  "module prog\n\ngo 1.21\n",
		"main.go": progSource,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("go", "build", "-o", "prog", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "prog"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY prog /prog\nENTRYPOINT [\"/prog\"]\n")},
		{"prog", 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := engine.ImageBuild(context.Background(), &buf, build.ImageBuildOptions{
		Tags: []string{testImage}, Remove: true, ForceRemove: true,
		Labels: map[string]string{"io.swarmops.test": runID},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	imageMade = true
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return fmt.Errorf("docker build: %s", m.Error)
		}
	}
}

// newRuntime returns a runtime of a node of its own, whose containers are
// all removed when the test ends.
func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	rt := New(needEngine(t), "testnode-"+runID+"-"+randHex(3))
	t.Cleanup(func() {
		owned, err := rt.List(context.Background())
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, o := range owned {
			if err := rt.Remove(context.Background(), o.TaskID); err != nil {
				t.Errorf("cleanup %s: %v", o.Name, err)
			}
		}
	})
	return rt
}

// task returns a task of service "svc" running the test program with env.
func task(slot int, env ...string) swarm.Task {
	return swarm.Task{
		ID: randHex(8), ServiceID: "svc-id", Slot: slot,
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testImage, Env: env}},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run prepares, starts and waits for a task, returning Wait's result.
func run(t *testing.T, rt *Runtime, tk swarm.Task) error {
	t.Helper()
	ctx := testCtx(t)
	if err := rt.Prepare(ctx, runtime.Spec{Task: tk, Service: "svc"}); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := rt.Start(ctx, tk.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	return rt.Wait(ctx, tk.ID, nil)
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
