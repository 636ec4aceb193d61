package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/reconciler"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStackConvert(t *testing.T) {
	code, out, stderr := runCLI(t, "stack", "convert", "-c", "../../examples/stacks/shop/compose.yml", "--namespace", "shop")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, out)
	}
	for _, key := range []string{"services", "networks", "secrets", "configs", "warnings"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("output lacks %q", key)
		}
	}
	var conv convertOutput
	if err := json.Unmarshal([]byte(out), &conv); err != nil {
		t.Fatal(err)
	}
	web, ok := conv.Services["shop_web"]
	if !ok {
		t.Fatalf("no service shop_web in %v", keys(conv.Services))
	}
	if got := web.Labels[api.LabelNamespace]; got != "shop" {
		t.Errorf("shop_web namespace label = %q, want shop", got)
	}
	if web.Mode.Replicated == nil || *web.Mode.Replicated.Replicas != 2 {
		t.Errorf("shop_web mode = %+v, want 2 replicas", web.Mode)
	}
	if _, ok := conv.Networks["shop_default"]; !ok {
		t.Errorf("no shop_default network in %v", keys(conv.Networks))
	}
	if _, ok := conv.Configs["shop_nginx_conf"]; !ok {
		t.Errorf("no shop_nginx_conf config in %v", keys(conv.Configs))
	}
	// The image tag comes from the stack's .env file.
	shopAPI := conv.Services["shop_api"]
	if img := shopAPI.TaskTemplate.ContainerSpec.Image; img != "ghcr.io/example/shop-api:1.4.2" {
		t.Errorf("shop_api image = %q, want the tag from .env", img)
	}
}

func TestStackConvertInvalid(t *testing.T) {
	code, out, stderr := runCLI(t, "stack", "convert", "-c", "testdata/broken.yml", "--namespace", "x")
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitInvalid, out)
	}
	if out != "" {
		t.Errorf("invalid input printed to stdout:\n%s", out)
	}
	for _, want := range []string{
		"testdata/broken.yml:5:17: services.web.deploy.replicas:",
		"testdata/broken.yml:9:13: services.api.deploy.mode:",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestStackConvertNeedsAFile(t *testing.T) {
	code, _, stderr := runCLI(t, "stack", "convert")
	if code != exitInvalid || !strings.Contains(stderr, "-c FILE") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming -c FILE", code, stderr)
	}
}

func TestPlanOffline(t *testing.T) {
	code, out, stderr := runCLI(t, "plan", "--offline", "../../examples/stacks")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"stack monitoring: ",
		"stack shop: ",
		"+ service  shop_web  (nginx:1.27-alpine, 2 replicas)",
		"+ network  shop_default",
		"+ config   shop_nginx_conf",
		"Plan: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanOfflineAgainstState(t *testing.T) {
	// Render the repository, save it as the cluster's state with one image
	// changed and one stack the repository no longer has, and plan again.
	code, out, stderr := runCLI(t, "plan", "--offline", "--json", "../../examples/stacks")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var first planJSON
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	if len(first.Stacks) != 2 || first.Stacks[0].Digest == "" {
		t.Fatalf("plan --json stacks = %+v, want two with digests", first.Stacks)
	}

	// The cluster runs what the reconciler rendered, but an older web.
	rendered, err := reconciler.PlanDir(context.Background(), "../../examples/stacks", nil)
	if err != nil {
		t.Fatal(err)
	}
	var shop api.StackSpec
	for _, sp := range rendered.Stacks {
		if sp.Source.Name == "shop" && sp.Spec != nil {
			shop = *sp.Spec
		}
	}
	shop.Namespace = "shop"
	web := shop.Services["shop_web"]
	web.TaskTemplate.ContainerSpec.Image = "nginx:1.26-alpine"
	shop.Services["shop_web"] = web
	state := stateFile{Stacks: map[string]*api.StackSpec{
		"shop": &shop,
		"old":  {Namespace: "old", Services: map[string]swarm.ServiceSpec{"old_app": {}}},
	}}
	data, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, "plan", "--offline", "--state", path, "../../examples/stacks")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"~ service  shop_web  (replaces tasks)",
		`TaskTemplate.ContainerSpec.Image: "nginx:1.26-alpine" -> "nginx:1.27-alpine"`,
		"stack old: not in the repository",
		"- service  old_app",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shop_api") {
		t.Errorf("plan mentions shop_api, which did not change:\n%s", out)
	}
}

func TestPlanOfflineInvalidStack(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "good"), 0o755); err != nil {
		t.Fatal(err)
	}
	broken, err := os.ReadFile("testdata/broken.yml")
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "bad", "compose.yml"), broken, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "good", "compose.yml"), []byte("services:\n  app:\n    image: example/app:1\n"), 0o644))
	code, out, stderr := runCLI(t, "plan", "--offline", dir)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	if !strings.Contains(out, "+ service  good_app") {
		t.Errorf("the valid stack is not planned:\n%s", out)
	}
	if !strings.Contains(stderr, filepath.Join(dir, "bad", "compose.yml")+":5:17: services.web.deploy.replicas:") {
		t.Errorf("stderr does not place the error:\n%s", stderr)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPlanOfflineJSONErrors(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "bad"), 0o755))
	broken, err := os.ReadFile("testdata/broken.yml")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "bad", "compose.yml"), broken, 0o644))
	code, out, _ := runCLI(t, "plan", "--offline", "--json", dir)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	var doc struct {
		Stacks []struct {
			Name   string `json:"name"`
			Errors []struct {
				File    string `json:"file"`
				Line    int    `json:"line"`
				Column  int    `json:"column"`
				Path    string `json:"path"`
				Message string `json:"message"`
			} `json:"errors"`
		} `json:"stacks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	if len(doc.Stacks) != 1 || len(doc.Stacks[0].Errors) != 2 {
		t.Fatalf("want one stack with two errors, got %+v", doc.Stacks)
	}
	e := doc.Stacks[0].Errors[0]
	if e.Line != 5 || e.Column != 17 || e.Path != "services.web.deploy.replicas" || !strings.HasSuffix(e.File, "compose.yml") || e.Message == "" {
		t.Errorf("first error = %+v, want compose.yml:5:17 services.web.deploy.replicas with a message", e)
	}
}

func TestInferAdvertise(t *testing.T) {
	addr, err := inferAdvertise("127.0.0.1:9999")
	if err != nil || addr != "127.0.0.1:"+defaultPort {
		t.Fatalf("inferAdvertise toward loopback = %q, %v; want 127.0.0.1:%s", addr, err, defaultPort)
	}
	if _, err := inferAdvertise("no-port"); err == nil {
		t.Fatal("inferAdvertise accepted a manager address without a port")
	}
}

// TestPlanDetailedExitCode pins the exit codes pull-request CI reads: a
// repository planned against what the reconciler deployed from it changes
// nothing (0), against an empty cluster it does (2).
func TestPlanDetailedExitCode(t *testing.T) {
	rendered, err := reconciler.PlanDir(context.Background(), "../../examples/stacks", nil)
	if err != nil {
		t.Fatal(err)
	}
	state := stateFile{Stacks: map[string]*api.StackSpec{}}
	for _, sp := range rendered.Stacks {
		state.Stacks[sp.Source.Name] = sp.Spec
	}
	data, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "plan", "--state", path, "--detailed-exitcode", "../../examples/stacks"); code != exitOK {
		t.Errorf("unchanged: exit %d, want 0:\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "plan", "--offline", "--detailed-exitcode", "../../examples/stacks"); code != exitInvalid {
		t.Errorf("against an empty cluster: exit %d, want 2: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "plan", "--offline", "--detailed-exitcode", "no/such/dir"); code != exitFailed {
		t.Errorf("missing directory: exit %d, want 1: %s", code, stderr)
	}
}
