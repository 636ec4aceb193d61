package manager

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
)

const (
	// agentDialTimeout bounds reaching an agent and the TLS handshake: a
	// node that does not answer must not hold a `docker service logs`.
	agentDialTimeout = 10 * time.Second
	// agentHeaderTimeout bounds the wait for the agent's answer when not
	// following; a followed task's agent may wait for its container.
	agentHeaderTimeout = 30 * time.Second
	// maxAgentError bounds how much of an agent's error answer is read.
	maxAgentError = 4 << 10
)

// agentLogs is the leader's apiserver.TaskLogs: it asks the agent of the
// task's node, at the address the node's session gave, over mutual TLS.
type agentLogs struct {
	// tlsConf is this manager's client TLS config (PeerTLS).
	tlsConf *tls.Config
	// agentAddr names where a node's agent serves api.NodeLogsPath; ok is
	// false when the node has no session with this leader.
	agentAddr func(nodeID string) (addr string, ok bool)
}

func (a agentLogs) TaskLogs(ctx context.Context, t *swarm.Task, q api.LogsQuery) (io.ReadCloser, error) {
	addr, ok := a.agentAddr(t.NodeID)
	if !ok || addr == "" {
		return nil, fmt.Errorf("logs of task %s: node %s has no session with the leader: %w", t.ID, t.NodeID, apiserver.ErrNodeUnavailable)
	}
	q.Task = t.ID
	return fetchTaskLogs(ctx, a.tlsConf, t.NodeID, addr, q)
}

// fetchTaskLogs asks the agent of node nodeID at agentAddr (host:port) for
// a task's logs: GET api.NodeLogsPath over mutual TLS with tlsConf (this
// manager's client config), which must present nodeID's certificate. The
// body is the agent's stream of Docker's multiplexed frames; closing it
// ends the request, as does ctx. Errors name the node and its address,
// and wrap apiserver.ErrNodeUnavailable when the agent could not be
// reached or said it is unavailable, apiserver.ErrNoTaskLogs when it
// answered 404.
func fetchTaskLogs(ctx context.Context, tlsConf *tls.Config, nodeID, agentAddr string, q api.LogsQuery) (io.ReadCloser, error) {
	where := fmt.Sprintf("logs of task %s from node %s at %s", q.Task, nodeID, agentAddr)
	tr := &http.Transport{
		TLSClientConfig:     agentTLS(tlsConf, nodeID),
		DialContext:         (&net.Dialer{Timeout: agentDialTimeout}).DialContext,
		TLSHandshakeTimeout: agentDialTimeout,
		// One request per connection: a log stream is long and rare, and
		// nothing is left behind once it is closed.
		DisableKeepAlives: true,
	}
	if !q.Follow {
		tr.ResponseHeaderTimeout = agentHeaderTimeout
	}
	u := url.URL{Scheme: "https", Host: agentAddr, Path: api.NodeLogsPath, RawQuery: logsQueryValues(q).Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", where, ctx.Err())
		}
		return nil, &agentError{msg: fmt.Sprintf("%s: %v", where, err), kind: apiserver.ErrNodeUnavailable, cause: err}
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	msg := agentMessage(resp.Body)
	e := &agentError{msg: fmt.Sprintf("%s: %s: %s", where, resp.Status, msg)}
	switch resp.StatusCode {
	case http.StatusNotFound:
		e.kind = apiserver.ErrNoTaskLogs
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		e.kind = apiserver.ErrNodeUnavailable
	}
	return nil, e
}

// logsQueryValues encodes q as the agent reads it: booleans as 1, empty
// values left out.
func logsQueryValues(q api.LogsQuery) url.Values {
	v := url.Values{}
	v.Set("task", q.Task)
	if q.Follow {
		v.Set("follow", "1")
	}
	if q.Timestamps {
		v.Set("timestamps", "1")
	}
	if q.Tail != "" {
		v.Set("tail", q.Tail)
	}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	return v
}

// agentTLS is the manager's client config narrowed to one node: the
// agent's certificate must name nodeID (any node role, never a client's),
// where the config dials managers only.
func agentTLS(base *tls.Config, nodeID string) *tls.Config {
	c := base.Clone()
	c.ServerName = nodeID
	c.NextProtos = nil
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id, role, err := ca.PeerIdentity(cs)
		if err != nil {
			return err
		}
		if id != nodeID || (role != ca.RoleWorker && role != ca.RoleManager) {
			return fmt.Errorf("the agent presented the certificate of %s %s, not of node %s: %w", role, id, nodeID, ca.ErrForbidden)
		}
		return nil
	}
	return c
}

// agentMessage reads an error answer: Docker's {"message": ...} form, or
// plain text.
func agentMessage(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, maxAgentError))
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return e.Message
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "no message"
}

// agentError is an error about an agent whose text is msg and which
// errors.Is matches against its kind (an apiserver sentinel) and its
// cause.
type agentError struct {
	msg   string
	kind  error
	cause error
}

func (e *agentError) Error() string { return e.msg }

func (e *agentError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

var _ apiserver.TaskLogs = agentLogs{}
