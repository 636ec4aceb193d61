package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/store"
)

// waitForStore waits, woken by every entry st applies, until cond holds.
func waitForStore(t *testing.T, st *store.Store, within time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		_, changed, _ := st.Events(st.LastIndex())
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFollowerForwardsWritesAndReadsThemBack(t *testing.T) {
	h := newHarness(t, 2)
	leader, follower := h.managers[0], h.managers[1]
	cert := h.clientCert()
	ctx := context.Background()
	cli := h.docker(follower, cert)

	r, err := cli.ServiceCreate(ctx, minimalSpec("web", "nginx"), swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create through the follower: %v", err)
	}
	// Read back from the follower at once.
	svc, _, err := cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if err != nil || svc.ID != r.ID {
		t.Fatalf("read back from the follower: %v", err)
	}
	// The leader ran the handler, for the client, via the follower.
	logs := leader.logs.String()
	if !strings.Contains(logs, "caller=cli0000000000000000000000 role=swarmops-client join=false via="+follower.id) {
		t.Errorf("leader's audit line does not name the caller and the follower:\n%s", logs)
	}
	if strings.Contains(follower.logs.String(), "api write") {
		t.Errorf("the follower handled the write itself:\n%s", follower.logs.String())
	}
	if strings.Contains(follower.logs.String(), "not yet applied") {
		t.Errorf("an up-to-date follower waited in vain:\n%s", follower.logs.String())
	}
	// Errors come back unchanged.
	_, err = cli.ServiceCreate(ctx, minimalSpec("web", "nginx"), swarm.ServiceCreateOptions{})
	wantErr(t, err, "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")
	// Oversized bodies are refused before they reach the leader.
	status, body, _ := h.raw(follower, cert, "POST", "/v1.41/configs/create", `{"Name":"big","Data":"`+strings.Repeat("A", 5<<20)+`"}`)
	wantError(t, status, body, http.StatusRequestEntityTooLarge, "request body too large")
}

// A lagging follower waits for its store to reach the leader's answer,
// for ForwardWait at most.
func TestLaggingFollowerWaitsForTheWrite(t *testing.T) {
	h := newHarness(t, 2)
	leader, follower := h.managers[0], h.managers[1]
	follower.srv.cfg.ForwardWait = 200 * time.Millisecond
	cli := h.docker(follower, h.clientCert())
	ctx := context.Background()
	h.c.hold(follower.id)
	if _, err := cli.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "c"}, Data: []byte("x")}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.Contains(follower.logs.String(), "forwarded write not yet applied here") {
		t.Errorf("the follower did not wait for the entry:\n%s", follower.logs.String())
	}
	hasConfig := func(name string) bool {
		return follower.store.View(func(tx store.ReadTx) error { _, err := tx.ConfigByName(name); return err }) == nil
	}
	if hasConfig("c") {
		t.Fatal("a held follower already has the write: the test cannot tell waiting from not waiting")
	}
	// Released while a second write waits: the answer comes once the
	// follower has applied it.
	follower.srv.cfg.ForwardWait = time.Minute
	done := make(chan error, 1)
	go func() {
		_, err := cli.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "d"}, Data: []byte("y")})
		done <- err
	}()
	waitForStore(t, leader.store, 10*time.Second, "the leader to commit the second create", func() bool {
		return leader.store.View(func(tx store.ReadTx) error { _, err := tx.ConfigByName("d"); return err }) == nil
	})
	h.c.release(follower.id)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second create: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the forwarded create never returned")
	}
	if !hasConfig("d") {
		t.Error("the forwarded create returned before the follower's store held it")
	}
}

func TestNoLeaderAnswers503(t *testing.T) {
	h := newHarness(t, 2)
	cert := h.clientCert()
	h.c.setLeader("")
	for _, m := range h.managers {
		cli := h.docker(m, cert)
		_, err := cli.ServiceCreate(context.Background(), minimalSpec("web", "nginx"), swarm.ServiceCreateOptions{})
		wantErr(t, err, "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")
		status, body, _ := h.raw(m, cert, "DELETE", "/v1.41/networks/x", nil)
		wantError(t, status, body, http.StatusServiceUnavailable, "does not have a leader")
		// Reads are the leader's too, as in Swarm: without one, they fail
		// the same way rather than answer from a state that may be stale.
		_, err = cli.NodeList(context.Background(), swarm.NodeListOptions{})
		wantErr(t, err, "The swarm does not have a leader.")
	}
}

// A proposal that fails because leadership moved is a 503, not a 500.
func TestLeadershipLostDuringProposal(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	m.srv.raft = &losingRaft{fakeRaft: m.raft}
	status, body, _ := h.raw(m, h.clientCert(), "POST", "/configs/create", `{"Name":"c","Data":"eA=="}`)
	wantError(t, status, body, http.StatusServiceUnavailable, "does not have a leader")
}

type losingRaft struct {
	*fakeRaft
	mu   sync.Mutex
	lost bool
}

func (l *losingRaft) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.lost
}

func (l *losingRaft) Leader() (string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost {
		return "", ""
	}
	return l.fakeRaft.Leader()
}

func (l *losingRaft) Propose(context.Context, []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = true
	return 0, errors.New("leadership lost while committing")
}

func TestForwardingFailures(t *testing.T) {
	h := newHarness(t, 2)
	follower := h.managers[1]
	cert := h.clientCert()
	// A request a manager forwarded, arriving at a manager that is not the
	// leader either, is not forwarded again.
	req, _ := http.NewRequest(http.MethodPost, "https://"+follower.addr+"/v1.41/configs/create", strings.NewReader(`{"Name":"c","Data":"eA=="}`))
	req.Header.Set(headerCaller, "swarmops-client cli0000000000000000000000")
	req.Header.Set(headerForwardedBy, h.managers[0].id)
	tr := h.pki.transport(h.pki.manager[h.managers[0].id])
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Message string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e.Message, "leadership is moving") {
		t.Errorf("re-forward: %d %q", resp.StatusCode, e.Message)
	}

	// The leader cannot be reached.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h.c.setAddr(h.managers[0].id, dead)
	status, body, _ := h.raw(follower, cert, "POST", "/v1.41/configs/create", `{"Name":"c","Data":"eA=="}`)
	wantError(t, status, body, http.StatusServiceUnavailable, "could not reach the swarm leader")
}

type fakeJoiner struct {
	mu  sync.Mutex
	got []JoinRequest
	err error
}

func (j *fakeJoiner) Join(_ context.Context, req JoinRequest) (JoinResponse, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.got = append(j.got, req)
	if j.err != nil {
		return JoinResponse{}, j.err
	}
	return JoinResponse{NodeID: "newnode000000000000000000", Role: swarm.NodeRoleWorker, Certificate: "CERT", CACert: "CA"}, nil
}

func TestJoinOverAJoinConnectionThroughAFollower(t *testing.T) {
	h := newHarness(t, 2)
	leader, follower := h.managers[0], h.managers[1]
	joiner := &fakeJoiner{}
	leader.srv.cfg.Joiner = joiner
	follower.srv.cfg.Joiner = &fakeJoiner{err: errors.New("the follower must not admit nodes itself")}
	pinned, err := ca.PinnedByDigest(h.pki.root.Digest())
	if err != nil {
		t.Fatal(err)
	}
	join := func(body string) (int, string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: pinned.Clone()}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("https://"+follower.addr+"/swarmops/v1/join", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	status, body := join(`{"token":"SWMOPS-1-x-y","csr":"PEM","hostname":"w9","advertise":"127.0.0.9:4242"}`)
	if status != http.StatusOK || !strings.Contains(body, `"node_id":"newnode000000000000000000"`) {
		t.Fatalf("join: %d %s", status, body)
	}
	joiner.mu.Lock()
	if len(joiner.got) != 1 || joiner.got[0].Hostname != "w9" || joiner.got[0].CSR != "PEM" {
		t.Errorf("joiner got %+v", joiner.got)
	}
	joiner.mu.Unlock()
	if !strings.Contains(leader.logs.String(), "node joined") {
		t.Errorf("join not logged on the leader")
	}
	status, body = join(`{"token":"","csr":"PEM"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "a join token is required") {
		t.Errorf("join without token: %d %s", status, body)
	}
	joiner.mu.Lock()
	joiner.err = ca.ErrTokenRejected
	joiner.mu.Unlock()
	status, body = join(`{"token":"SWMOPS-1-x-y","csr":"PEM"}`)
	if status != http.StatusForbidden || !strings.Contains(body, "join token rejected") {
		t.Errorf("rejected token: %d %s", status, body)
	}
	joiner.mu.Lock()
	joiner.err = NewError(http.StatusConflict, "hostname taken")
	joiner.mu.Unlock()
	status, body = join(`{"token":"SWMOPS-1-x-y","csr":"PEM"}`)
	if status != http.StatusConflict || !strings.Contains(body, "hostname taken") {
		t.Errorf("joiner's own status: %d %s", status, body)
	}
}
