package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/api"
)

// logsServer runs an agent with one task and serves its LogsHandler; only
// requests carrying the header X-Test-Manager are authorized.
func logsServer(t *testing.T, script, dir string) (*httptest.Server, *fakeDispatcher) {
	t.Helper()
	tp := newTLS(t)
	d := newDispatcher(t, tp)
	state := t.TempDir()
	cleanupTasks(t, state)
	tk := execTask("t1", script)
	tk.Spec.ContainerSpec.Dir = dir
	d.setTask(tk)
	n := startNode(t, tp, state, nodeOpts{managers: []string{d.addr}})
	d.waitState(t, "t1", swarm.TaskStateRunning)
	srv := httptest.NewServer(n.agent.LogsHandler(func(r *http.Request) error {
		if r.Header.Get("X-Test-Manager") == "" {
			return errors.New("only managers may read logs")
		}
		return nil
	}))
	t.Cleanup(srv.Close)
	return srv, d
}

func getLogs(t *testing.T, ctx context.Context, srv *httptest.Server, method string, q url.Values, authorized bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+api.NodeLogsPath+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorized {
		req.Header.Set("X-Test-Manager", "1")
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLogsHandler(t *testing.T) {
	srv, _ := logsServer(t, "echo out; echo err >&2; exec sleep 300", t.TempDir())
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	eventually(t, "both lines in the logs", nil, func() bool {
		res := getLogs(t, ctx, srv, http.MethodGet, url.Values{"task": {"t1"}}, true)
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != multiplexedStream {
			t.Fatalf("status %d content type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		stdout.Reset()
		stderr.Reset()
		if _, err := stdcopy.StdCopy(&stdout, &stderr, res.Body); err != nil {
			t.Fatal(err)
		}
		return stdout.Len() > 0 && stderr.Len() > 0
	})
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q stderr %q, want out and err apart", stdout.String(), stderr.String())
	}

	for _, tc := range []struct {
		name       string
		method     string
		q          url.Values
		authorized bool
		code       int
		msg        string
	}{
		{"unauthorized", http.MethodGet, url.Values{"task": {"t1"}}, false, http.StatusForbidden, "only managers"},
		{"unknown task", http.MethodGet, url.Values{"task": {"t9"}}, true, http.StatusNotFound, "t9"},
		{"no task", http.MethodGet, url.Values{}, true, http.StatusBadRequest, "task parameter"},
		{"bad follow", http.MethodGet, url.Values{"task": {"t1"}, "follow": {"yes please"}}, true, http.StatusBadRequest, "follow"},
		{"bad tail", http.MethodGet, url.Values{"task": {"t1"}, "tail": {"-3"}}, true, http.StatusBadRequest, "tail"},
		{"post", http.MethodPost, url.Values{"task": {"t1"}}, true, http.StatusMethodNotAllowed, "GET"},
	} {
		res := getLogs(t, ctx, srv, tc.method, tc.q, tc.authorized)
		var m struct{ Message string }
		err := json.NewDecoder(res.Body).Decode(&m)
		res.Body.Close()
		if res.StatusCode != tc.code || err != nil || !strings.Contains(m.Message, tc.msg) {
			t.Errorf("%s: %d %q (%v), want %d and a message with %q", tc.name, res.StatusCode, m.Message, err, tc.code, tc.msg)
		}
	}
}

// A followed stream delivers each line as the task writes it, while the
// task still runs.
func TestLogsFollow(t *testing.T) {
	work := t.TempDir()
	srv, _ := logsServer(t, "echo first; while [ ! -e go ]; do sleep 0.02; done; echo second; exec sleep 300", work)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // a stuck stream fails, not hangs
	defer cancel()
	res := getLogs(t, ctx, srv, http.MethodGet, url.Values{"task": {"t1"}, "follow": {"1"}, "tail": {"all"}}, true)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	pr, pw := io.Pipe()
	go func() { _, err := stdcopy.StdCopy(pw, io.Discard, res.Body); pw.CloseWithError(err) }()
	lines := bufio.NewScanner(pr)
	next := func(want string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended before %q: %v", want, lines.Err())
		}
		if got := lines.Text(); got != want {
			t.Fatalf("line %q, want %q", got, want)
		}
	}
	next("first")
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	next("second")
}
