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
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/swarmops/swarmops/agent/runtime"
	"golang.org/x/sys/unix"
)

// The engine tests run a tiny static program in an image built FROM scratch,
// since nothing can be pulled on CI machines. Its behaviour is set by env:
// PROBE (print one line "probe {json}" of what the process sees: args,
// ids, groups, cwd, hostname, pid, env, the files of READ, the SHA-256 of
// the files of HASH (so that secrets never reach the logs), the owners
// and modes of STAT and the outcome of writing each of WRITE, all
// comma-separated paths), LINES (comma-separated, to stdout), STDERR,
// SERVE_TCP (ports to answer HTTP on), SERVE_UDP (a port to echo on),
// LINES_AFTER (printed once those listen), SLEEP (a Go duration), IGNORE_TERM, EXIT. It prints "signal: NAME" and
// exits 0 on SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGUSR2. With the argument
// "fail" it exits 1 at once and with "ok" 0 (healthchecks).
const progSource = `package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func list(env string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(env), ",") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

type stat struct {
	Mode string
	UID  uint32
	GID  uint32
	Err  string
}

func probe() {
	host, _ := os.Hostname()
	cwd, _ := os.Getwd()
	groups, _ := os.Getgroups()
	p := map[string]any{
		"args": os.Args, "uid": os.Getuid(), "gid": os.Getgid(), "groups": groups,
		"cwd": cwd, "hostname": host, "pid": os.Getpid(), "env": os.Environ(),
	}
	files, stats, writes := map[string]string{}, map[string]stat{}, map[string]string{}
	for _, f := range list("READ") {
		b, err := os.ReadFile(f)
		if err != nil {
			files[f] = "error: " + err.Error()
		} else {
			files[f] = string(b)
		}
	}
	for _, f := range list("HASH") {
		b, err := os.ReadFile(f)
		if err != nil {
			files[f] = "error: " + err.Error()
		} else {
			files[f] = fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		}
	}
	for _, f := range list("STAT") {
		fi, err := os.Stat(f)
		if err != nil {
			stats[f] = stat{Err: err.Error()}
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		stats[f] = stat{Mode: fmt.Sprintf("%o", fi.Mode().Perm()), UID: st.Uid, GID: st.Gid}
	}
	for _, f := range list("WRITE") {
		if err := os.WriteFile(f, []byte("written"), 0o644); err != nil {
			writes[f] = err.Error()
		} else {
			writes[f] = "ok"
		}
	}
	p["files"], p["stats"], p["writes"] = files, stats, writes
	b, _ := json.Marshal(p)
	fmt.Println("probe " + string(b))
}

func serve() {
	for _, port := range list("SERVE_TCP") {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		host, _ := os.Hostname()
		go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s:%s", host, port)
		}))
	}
	if port := os.Getenv("SERVE_UDP"); port != "" {
		c, err := net.ListenPacket("udp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				n, addr, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				c.WriteTo(append([]byte("echo "), buf[:n]...), addr)
			}
		}()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "ok" {
		os.Exit(0)
	}
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}
	if os.Getenv("IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		sigs = append(sigs, syscall.SIGTERM)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, sigs...)
	go func() { s := <-c; fmt.Println("signal: " + s.String()); os.Exit(0) }()
	if os.Getenv("PROBE") != "" {
		probe()
	}
	for _, l := range list("LINES") {
		fmt.Println(l)
	}
	if e := os.Getenv("STDERR"); e != "" {
		fmt.Fprintln(os.Stderr, e)
	}
	serve()
	for _, l := range list("LINES_AFTER") {
		fmt.Println(l)
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

	imageOnce  sync.Once
	imageErr   error
	imageMade  bool
	progBinary []byte // the test program, for images served by a test registry
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
		"go.mod":  "module prog\n\ngo 1.22\n",
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
	progBinary = bin
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
func newRuntime(t *testing.T, opts ...Options) *Runtime {
	t.Helper()
	rt := New(needEngine(t), "testnode-"+runID+"-"+randHex(3), opts...)
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

// secretsDir returns a directory for a runtime's secrets under the test's
// temporary directory, which is on a disk: the runtime mounts a tmpfs on
// it, which the test unmounts at the end. Call it before newRuntime, so
// that the containers go before the mount.
func secretsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	t.Cleanup(func() {
		for range 5 { // a failed test may have stacked mounts
			if on, _ := runtime.OnTmpfs(dir); !on {
				break
			}
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
				break
			}
		}
	})
	return dir
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
	return runSpec(t, rt, runtime.Spec{Task: tk, Service: "svc"})
}

func runSpec(t *testing.T, rt *Runtime, s runtime.Spec) error {
	t.Helper()
	ctx := testCtx(t)
	start(t, rt, s)
	return rt.Wait(ctx, s.Task.ID, nil)
}

// start prepares and starts a task.
func start(t *testing.T, rt *Runtime, s runtime.Spec) {
	t.Helper()
	ctx := testCtx(t)
	if err := rt.Prepare(ctx, s); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := rt.Start(ctx, s.Task.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
}

// logsOf returns what the task has written so far.
func logsOf(t *testing.T, rt *Runtime, taskID string, follow bool) (stdout, stderr string) {
	t.Helper()
	rc, err := rt.Logs(testCtx(t), taskID, LogOptions{Follow: follow})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return out.String(), errb.String()
}

// probeResult is what the test program saw, with PROBE set.
type probeResult struct {
	Args     []string
	UID, GID int
	Groups   []int
	Cwd      string
	Hostname string
	Pid      int
	Env      []string
	Files    map[string]string
	Stats    map[string]struct {
		Mode     string
		UID, GID uint32
		Err      string
	}
	Writes map[string]string
}

// probeOf reads the probe line of a task that has exited.
func probeOf(t *testing.T, rt *Runtime, taskID string) probeResult {
	t.Helper()
	out, errOut := logsOf(t, rt, taskID, false)
	for _, l := range lines(out) {
		if j, ok := strings.CutPrefix(l, "probe "); ok {
			var p probeResult
			if err := json.Unmarshal([]byte(j), &p); err != nil {
				t.Fatalf("probe line %q: %v", l, err)
			}
			return p
		}
	}
	t.Fatalf("the task printed no probe line: stdout %q stderr %q", out, errOut)
	return probeResult{}
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
