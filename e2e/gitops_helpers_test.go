package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// The git reconciler's tests follow a bare repository on this machine,
// pushed to with the git CLI from a work clone, and read the outcome from
// `swarmops status`, the leader's report and stack records, the docker
// CLI and the engine's own containers.

// gitopsTimeout bounds a wait on the reconciler: a poll, a rollout and
// its final monitor window, or a failover and the rest of a rollout.
const gitopsTimeout = 90 * time.Second

// requireGit fails under CI=true and skips elsewhere when the git CLI is
// missing.
func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the git CLI is required (CI=true): %v", err)
		}
		t.Skipf("no git CLI on PATH (%v): the gitops tests push to a repository with it", err)
	}
}

// gitRepo is a bare repository (the remote the cluster follows, branch
// main) and a work tree that commits and pushes to it.
type gitRepo struct {
	t          *testing.T
	Bare, Work string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	requireGit(t)
	dir := t.TempDir()
	g := &gitRepo{t: t, Bare: filepath.Join(dir, "origin.git"), Work: filepath.Join(dir, "work")}
	g.run(dir, "init", "-q", "--bare", "--initial-branch=main", g.Bare)
	g.run(dir, "init", "-q", "--initial-branch=main", g.Work)
	g.run(g.Work, "remote", "add", "origin", g.Bare)
	return g
}

// run runs git in dir with no configuration of the machine's user.
func (g *gitRepo) run(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@e"}, args...)...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write puts content at path (slash-separated, relative to the work tree).
func (g *gitRepo) write(path, content string) {
	g.t.Helper()
	p := filepath.Join(g.Work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// commitPush commits everything in the work tree, pushes it to main and
// returns the new head.
func (g *gitRepo) commitPush(msg string) string {
	g.t.Helper()
	g.run(g.Work, "add", "-A")
	g.run(g.Work, "commit", "-q", "-m", msg)
	return g.push()
}

// revertPush reverts commit, pushes and returns the new head.
func (g *gitRepo) revertPush(commit string) string {
	g.t.Helper()
	g.run(g.Work, "revert", "--no-edit", commit)
	return g.push()
}

func (g *gitRepo) push() string {
	g.t.Helper()
	g.run(g.Work, "push", "-q", "origin", "main")
	return g.run(g.Work, "rev-parse", "HEAD")
}

// gitReport is the leader's report (GET /swarmops/v1/report) through via.
func (c *testCluster) gitReport(via *node) (api.Report, error) {
	var rep api.Report
	err := c.call(context.Background(), via, http.MethodGet, "/swarmops/v1/report", nil, &rep)
	return rep, err
}

func stackOf(rep api.Report, name string) (api.StackReport, bool) {
	for _, s := range rep.Stacks {
		if s.Name == name {
			return s, true
		}
	}
	return api.StackReport{}, false
}

// waitStack polls the report through via until check accepts stack name,
// and returns what it accepted. On timeout the failure shows the last
// report of the stack and what `swarmops status NAME` prints.
func (c *testCluster) waitStack(t *testing.T, via *node, name, what string, check func(api.Report, api.StackReport) error) (api.Report, api.StackReport) {
	t.Helper()
	var rep api.Report
	var st api.StackReport
	err := pollErr(gitopsTimeout, func() error {
		var err error
		if rep, err = c.gitReport(via); err != nil {
			return err
		}
		var ok bool
		if st, ok = stackOf(rep, name); !ok {
			return fmt.Errorf("the report has no stack %s", name)
		}
		return check(rep, st)
	})
	if err != nil {
		out, errOut, code := c.swarmopsCLI(t, via, "status", name)
		t.Fatalf("waiting for stack %s %s: %v\nlast report: %s\n`swarmops status %s` (exit %d):\n%s%s", name, what, err, jsonText(rep), name, code, out, errOut)
	}
	return rep, st
}

// syncedAt accepts a stack that is Synced with commit applied and the
// report without drift or poll error: what `swarmops status` exits 0 for.
// It gives up at once when commit was attempted and ended Failed or
// Degraded, which only a new commit changes.
func syncedAt(commit string) func(api.Report, api.StackReport) error {
	return func(rep api.Report, st api.StackReport) error {
		switch {
		case st.LastAttempted != nil && st.LastAttempted.Commit == commit && (st.Status == api.StackFailed || st.Status == api.StackDegraded):
			return permanent(fmt.Errorf("%s ended %s: %s", commit, st.Status, st.Message))
		case rep.PollError != "" || rep.Error != "":
			return fmt.Errorf("poll error %q, error %q", rep.PollError, rep.Error)
		case st.Status != api.StackSynced:
			return fmt.Errorf("status %s: %s", st.Status, st.Message)
		case st.Applied == nil || st.Applied.Commit != commit:
			return fmt.Errorf("applied %s, want %s", revText(st.Applied), commit)
		case len(st.Drift) > 0:
			return fmt.Errorf("drift %s", jsonText(st.Drift))
		}
		return nil
	}
}

func revText(r *api.Revision) string {
	if r == nil {
		return "nothing"
	}
	return r.Commit
}

func jsonText(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// swarmopsCLI runs the swarmops CLI against the cluster through via, as a
// user who ran `eval "$(swarmops env)"`, and returns its stdout, stderr
// and exit code.
func (c *testCluster) swarmopsCLI(t *testing.T, via *node, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(c.dockerEnv(via), "SWARMOPS_DATA_DIR=")
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("swarmops %s via %s: no answer in %s\n%s%s", strings.Join(args, " "), via.Name, dockerTimeout, o.String(), e.String())
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("swarmops %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// checkStatusExit runs `swarmops status NAME --json` and checks its exit
// code; it returns the stack's report as printed.
func (c *testCluster) checkStatusExit(t *testing.T, via *node, name string, want int) api.StackReport {
	t.Helper()
	out, errOut, code := c.swarmopsCLI(t, via, "status", name, "--json")
	var rep api.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("swarmops status %s --json (exit %d) printed no report: %v\n%s%s", name, code, err, out, errOut)
	}
	st, ok := stackOf(rep, name)
	if !ok || len(rep.Stacks) != 1 {
		t.Fatalf("swarmops status %s --json printed %d stacks, want %s alone:\n%s", name, len(rep.Stacks), name, out)
	}
	if code != want {
		t.Errorf("swarmops status %s --json exited %d, want %d:\n%s%s", name, code, want, out, errOut)
	}
	return st
}

// stackRecord is the stack's record, GET /swarmops/v1/stacks/NAME.
func (c *testCluster) stackRecord(t *testing.T, via *node, name string) api.Stack {
	t.Helper()
	var st api.Stack
	if err := c.call(context.Background(), via, http.MethodGet, "/swarmops/v1/stacks/"+url.PathEscape(name), nil, &st); err != nil {
		t.Fatalf("stack record %s: %v", name, err)
	}
	return st
}

// deploymentsOf are the entries of history for commit.
func deploymentsOf(history []api.Deployment, commit string) []api.Deployment {
	var out []api.Deployment
	for _, d := range history {
		if d.Commit == commit {
			out = append(out, d)
		}
	}
	return out
}

// historyText is a stack's history one deployment a line, as
// `swarmops stack history` shows it.
func historyText(history []api.Deployment) string {
	var b strings.Builder
	for _, d := range history {
		fmt.Fprintf(&b, "  %s %s %s %s %s\n", d.Commit, d.Trigger, d.Outcome, d.Digest, d.Detail)
	}
	return b.String()
}

// service is GET /services/NAME through via.
func (c *testCluster) service(t *testing.T, via *node, name string) swarm.Service {
	t.Helper()
	var svc swarm.Service
	if err := c.call(context.Background(), via, http.MethodGet, "/v1.41/services/"+url.PathEscape(name), nil, &svc); err != nil {
		t.Fatalf("inspect service %s: %v", name, err)
	}
	return svc
}

func serviceImage(svc swarm.Service) string {
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		return cs.Image
	}
	return ""
}

func serviceReplicas(svc swarm.Service) uint64 {
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return *r.Replicas
	}
	return 0
}

// runningTasks are the tasks of service svc desired running.
func (c *testCluster) runningTasks(t *testing.T, via *node, svc string) []swarm.Task {
	t.Helper()
	f, err := json.Marshal(map[string][]string{"service": {svc}, "desired-state": {"running"}})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []swarm.Task
	if err := c.call(context.Background(), via, http.MethodGet, "/v1.41/tasks?filters="+url.QueryEscape(string(f)), nil, &tasks); err != nil {
		t.Fatalf("tasks of %s: %v", svc, err)
	}
	return tasks
}

// secretNames lists the names of the cluster's secrets that start with
// prefix.
func (c *testCluster) secretNames(t *testing.T, via *node, prefix string) []string {
	t.Helper()
	var secrets []swarm.Secret
	if err := c.call(context.Background(), via, http.MethodGet, "/v1.41/secrets", nil, &secrets); err != nil {
		t.Fatalf("list secrets: %v", err)
	}
	var out []string
	for _, s := range secrets {
		if strings.HasPrefix(s.Spec.Name, prefix) {
			out = append(out, s.Spec.Name)
		}
	}
	return out
}

// versionedSecret is the name the reconciler gives secret name of stack
// when its file holds data: the name, then the content's digest.
func versionedSecret(stack, name, data string) string {
	sum := sha256.Sum256([]byte(data))
	return stack + "_" + name + "-" + hex.EncodeToString(sum[:])[:10]
}

// clientName is the name in the CLI's client certificate: who the store
// records as the writer of what the docker CLI changes.
func (c *testCluster) clientName(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.certPath, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s/cert.pem holds no PEM block", c.certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s/cert.pem: %v", c.certPath, err)
	}
	return cert.Subject.CommonName
}

// waitPolls waits until the reconciler has asked the remote for its head
// n more times.
func (c *testCluster) waitPolls(t *testing.T, via *node, n int) {
	t.Helper()
	rep, err := c.gitReport(via)
	if err != nil {
		t.Fatal(err)
	}
	last, seen := rep.LastPoll, 0
	poll(t, gitopsTimeout, fmt.Sprintf("%d more polls of the repository", n), func() error {
		rep, err := c.gitReport(via)
		if err != nil {
			return err
		}
		if rep.LastPoll.After(last) {
			seen, last = seen+1, rep.LastPoll
		}
		if seen < n {
			return fmt.Errorf("%d polls seen, the last at %s", seen, last.Format(time.RFC3339Nano))
		}
		return nil
	})
}

// containerLogs is what a container printed, the engine's stream framing
// left in (each line arrives whole in one frame).
func (tc *taskCluster) containerLogs(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+id+"/logs?stdout=1&stderr=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tc.eng.http.Do(req)
	if err != nil {
		t.Fatalf("logs of container %s: %v", id, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("logs of container %s: HTTP %d, %v: %s", id, resp.StatusCode, err, data)
	}
	return string(data)
}

// githubPush is the body of a GitHub push delivery.
func githubPush(ref, after string) []byte {
	b, _ := json.Marshal(map[string]string{"ref": ref, "after": after})
	return b
}

// postWebhook posts a GitHub push delivery to the webhook listener at
// addr, signed with key, and returns the answer's status and body.
func postWebhook(t *testing.T, addr string, key, body []byte) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST webhook to %s: %v", addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}
