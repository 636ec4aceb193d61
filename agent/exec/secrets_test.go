package exec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/agent/runtime"
	"golang.org/x/sys/unix"
)

// secretsDir returns a directory for a runtime's secrets: as root, one
// under the test's temporary directory (on a disk), on which the runtime
// mounts a tmpfs that the test unmounts at the end; otherwise one under
// /dev/shm, which is tmpfs already. Call it before the tasks' cleanups.
func secretsDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() == 0 {
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
	if on, _ := runtime.OnTmpfs("/dev/shm"); !on {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true runs as root (it starts dockerd), yet the tests are not root and /dev/shm is not tmpfs")
		}
		t.Skip("not root, and /dev/shm is not tmpfs: no tmpfs to test secrets on")
	}
	dir, err := os.MkdirTemp("/dev/shm", "swarmops-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func filesTask(id, script string) (runtime.Spec, map[string][]byte) {
	data := map[string][]byte{"sid1": []byte("s3cret-" + id), "cid1": []byte("conf-" + id)}
	tk := shTask(id, script, "SVC={{.Service.Name}}.{{.Task.Slot}}")
	tk.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{
		{SecretID: "sid1", SecretName: "db_pass", File: &swarm.SecretReferenceFileTarget{Name: "db_pass", UID: "0", GID: "0", Mode: 0o400}},
	}
	tk.Spec.ContainerSpec.Configs = []*swarm.ConfigReference{
		{ConfigID: "cid1", ConfigName: "app.conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/app/app.conf", UID: "0", GID: "0", Mode: 0o440}},
	}
	return runtime.Spec{
		Task: tk, Service: "web",
		Secrets: map[string][]byte{"sid1": data["sid1"]},
		Configs: map[string][]byte{"cid1": data["cid1"]},
	}, data
}

func TestSecretsAndConfigs(t *testing.T) {
	sdir := secretsDir(t)
	state := t.TempDir()
	r := New(state, "node1", Options{SecretsDir: sdir})
	spec, data := filesTask("files", `sha256sum <"$SWARMOPS_SECRETS_DIR/db_pass"; stat -c %a "$SWARMOPS_SECRETS_DIR/db_pass";
sha256sum <"$SWARMOPS_CONFIGS_DIR/app.conf"; stat -c %a "$SWARMOPS_CONFIGS_DIR/app.conf";
echo "$SVC"; echo "$SWARMOPS_SECRETS_DIR"`)
	ctx := context.Background()
	if err := r.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, "files"); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, r, "files"); err != nil {
		t.Fatal(err)
	}
	out, errOut := logs(t, r, "files", LogOptions{})
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 6 {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	want := []string{
		fmt.Sprintf("%x  -", sha256.Sum256(data["sid1"])), "400",
		fmt.Sprintf("%x  -", sha256.Sum256(data["cid1"])), "440",
		"web.1",
	}
	if fmt.Sprint(got[:5]) != fmt.Sprint(want) {
		t.Errorf("the process saw %q, want %q", got[:5], want)
	}
	secretsDir := got[5]
	if on, err := runtime.OnTmpfs(secretsDir); !on || !strings.HasPrefix(secretsDir, sdir+"/") {
		t.Errorf("SWARMOPS_SECRETS_DIR = %s: on tmpfs %v (%v), want a directory on tmpfs under %s", secretsDir, on, err, sdir)
	}

	// Nothing of the data in the task's state on disk.
	err := filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		for _, s := range data {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds secret data %q", path, s)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := r.Remove(ctx, "files"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secretsDir); !os.IsNotExist(err) {
		t.Errorf("the task's secrets after Remove: %v", err)
	}
}

func TestSecretsSurviveAgentRestart(t *testing.T) {
	sdir := secretsDir(t)
	state := t.TempDir()
	ctx := context.Background()
	r := New(state, "node1", Options{SecretsDir: sdir})
	spec, data := filesTask("long", `echo ready; exec sleep 30`)
	if err := r.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Remove(context.Background(), "long") })
	if err := r.Start(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "long", "ready")

	// A restarted agent readies the secrets dir again for a new task; the
	// files of the running one stay.
	fresh := New(state, "node1", Options{SecretsDir: sdir})
	other, _ := filesTask("other", "exit 0")
	if err := fresh.Prepare(ctx, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Remove(context.Background(), "other") })
	b, err := os.ReadFile(filepath.Join(sdir, "node1", "long", "secrets", "db_pass"))
	if err != nil || !bytes.Equal(b, data["sid1"]) {
		t.Errorf("the running task's secret after a restart: %q, %v", b, err)
	}
	if l, _ := fresh.List(ctx); len(l) != 2 {
		t.Errorf("the fresh runtime lists %+v", l)
	}
}

func TestFilesRefused(t *testing.T) {
	ctx := context.Background()
	// No secrets dir: a task with a secret is refused, one without runs.
	r := New(t.TempDir(), "node1")
	spec, _ := filesTask("nodir", "exit 0")
	if err := r.Prepare(ctx, spec); err == nil || !strings.Contains(err.Error(), "no directory for secrets and configs") {
		t.Errorf("Prepare without a secrets dir = %v", err)
	}
	if err := r.Prepare(ctx, runtime.Spec{Task: shTask("plain", "exit 0"), Service: "web"}); err != nil {
		t.Errorf("a task without files: %v", err)
	}

	// Two files of a task with one base name cannot both be found.
	r = New(t.TempDir(), "node1", Options{SecretsDir: secretsDir(t)})
	spec, _ = filesTask("dup", "exit 0")
	spec.Task.Spec.ContainerSpec.Secrets = append(spec.Task.Spec.ContainerSpec.Secrets, &swarm.SecretReference{
		SecretID: "sid2", SecretName: "other", File: &swarm.SecretReferenceFileTarget{Name: "/elsewhere/db_pass", Mode: 0o444},
	})
	spec.Secrets["sid2"] = []byte("x")
	if err := r.Prepare(ctx, spec); err == nil || !strings.Contains(err.Error(), "both become secrets/db_pass") {
		t.Errorf("Prepare with two db_pass = %v", err)
	}
	if l, _ := r.List(ctx); len(l) != 0 {
		t.Errorf("a refused task was recorded: %+v", l)
	}
}
