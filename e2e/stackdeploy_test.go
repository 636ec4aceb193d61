package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/e2e/dockertruth"
)

var update = flag.Bool("update", false, "rewrite stackspec/testdata/docker/*.json from what the engine creates")

// Paths from this package's directory; CI has the shared stacks beside the
// clone, as stackspec's tests expect them.
const (
	stacksDir   = "../../shared/stacks"
	localDir    = "../stackspec/testdata/stacks" // stacks of swarmops's own, each showing one behaviour
	fixturesDir = "../stackspec/testdata/fixtures"
	truthDir    = "../stackspec/testdata/docker"
)

// TestDockerStackDeployMatchesConvert deploys every shared stack, and each
// of stackspec/testdata/stacks, with the real `docker stack deploy` and holds stackspec's conversion to what Docker
// created: the request bodies the CLI sent (through a recording proxy), and
// what the engine then reports. Differences the Deliberate table does not
// name fail the test.
func TestDockerStackDeployMatchesConvert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eng := requireEngine(t, ctx)
	versions, cli := dockerVersions(t, ctx, eng)
	if !*update {
		requireRecordedCLI(t, cli)
	}
	cases, err := dockertruth.Cases(stacksDir)
	if err != nil {
		t.Fatal(err)
	}
	local, err := dockertruth.Cases(localDir)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, local...)
	requireSwarmManager(t, ctx, eng)

	staged := make([]*dockertruth.Staged, len(cases))
	var externals []dockertruth.External
	seen := map[dockertruth.External]bool{}
	for i, c := range cases {
		dir := filepath.Join(t.TempDir(), c.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := dockertruth.Stage(c, fixturesDir, dir)
		if err != nil {
			t.Fatal(err)
		}
		staged[i] = st
		for _, x := range st.Externals {
			if !seen[x] {
				seen[x] = true
				externals = append(externals, x)
			}
		}
	}

	// Start from a clean engine: what an interrupted run left behind would
	// collide with the objects this run creates.
	extLabel := externalLabel + "=" + externalValue
	for _, c := range cases {
		removeStack(t, ctx, eng, c.Namespace)
	}
	if err := eng.removeLabelled(ctx, extLabel); err != nil {
		t.Fatalf("remove external objects left by an earlier run: %v", err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := eng.removeLabelled(cctx, extLabel); err != nil {
			t.Errorf("remove external objects: %v", err)
		}
	})
	for _, x := range externals {
		if err := eng.createExternal(ctx, x); err != nil {
			t.Fatalf("create the external %s %s the stacks expect: %v", x.Kind, x.Name, err)
		}
	}

	rec := startRecorder(t, eng.socket)
	deployArgs := deployFlags(t, ctx, eng)
	if *update {
		if err := os.MkdirAll(truthDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			truth := deploy(t, ctx, eng, rec, deployArgs, c, staged[i])
			truth.Docker = versions
			file := filepath.Join(truthDir, c.Name+".json")
			if *update {
				if err := truth.Write(file); err != nil {
					t.Fatal(err)
				}
			} else {
				requireRecorded(t, file, truth)
			}
			compareWithConvert(t, ctx, c, staged[i], truth)
		})
	}
}

// requireRecorded fails the test when the recorded truth no longer says
// what Docker does (a fixture or the stack changed without -update): the
// offline compat test replays the recorded file and would test the past.
// The engine's allocations (subnets, VXLAN IDs) differ between runs, so
// only what the CLI did is compared; and of a rejection only the fact, as
// the CLI reports the first schema error it meets in a map, which varies
// from run to run when a file has several.
func requireRecorded(t *testing.T, file string, live *dockertruth.Truth) {
	t.Helper()
	recorded, err := dockertruth.ReadTruth(file)
	if err != nil {
		t.Fatalf("%v: record it with -update", err)
	}
	stale := recorded.Rejected != live.Rejected || !live.Rejected && recorded.Stderr != live.Stderr
	if stale {
		t.Logf("recorded: rejected %v, stderr %q", recorded.Rejected, recorded.Stderr)
		t.Logf("now:      rejected %v, stderr %q", live.Rejected, live.Stderr)
	}
	diffs, err := dockertruth.Compare(live.Case, recorded.Sent, live.Sent, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Log(d.Format("recorded", "now"))
	}
	if stale || len(diffs) > 0 {
		t.Errorf("%s is stale: Docker now does otherwise (see the log); re-record with -update and review the diff", file)
	}
}

// requireEngine returns the engine, or ends the test: failing under CI,
// where the engine is part of the environment, skipping elsewhere.
func requireEngine(t *testing.T, ctx context.Context) *engine {
	t.Helper()
	eng, err := findEngine(ctx)
	if err == nil {
		return eng
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %v", err)
	}
	t.Skipf("needs a Docker engine: %v", err)
	return nil
}

// requireSwarmManager makes the engine a swarm manager when its swarm is
// inactive, and leaves the swarm again at the end only in that case.
func requireSwarmManager(t *testing.T, ctx context.Context, eng *engine) {
	t.Helper()
	var info struct {
		Swarm struct {
			LocalNodeState   string
			ControlAvailable bool
		}
	}
	if err := eng.call(ctx, http.MethodGet, "/info", nil, &info); err != nil {
		t.Fatal(err)
	}
	switch {
	case info.Swarm.LocalNodeState == "inactive":
		// swarm init also creates the docker_gwbridge network, which
		// leaving keeps: the engine is only as it was if that goes too.
		hadBridge := eng.call(ctx, http.MethodGet, "/networks/"+gwBridge, nil, nil) == nil
		if _, stderr, err := docker(ctx, "", engineEnv(eng), "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
			t.Fatalf("docker swarm init: %v: %s", err, stderr)
		}
		t.Cleanup(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
			defer ccancel()
			if _, stderr, err := docker(cctx, "", engineEnv(eng), "swarm", "leave", "--force"); err != nil {
				t.Errorf("docker swarm leave: %v: %s", err, stderr)
				return
			}
			if !hadBridge {
				if err := eng.call(cctx, http.MethodDelete, "/networks/"+gwBridge, nil, nil); err != nil {
					t.Errorf("remove the %s network swarm init created: %v", gwBridge, err)
				}
			}
		})
	case info.Swarm.LocalNodeState != "active" || !info.Swarm.ControlAvailable:
		t.Fatalf("the engine's swarm is %q (manager: %v): stacks deploy only on a swarm manager",
			info.Swarm.LocalNodeState, info.Swarm.ControlAvailable)
	}
}

// gwBridge is the bridge network swarm mode connects containers through.
const gwBridge = "docker_gwbridge"

// engineEnv is the environment for a docker CLI that talks to the engine
// directly, with no user configuration.
func engineEnv(eng *engine) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"DOCKER_HOST=unix://" + eng.socket,
		"HOME=" + os.TempDir(),
		"DOCKER_CONFIG=" + filepath.Join(os.TempDir(), "swarmops-e2e-docker-config"),
	}
}

// dockerVersions describes the CLI and engine for the truth files, and
// returns the CLI's version on its own.
func dockerVersions(t *testing.T, ctx context.Context, eng *engine) (desc, cli string) {
	t.Helper()
	var v struct{ Version, APIVersion string }
	if err := eng.call(ctx, http.MethodGet, "/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := docker(ctx, "", engineEnv(eng), "version", "--format", "{{.Client.Version}}")
	if err != nil {
		t.Fatalf("docker version: %v: %s", err, stderr)
	}
	cli = strings.TrimSpace(out)
	return fmt.Sprintf("docker CLI %s, engine %s (API %s)", cli, v.Version, v.APIVersion), cli
}

// requireRecordedCLI ends the test unless the docker CLI has the major
// version the truth files were recorded with. The conversion is the CLI's,
// and it changes between majors (CLI 20.10 reads a file without a version
// key as version 1.0 and rejects it; its types write other zero values):
// against another major the comparison would report Docker's own changes.
func requireRecordedCLI(t *testing.T, cli string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(truthDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded truth in %s (%v): record it with -update", truthDir, err)
	}
	truth, err := dockertruth.ReadTruth(files[0])
	if err != nil {
		t.Fatal(err)
	}
	recorded := strings.TrimPrefix(strings.SplitN(truth.Docker, ",", 2)[0], "docker CLI ")
	major := func(v string) string { return strings.SplitN(v, ".", 2)[0] }
	if major(recorded) == major(cli) {
		return
	}
	msg := fmt.Sprintf("the truth was recorded with docker CLI %s and the docker CLI on PATH is %s: put a %s.x CLI first on PATH, or re-record every stack with -update",
		recorded, cli, major(recorded))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// usageError is the docker CLI's exit code for a command line it cannot
// parse, as opposed to a stack it rejects.
const usageError = 125

// deployFlags are the flags every deploy gets: no registry lookups (no
// image can be pulled here, and a digest pinned from a registry is not part
// of the conversion) and, where the CLI knows the flag, an explicit
// --detach=true, without which CLI 26 and later print a notice about the
// flag's coming default.
func deployFlags(t *testing.T, ctx context.Context, eng *engine) []string {
	t.Helper()
	help, stderr, err := docker(ctx, "", engineEnv(eng), "stack", "deploy", "--help")
	if err != nil {
		t.Fatalf("docker stack deploy --help: %v: %s", err, stderr)
	}
	flags := []string{"--resolve-image", "never"}
	if strings.Contains(help, "--detach") {
		flags = append([]string{"--detach=true"}, flags...)
	}
	return flags
}

// deploy runs `docker stack deploy` for one case through the recorder,
// reads back what the engine created, removes the stack and waits until its
// objects are gone (the next case may publish the same ports).
func deploy(t *testing.T, ctx context.Context, eng *engine, rec *recorder, flags []string, c dockertruth.Case, st *dockertruth.Staged) *dockertruth.Truth {
	t.Helper()
	args := append([]string{"stack", "deploy"}, flags...)
	truth := &dockertruth.Truth{Case: c.Name, Namespace: c.Namespace}
	for _, f := range st.Files {
		args = append(args, "-c", filepath.Base(f))
		truth.Files = append(truth.Files, filepath.Base(f))
	}
	args = append(args, c.Namespace)
	truth.Command = "docker " + strings.Join(args, " ")

	// For a key set twice the last value wins: the fixture's variables
	// (HOME among them) over the defaults, the recorder over the engine.
	env := append(engineEnv(eng), st.Environ()...)
	env = append(env, "DOCKER_HOST=unix://"+rec.socket)
	rec.take()
	rec.takeAdjusted()
	start := time.Now()
	_, stderr, err := docker(ctx, st.Dir, env, args...)
	deployed := time.Since(start)
	reqs := rec.take()
	truth.Adjusted = rec.takeAdjusted()
	t.Cleanup(func() { removeStack(t, ctx, eng, c.Namespace) })

	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == usageError:
		t.Fatalf("%s: the docker CLI refuses the command line: %s", truth.Command, stderr)
	case errors.As(err, &exit):
		truth.Rejected = true
	case err != nil:
		t.Fatalf("%s: %v", truth.Command, err)
	}
	truth.Stderr = logTime.ReplaceAllString(st.Scrub(stderr), "")
	if !truth.Rejected {
		truth.Warnings = dockertruth.ParseWarnings(truth.Stderr)
	}

	ids, err := eng.names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if truth.Sent, err = sentObjects(reqs, ids, st); err != nil {
		t.Fatal(err)
	}
	if truth.Inspected, err = inspectedObjects(ctx, eng, c.Namespace, ids, st); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	removeStack(t, ctx, eng, c.Namespace)
	t.Logf("deploy %v, remove %v", deployed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return truth
}

// logTime matches the timestamp of a line the CLI logs, which would
// change the truth files with every run.
var logTime = regexp.MustCompile(`(?m)^time="[^"]*" `)

// removeStack removes a stack with `docker stack rm` if anything of it
// exists, and waits until the engine has removed all of it.
func removeStack(t *testing.T, ctx context.Context, eng *engine, namespace string) {
	t.Helper()
	label := api.LabelNamespace + "=" + namespace
	exists := false
	for _, kind := range []string{"services", "networks", "secrets", "configs"} {
		list, err := eng.listLabelled(ctx, kind, label)
		if err != nil {
			t.Fatal(err)
		}
		exists = exists || len(list) > 0
	}
	if !exists {
		return
	}
	// A failed rm (a network still held by a dying task) is finished by
	// waitGone; only if that cannot finish it is the rm's error the story.
	_, stderr, rmErr := docker(ctx, "", engineEnv(eng), "stack", "rm", namespace)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := eng.waitGone(wctx, namespace); err != nil {
		t.Fatalf("%v (docker stack rm %s: %v: %s)", err, namespace, rmErr, stderr)
	}
}

// sentObjects keeps the body of every create call the CLI made, keyed by
// the name in it. IDs, which change with every run, become IDMarks.
func sentObjects(reqs []request, ids map[string]string, st *dockertruth.Staged) (dockertruth.Objects, error) {
	objs := dockertruth.Objects{}
	for _, r := range reqs {
		m := createPath.FindStringSubmatch(r.Path)
		if m == nil || r.Method != http.MethodPost {
			continue
		}
		v, err := scrubbed(r.Body, ids, st)
		if err != nil {
			return objs, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
		}
		obj, _ := v.(map[string]any)
		name, _ := obj["Name"].(string)
		put(&objs, m[2], name, obj)
	}
	return objs, nil
}

// inspectedObjects reads back the stack's objects: the spec of each
// service, secret and config, and the fields of each network that its
// create request sets.
func inspectedObjects(ctx context.Context, eng *engine, namespace string, ids map[string]string, st *dockertruth.Staged) (dockertruth.Objects, error) {
	objs := dockertruth.Objects{}
	label := api.LabelNamespace + "=" + namespace
	for _, kind := range []string{"services", "networks", "secrets", "configs"} {
		list, err := eng.listLabelled(ctx, kind, label)
		if err != nil {
			return objs, err
		}
		for _, o := range list {
			var v any = o["Spec"]
			if kind == "networks" {
				v = networkCreateFields(o)
			}
			data, err := dockertruth.Marshal(v)
			if err != nil {
				return objs, err
			}
			g, err := scrubbed(data, ids, st)
			if err != nil {
				return objs, err
			}
			obj, _ := g.(map[string]any)
			name, _ := obj["Name"].(string)
			put(&objs, kind, name, obj)
		}
	}
	return objs, nil
}

// networkCreateFields keeps what a network create request can set; the
// rest of an inspected network (ID, Created, Containers, Peers) is state.
func networkCreateFields(n map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"Name", "Driver", "Scope", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Options", "Labels"} {
		if v, ok := n[k]; ok {
			out[k] = v
		}
	}
	return out
}

func put(objs *dockertruth.Objects, kind, name string, obj map[string]any) {
	var m *map[string]any
	switch kind {
	case "services":
		m = &objs.Services
	case "networks":
		m = &objs.Networks
	case "secrets":
		m = &objs.Secrets
	case "configs":
		m = &objs.Configs
	}
	if *m == nil {
		*m = map[string]any{}
	}
	(*m)[name] = obj
}

// scrubbed decodes JSON with the staging directory replaced by StackDir and
// every known object ID by its IDMark.
func scrubbed(data []byte, ids map[string]string, st *dockertruth.Staged) (any, error) {
	text := st.Scrub(string(data))
	// Longest first, so that no ID is replaced inside a longer one.
	keys := make([]string, 0, len(ids))
	for id := range ids {
		keys = append(keys, id)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, id := range keys {
		text = strings.ReplaceAll(text, `"`+id+`"`, `"`+dockertruth.IDMark(ids[id])+`"`)
	}
	return dockertruth.Decode([]byte(text))
}
