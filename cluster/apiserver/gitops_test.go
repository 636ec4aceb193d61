package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// fakeGitOps records the syncs asked of it.
type fakeGitOps struct {
	mu    sync.Mutex
	syncs []string
}

func (f *fakeGitOps) Sync(_ context.Context, stack string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, stack+map[bool]string{true: "!", false: ""}[force])
	return nil
}

func (f *fakeGitOps) Report(context.Context) (api.Report, error) {
	return api.Report{Head: "c0ffee", Stacks: []api.StackReport{{Name: "shop", Status: api.StackSynced}}}, nil
}

// inProcess sends a request to m's API in process, as the reconciler.
func inProcessCall(t *testing.T, m *manager, method, path string, body any) (int, []byte) {
	t.Helper()
	js, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://swarmops.invalid"+path, bytes.NewReader(js))
	resp, err := m.srv.InProcess(Caller{NodeID: "swarmops-reconciler", Role: ca.RoleManager}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func TestStackRecordsAndOperatorActions(t *testing.T) {
	g := &fakeGitOps{}
	h := newHarnessWith(t, 2, func(c *Config) { c.GitOps = g })
	leader, follower := h.managers[0], h.managers[1]
	cli := h.clientCert()

	rec := api.Stack{Name: "shop", Status: api.StackSynced,
		Applied: &api.Revision{Commit: "c2", Digest: "d2"},
		History: []api.Deployment{
			{Revision: api.Revision{Commit: "c2", Digest: "d2"}, Outcome: api.OutcomeSucceeded},
			{Revision: api.Revision{Commit: "c1bad", Digest: "d1b"}, Outcome: api.OutcomeRolledBack},
			{Revision: api.Revision{Commit: "c1", Digest: "d1"}, Outcome: api.OutcomeSucceeded},
		},
		Quarantined: []api.Revision{{Commit: "c1bad", Digest: "d1b"}},
	}
	// Only the reconciler writes records.
	code, body, _ := h.raw(leader, cli, "POST", "/swarmops/v1/stacks/shop/record?version=0", rec)
	wantError(t, code, body, http.StatusNotFound, "page not found")
	if code, body := inProcessCall(t, leader, "POST", "/swarmops/v1/stacks/shop/record?version=0", rec); code != http.StatusOK {
		t.Fatalf("reconciler create: %d %s", code, body)
	}
	if code, body := inProcessCall(t, leader, "POST", "/swarmops/v1/stacks/shop/record?version=0", rec); code != http.StatusConflict {
		t.Errorf("second create at version 0: %d %s, want 409 out of sequence", code, body)
	}
	var writer store.Writer
	_ = leader.store.View(func(tx store.ReadTx) error {
		st, err := tx.StackByName("shop")
		if err == nil {
			writer, err = tx.Writer(store.TableStacks, st.ID)
		}
		return err
	})
	if writer.By != "swarmops-reconciler" {
		t.Errorf("record written by %q, want the reconciler", writer.By)
	}

	read := func() api.Stack {
		t.Helper()
		var st api.Stack
		code, body, _ := h.raw(follower, cli, "GET", "/swarmops/v1/stacks/shop", nil)
		if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
			t.Fatalf("inspect: %d %s", code, body)
		}
		return st
	}
	// Retry marks the newest quarantined digest (through a follower).
	if code, body, _ := h.raw(follower, cli, "POST", "/swarmops/v1/stacks/shop/retry", nil); code != http.StatusOK {
		t.Fatalf("retry: %d %s", code, body)
	}
	if st := read(); st.Retry != "d1b" {
		t.Errorf("after retry: Retry = %q, want d1b", st.Retry)
	}
	// Rollback without --to: the newest good revision other than applied.
	if code, body, _ := h.raw(leader, cli, "POST", "/swarmops/v1/stacks/shop/rollback", nil); code != http.StatusOK {
		t.Fatalf("rollback: %d %s", code, body)
	}
	st := read()
	if st.Pin == nil || st.Pin.Revision.Commit != "c1" || st.Pin.By != "cli0000000000000000000000" {
		t.Errorf("after rollback: pin = %+v, want c1 by the client", st.Pin)
	}
	code, body, _ = h.raw(leader, cli, "POST", "/swarmops/v1/stacks/shop/rollback?to=c1bad", nil)
	wantError(t, code, body, http.StatusBadRequest, "no successful deployment of a commit starting with")
	if code, body, _ := h.raw(leader, cli, "POST", "/swarmops/v1/stacks/shop/resume", nil); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	if st := read(); st.Pin != nil {
		t.Errorf("after resume: pin = %+v", st.Pin)
	}
	code, body, _ = h.raw(leader, cli, "POST", "/swarmops/v1/stacks/shop/resume", nil)
	wantError(t, code, body, http.StatusConflict, "not suspended")
	code, body, _ = h.raw(leader, cli, "POST", "/swarmops/v1/stacks/nope/retry", nil)
	wantError(t, code, body, http.StatusNotFound, "stack nope not found")

	// Each operator action woke the reconciler for its stack; sync asks too.
	if code, body, _ := h.raw(follower, cli, "POST", "/swarmops/v1/sync?stack=shop&force=1", nil); code != http.StatusAccepted {
		t.Fatalf("sync: %d %s", code, body)
	}
	g.mu.Lock()
	got := strings.Join(g.syncs, ",")
	g.mu.Unlock()
	if got != "shop,shop,shop,shop!" {
		t.Errorf("syncs = %q, want one per action and the forced sync", got)
	}
	code, body, _ = h.raw(follower, cli, "GET", "/swarmops/v1/report", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"head":"c0ffee"`) {
		t.Errorf("report: %d %s", code, body)
	}
}

func TestSetRepoKeepsCredentialsAsSecrets(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	cli := h.clientCert()
	code, body, _ := h.raw(m, cli, "POST", "/swarmops/v1/repo", RepoRequest{})
	wantError(t, code, body, http.StatusBadRequest, "repository URL is empty")
	req := RepoRequest{Source: api.GitSource{URL: "https://git.example.com/ops.git", Branch: "main", Path: "stacks"}, Credentials: []byte(`{"token":"s3cret"}`), WebhookSecret: []byte("hook")}
	if code, body, _ := h.raw(m, cli, "POST", "/swarmops/v1/repo", req); code != http.StatusOK {
		t.Fatalf("set repo: %d %s", code, body)
	}
	// Again, with a new token: the secret is replaced, not duplicated.
	req.Credentials = []byte(`{"token":"n3w"}`)
	if code, body, _ := h.raw(m, cli, "POST", "/swarmops/v1/repo", req); code != http.StatusOK {
		t.Fatalf("set repo again: %d %s", code, body)
	}
	_ = m.store.View(func(tx store.ReadTx) error {
		c, err := tx.Cluster()
		if err != nil {
			t.Fatal(err)
		}
		if c.Source == nil || c.Source.URL != req.Source.URL || c.Source.AuthRef != SecretGitCredentials {
			t.Errorf("source = %+v, want the URL with its credentials referenced", c.Source)
		}
		sec, err := tx.SecretByName(SecretGitCredentials)
		if err != nil {
			t.Fatalf("credentials secret: %v", err)
		}
		if bytes.Contains(sec.Spec.Data, []byte("n3w")) || sec.Spec.Labels[LabelInternal] != "true" {
			t.Errorf("credentials secret = %+v, want sealed data and the internal label", sec.Spec)
		}
		secrets, _ := tx.Secrets()
		if len(secrets) != 2 {
			t.Errorf("%d secrets, want the credentials and the webhook secret once each", len(secrets))
		}
		return nil
	})
	code, body, _ = h.raw(m, cli, "GET", "/swarm", nil)
	if code != http.StatusOK || strings.Contains(string(body), "n3w") || strings.Contains(string(body), "s3cret") {
		t.Errorf("a token shows in the API: %d %s", code, body)
	}
}

// TestInProcessSyncOnAFollowerReachesTheLeader: a webhook received by a
// follower asks for a sync in process; the write goes to the leader's
// reconciler.
func TestInProcessSyncOnAFollowerReachesTheLeader(t *testing.T) {
	byNode := map[string]*fakeGitOps{}
	h := newHarnessWith(t, 2, func(c *Config) {
		g := &fakeGitOps{}
		byNode[c.NodeID] = g
		c.GitOps = g
	})
	leader, follower := h.managers[0], h.managers[1]
	req, _ := http.NewRequest("POST", "http://swarmops.invalid/swarmops/v1/sync?stack=shop", nil)
	resp, err := follower.srv.InProcess(Caller{NodeID: "webhook", Role: ca.RoleClient}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		t.Fatalf("sync through the follower: %d %s", resp.StatusCode, buf.String())
	}
	if got := byNode[leader.id].syncs; len(got) != 1 || got[0] != "shop" {
		t.Errorf("leader's reconciler got %q, want one sync of shop", got)
	}
	if got := byNode[follower.id].syncs; len(got) != 0 {
		t.Errorf("follower's reconciler got %q, want none", got)
	}
}
