package docker

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/agent/runtime"
)

func digest(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// filesSpec is a task of service "svc" with two secrets and a config (one
// mode it may not read) and a credential-spec config, which has no file.
func filesSpec(env ...string) (runtime.Spec, map[string][]byte) {
	data := map[string][]byte{
		"sid1": []byte("s3cret-one-" + randHex(8)),
		"sid2": []byte("s3cret-two-" + randHex(8)),
		"cid1": []byte("conf-" + randHex(8)),
	}
	tk := task(1, env...)
	cs := tk.Spec.ContainerSpec
	cs.User = "1000:1000"
	cs.Secrets = []*swarm.SecretReference{
		{SecretID: "sid1", SecretName: "db_pass", File: &swarm.SecretReferenceFileTarget{Name: "db_pass", UID: "1000", GID: "1000", Mode: 0o400}},
		{SecretID: "sid2", SecretName: "token", File: &swarm.SecretReferenceFileTarget{Name: "/etc/app/token", UID: "0", GID: "0", Mode: 0o444}},
	}
	cs.Configs = []*swarm.ConfigReference{
		{ConfigID: "cid1", ConfigName: "app.conf", File: &swarm.ConfigReferenceFileTarget{Name: "app.conf", UID: "0", GID: "0", Mode: 0o440}},
		{ConfigID: "cred", ConfigName: "credspec", Runtime: &swarm.ConfigReferenceRuntimeTarget{}},
	}
	return runtime.Spec{
		Task: tk, Service: "svc",
		Secrets: map[string][]byte{"sid1": data["sid1"], "sid2": data["sid2"]},
		Configs: map[string][]byte{"cid1": data["cid1"]},
	}, data
}

// scanFor fails the test if any file under root (but not under skip)
// holds any of the secrets.
func scanFor(t *testing.T, root, skip string, secrets ...[]byte) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip != "" && path == skip {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds secret data %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("scan %s: %v", root, err)
	}
}

func TestSecretsAndConfigsOnTmpfs(t *testing.T) {
	dir := secretsDir(t)
	rt := newRuntime(t, Options{SecretsDir: dir})
	ctx := testCtx(t)
	paths := "/run/secrets/db_pass,/etc/app/token,/app.conf"
	spec, data := filesSpec("PROBE=1", "HASH="+paths, "STAT="+paths, "READ=/proc/self/mountinfo", "WRITE=/run/secrets/new")
	if err := runSpec(t, rt, spec); err != nil {
		t.Fatalf("the probe failed: %v", err)
	}
	p := probeOf(t, rt, spec.Task.ID)

	// What the task saw: the data, at Swarm's targets, with the owners
	// and modes of the references, read-only.
	for path, want := range map[string]string{
		"/run/secrets/db_pass": digest(data["sid1"]),
		"/etc/app/token":       digest(data["sid2"]),
	} {
		if got := p.Files[path]; got != want {
			t.Errorf("%s: the task read %q, want the data (%s)", path, got, want)
		}
	}
	if got := p.Files["/app.conf"]; !strings.Contains(got, "permission denied") {
		t.Errorf("/app.conf (0440 root:root) read by uid 1000: %q, want permission denied", got)
	}
	for path, want := range map[string]string{"/run/secrets/db_pass": "400 1000 1000", "/etc/app/token": "444 0 0", "/app.conf": "440 0 0"} {
		st := p.Stats[path]
		if got := fmt.Sprintf("%s %d %d", st.Mode, st.UID, st.GID); got != want || st.Err != "" {
			t.Errorf("%s: mode uid gid = %q (%s), want %q", path, got, st.Err, want)
		}
	}
	mi := p.Files["/proc/self/mountinfo"]
	for _, target := range []string{"/run/secrets/db_pass", "/etc/app/token", "/app.conf"} {
		if opts, fstype, _, ok := mountOf(mi, target); !ok || !hasOpt(opts, "ro") || fstype != "tmpfs" {
			t.Errorf("%s mounted %v with %q from %q, want a read-only mount from tmpfs", target, ok, opts, fstype)
		}
	}

	// Where the data lives on the host: files on tmpfs under the secrets
	// dir, and nowhere else the test or the engine keeps anything.
	c, err := engine.ContainerInspect(ctx, TaskName(spec.Task, "svc"))
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, m := range c.HostConfig.Mounts {
		sources = append(sources, m.Source)
		if on, err := runtime.OnTmpfs(m.Source); !on || !strings.HasPrefix(m.Source, dir+"/") {
			t.Errorf("mount source %s: on tmpfs %v (%v), want a file on tmpfs under %s", m.Source, on, err, dir)
		}
	}
	if len(sources) != 3 {
		t.Errorf("mounts from %v, want the three files (the credential spec has none)", sources)
	}
	secrets := [][]byte{data["sid1"], data["sid2"], data["cid1"]}
	scanFor(t, filepath.Dir(dir), dir, secrets...)
	inspect, _ := json.Marshal(c)
	for _, s := range secrets {
		if bytes.Contains(inspect, s) {
			t.Errorf("the engine's container record holds secret data %q", s)
		}
	}
	if info, err := engine.Info(ctx); err == nil {
		cdir := filepath.Join(info.DockerRootDir, "containers", c.ID)
		if _, err := os.Stat(cdir); err == nil {
			scanFor(t, cdir, "", secrets...)
		} else {
			t.Logf("cannot read the engine's container dir (%v): only its API record was scanned", err)
		}
	}

	if err := rt.Remove(ctx, spec.Task.ID); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, rt.nodeID)); err != nil || len(ents) != 0 {
		t.Errorf("after Remove the node's secrets dir holds %v (%v), want nothing", ents, err)
	}
	scanFor(t, dir, "", secrets...)
}

// An agent that restarts keeps the tmpfs and its files: the containers it
// adopts find their secrets again, even when they start anew.
func TestSecretsSurviveAgentRestart(t *testing.T) {
	dir := secretsDir(t)
	first := newRuntime(t, Options{SecretsDir: dir})
	ctx := testCtx(t)
	spec, data := filesSpec("PROBE=1", "HASH=/run/secrets/db_pass", "SLEEP=1h", "LINES=ready")
	start(t, first, spec)
	waitForLine(t, first, spec.Task.ID, "ready")

	// The restarted agent prepares another task, which readies the
	// secrets dir again: it must not mount a new tmpfs over the old one.
	restarted := New(engine, first.nodeID, Options{SecretsDir: dir})
	other, _ := filesSpec()
	other.Task.Slot = 2
	if err := restarted.Prepare(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Stop(ctx, spec.Task.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Wait(ctx, spec.Task.ID, nil); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if err := restarted.Start(ctx, spec.Task.ID); err != nil {
		t.Fatalf("restart the adopted container: %v", err)
	}
	waitForLines(t, restarted, spec.Task.ID, "ready", 2)
	out, _ := logsOf(t, restarted, spec.Task.ID, false)
	if n := strings.Count(out, digest(data["sid1"])); n != 2 {
		t.Errorf("the secret was read %d times in two runs; stdout %q", n, out)
	}
	for _, tk := range []swarm.Task{spec.Task, other.Task} {
		if err := restarted.Remove(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, first.nodeID, tk.ID)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("task %s's files after Remove: %v", tk.ID, err)
		}
	}
}

func TestSecretsGoWhenPrepareFails(t *testing.T) {
	dir := secretsDir(t)
	rt := newRuntime(t, Options{SecretsDir: dir})
	spec, _ := filesSpec()
	spec.Task.Spec.ContainerSpec.Image = "swarmops-no-such-image-" + runID + ":v1"
	if err := rt.Prepare(testCtx(t), spec); err == nil {
		t.Fatal("a task with a missing image was prepared")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, rt.nodeID)); len(ents) != 0 {
		t.Errorf("a failed Prepare left files: %v", ents)
	}
	// A reference whose data the assignment lacks is refused before anything is written.
	spec, _ = filesSpec()
	delete(spec.Secrets, "sid2")
	if err := rt.Prepare(testCtx(t), spec); err == nil || !strings.Contains(err.Error(), "secret token") {
		t.Errorf("Prepare without a secret's data = %v, want an error naming secret token", err)
	}
}
