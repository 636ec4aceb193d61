package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/e2e/dockertruth"
)

// engine talks to the Docker engine's API over its unix socket. The tests
// use the docker CLI for what is under test (stack deploy and rm) and the
// API directly for everything around it, which is faster than a CLI call
// per object and needs no output parsing.
type engine struct {
	socket string
	http   *http.Client
}

// findEngine returns the engine the docker CLI would use, or an error
// saying what is missing.
func findEngine(ctx context.Context) (*engine, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("no docker CLI on PATH: %w", err)
	}
	socket := "/var/run/docker.sock"
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		u, err := url.Parse(host)
		if err != nil || u.Scheme != "unix" {
			return nil, fmt.Errorf("DOCKER_HOST=%s: only a unix socket is supported", host)
		}
		socket = u.Path
	}
	e := &engine{socket: socket, http: &http.Client{Transport: unixTransport(socket)}}
	if err := e.call(ctx, http.MethodGet, "/_ping", nil, nil); err != nil {
		return nil, fmt.Errorf("no Docker engine answers on %s: %w", socket, err)
	}
	return e, nil
}

func unixTransport(socket string) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
}

// call sends body (if any) as JSON to the engine and decodes the answer
// into out (if any); see callJSON.
func (e *engine) call(ctx context.Context, method, path string, body, out any) error {
	if err := callJSON(ctx, e.http, method, "http://docker"+path, body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// listLabelled returns the raw objects of kind (services, networks, secrets,
// configs) that carry label (KEY or KEY=VALUE).
func (e *engine) listLabelled(ctx context.Context, kind, label string) ([]map[string]any, error) {
	filters, err := json.Marshal(map[string]map[string]bool{"label": {label: true}})
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	err = e.call(ctx, http.MethodGet, "/"+kind+"?filters="+url.QueryEscape(string(filters)), nil, &out)
	return out, err
}

// names maps the ID of every network, secret and config on the engine to
// its name.
func (e *engine) names(ctx context.Context) (map[string]string, error) {
	ids := map[string]string{}
	for _, kind := range []string{"networks", "secrets", "configs"} {
		var list []map[string]any
		if err := e.call(ctx, http.MethodGet, "/"+kind, nil, &list); err != nil {
			return nil, err
		}
		for _, o := range list {
			id := objectID(o)
			name, _ := o["Name"].(string)
			if spec, ok := o["Spec"].(map[string]any); ok {
				name, _ = spec["Name"].(string)
			}
			if id != "" && name != "" {
				ids[id] = name
			}
		}
	}
	return ids, nil
}

// The label that marks the external objects the test creates, so a later
// run can remove what an interrupted one left behind.
const (
	externalLabel = "io.swarmops.e2e"
	externalValue = "dockertruth"
)

// createExternal creates an object a stack declares external.
func (e *engine) createExternal(ctx context.Context, x dockertruth.External) error {
	labels := map[string]string{externalLabel: externalValue}
	switch x.Kind {
	case "network":
		return e.call(ctx, http.MethodPost, "/networks/create", map[string]any{
			"Name": x.Name, "Driver": "overlay", "Labels": labels,
		}, nil)
	case "secret", "config":
		data := base64.StdEncoding.EncodeToString([]byte("placeholder " + x.Kind + " " + x.Name + "\n"))
		return e.call(ctx, http.MethodPost, "/"+x.Kind+"s/create", map[string]any{
			"Name": x.Name, "Labels": labels, "Data": data,
		}, nil)
	}
	return fmt.Errorf("external %s %s: unknown kind", x.Kind, x.Name)
}

// removeLabelled removes every network, secret and config carrying label.
func (e *engine) removeLabelled(ctx context.Context, label string) error {
	var errs []error
	for _, kind := range []string{"secrets", "configs", "networks"} {
		list, err := e.listLabelled(ctx, kind, label)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range list {
			if err := e.call(ctx, http.MethodDelete, "/"+kind+"/"+objectID(o), nil, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// waitGone polls until no service, network, secret or config carries the
// stack's namespace label, or ctx ends. Swarm removes a service's tasks
// asynchronously, and `docker stack rm` fails to remove a network a dying
// task still holds; so each round deletes what is left once the services
// are gone, and a delete the engine refuses is tried again next round.
func (e *engine) waitGone(ctx context.Context, namespace string) error {
	label := api.LabelNamespace + "=" + namespace
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		left := 0
		var lastErr error
		services := 0
		for _, kind := range []string{"services", "networks", "secrets", "configs"} {
			list, err := e.listLabelled(ctx, kind, label)
			if err != nil {
				lastErr = err
			}
			left += len(list)
			if kind == "services" {
				services = len(list)
				continue
			}
			if services > 0 {
				continue
			}
			for _, o := range list {
				if err := e.call(ctx, http.MethodDelete, "/"+kind+"/"+objectID(o), nil, nil); err != nil {
					lastErr = err
				}
			}
		}
		if left == 0 && lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack %s: %d objects still there: %w (last error: %v)", namespace, left, ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// objectID reads the ID of a listed object; networks spell it "Id".
func objectID(o map[string]any) string {
	if id, ok := o["ID"].(string); ok {
		return id
	}
	id, _ := o["Id"].(string)
	return id
}

// request is one API call the docker CLI made through the recorder.
type request struct {
	Method, Path string
	Status       int
	Body         []byte
}

// recorder is an HTTP proxy between the docker CLI and the engine that
// keeps every request body: what the CLI sends is Docker's conversion
// exactly, before the engine adds its defaults.
type recorder struct {
	socket string
	server *http.Server

	mu       sync.Mutex
	reqs     []*request
	adjusted []string
}

func startRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	dir, err := os.MkdirTemp("", "dockertruth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &recorder{socket: dir + "/docker.sock"}
	ln, err := net.Listen("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: "docker"}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			r.adjust(pr.Out)
		},
		Transport: unixTransport(upstream),
	}
	r.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		// Recorded before it is forwarded: the CLI may exit as soon as it
		// has the answer, and the test then takes what was recorded.
		rr := &request{Method: req.Method, Path: req.URL.Path, Body: body}
		r.mu.Lock()
		r.reqs = append(r.reqs, rr)
		r.mu.Unlock()
		proxy.ServeHTTP(&statusWriter{ResponseWriter: w, rec: r, req: rr}, req)
	})}
	go func() { _ = r.server.Serve(ln) }()
	t.Cleanup(func() { r.server.Close() })
	return r
}

// statusWriter notes the status of a recorded request; the header goes
// out before the body, so the status is in place before the CLI can act on
// the answer.
type statusWriter struct {
	http.ResponseWriter
	rec *recorder
	req *request
}

func (w *statusWriter) WriteHeader(code int) {
	w.rec.mu.Lock()
	w.req.Status = code
	w.rec.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// adjust lets the engine accept what only its lack of plugins would make
// it refuse, so that the CLI goes on to convert the rest of the stack: a
// network asking for an IPAM driver other than the built-in one gets the
// built-in one (this engine has no IPAM plugins, and looking one up takes
// the daemon 15 seconds before it fails). The recorded body is the CLI's
// own; each change is noted in Truth.Adjusted.
func (r *recorder) adjust(out *http.Request) {
	if out.Method != http.MethodPost || out.Body == nil {
		return
	}
	m := createPath.FindStringSubmatch(out.URL.Path)
	if m == nil || m[2] != "networks" {
		return
	}
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return
	}
	var req map[string]any
	if json.Unmarshal(body, &req) == nil {
		if ipam, ok := req["IPAM"].(map[string]any); ok {
			if d, _ := ipam["Driver"].(string); d != "" && d != "default" {
				ipam["Driver"] = "default"
				if data, err := json.Marshal(req); err == nil {
					body = data
					r.mu.Lock()
					r.adjusted = append(r.adjusted, fmt.Sprintf("networks.%v.IPAM.Driver: %q sent, %q forwarded (the engine has no IPAM plugin)", req["Name"], d, "default"))
					r.mu.Unlock()
				}
			}
		}
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// take returns the requests recorded since the last take.
func (r *recorder) take() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]request, len(r.reqs))
	for i, rr := range r.reqs {
		out[i] = *rr
	}
	r.reqs = nil
	return out
}

// takeAdjusted returns the adjustments made since the last call.
func (r *recorder) takeAdjusted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.adjusted
	r.adjusted = nil
	return out
}

// createPath matches the API calls that create a stack's objects, with or
// without the version prefix.
var createPath = regexp.MustCompile(`^(?:/v([0-9.]+))?/(services|networks|secrets|configs)/create$`)

// docker runs the docker CLI in dir with exactly env (plus what the CLI
// itself needs), and returns its stdout, stderr and error.
func docker(ctx context.Context, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Env = env
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
