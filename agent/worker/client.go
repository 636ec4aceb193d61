package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/swarmops/swarmops/api"
)

// maxReply bounds a reply body: assignments carry whole task lists and
// the data of secrets and configs.
const maxReply = 64 << 20

// maxRedirects bounds how many leaders one registration follows, in case
// managers name each other in a loop during an election.
const maxRedirects = 3

// callError is a manager's answer other than 2xx.
type callError struct {
	Addr, Path string
	Code       int
	Message    string
	// Leader is the HeaderLeader of a 503: where to ask instead.
	Leader string
}

func (e *callError) Error() string {
	s := fmt.Sprintf("%s%s: %s (%d)", e.Addr, e.Path, e.Message, e.Code)
	if e.Leader != "" {
		s += "; the leader is " + e.Leader
	}
	return s
}

// client makes the calls of the dispatcher's protocol and remembers the
// managers to fail over to.
type client struct {
	http    *http.Client
	timeout time.Duration

	mu       sync.Mutex
	initial  []string // Config.Managers
	known    []string // what the cluster last said
	lastGood string   // where the last session was opened
}

func newClient(cfg *Config) *client {
	// HTTP/1.1: a manager's listener splits its port by ALPN between Raft,
	// the join protocol and HTTP/1.1, and serves no h2.
	tlsConf := cfg.TLS.Clone()
	tlsConf.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{
		TLSClientConfig:     tlsConf,
		DialContext:         (&net.Dialer{Timeout: cfg.CallTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4, // the long poll and status reports run side by side
		TLSHandshakeTimeout: cfg.CallTimeout,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{
		http:    &http.Client{Transport: tr},
		timeout: cfg.CallTimeout,
		initial: slices.Clone(cfg.Managers),
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// setManagers records the managers a reply named; an empty list keeps
// the ones known.
func (c *client) setManagers(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	c.mu.Lock()
	c.known = slices.Clone(addrs)
	c.mu.Unlock()
}

// candidates are the managers to try, best first: where the last session
// was, then those the cluster named, then those configured.
func (c *client) candidates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, group := range [][]string{{c.lastGood}, c.known, c.initial} {
		for _, a := range group {
			if a != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// register opens a session with whichever manager leads, trying every
// candidate (and the leader each names) in turn, and each round again
// after a growing wait, until one accepts or ctx ends.
func (c *client) register(ctx context.Context, cfg *Config, req api.SessionRequest) (session, error) {
	for round := 1; ; round++ {
		var errs []error
		for _, addr := range c.candidates() {
			s, err := c.registerAt(ctx, addr, req)
			if err == nil {
				c.mu.Lock()
				c.lastGood = s.addr
				c.mu.Unlock()
				c.setManagers(s.managers)
				return s, nil
			}
			if ctx.Err() != nil {
				return session{}, ctx.Err()
			}
			errs = append(errs, err)
		}
		wait := cfg.backoff(round + 1)
		cfg.Logger.Warn("no manager accepted the session; retrying", "err", errors.Join(errs...), "wait", wait)
		select {
		case <-ctx.Done():
			return session{}, ctx.Err()
		case <-cfg.Clock.After(wait):
		}
	}
}

// registerAt registers at addr, or at the leader it names.
func (c *client) registerAt(ctx context.Context, addr string, req api.SessionRequest) (session, error) {
	for range maxRedirects + 1 {
		var reply api.SessionReply
		err := c.call(ctx, addr, api.SessionPath, req, &reply, c.timeout)
		var ce *callError
		if errors.As(err, &ce) && ce.Leader != "" && ce.Leader != addr {
			addr = ce.Leader
			continue
		}
		if err != nil {
			return session{}, err
		}
		if reply.SessionID == "" {
			return session{}, fmt.Errorf("%s%s: the reply names no session", addr, api.SessionPath)
		}
		return session{
			id: reply.SessionID, nodeID: reply.NodeID, addr: addr, role: reply.Role,
			period: reply.HeartbeatPeriod, managers: reply.Managers,
		}, nil
	}
	return session{}, fmt.Errorf("%s%s: more than %d leaders named in a row; the managers are electing", addr, api.SessionPath, maxRedirects)
}

// assignments long-polls the session's manager for the set after since.
func (c *client) assignments(ctx context.Context, s session, since uint64) (*api.Assignments, error) {
	var out api.Assignments
	req := api.AssignmentsRequest{SessionID: s.id, Since: since}
	if err := c.call(ctx, s.addr, api.AssignmentsPath, req, &out, s.heartbeat()+c.timeout); err != nil {
		return nil, err
	}
	return &out, nil
}

// status reports updates in the session.
func (c *client) status(ctx context.Context, s session, updates []api.TaskStatusUpdate) error {
	return c.call(ctx, s.addr, api.StatusPath, api.StatusRequest{SessionID: s.id, Updates: updates}, nil, c.timeout)
}

// call POSTs body as JSON to addr's path and decodes a 2xx reply into out
// (when not nil); any other answer is a *callError.
func (c *client) call(ctx context.Context, addr, path string, body, out any, timeout time.Duration) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("manager address %q: %w", addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err // names the method, URL and cause
	}
	defer res.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(res.Body, maxReply))
	if err != nil {
		return fmt.Errorf("%s%s: read reply: %w", addr, path, err)
	}
	if res.StatusCode/100 != 2 {
		ce := &callError{Addr: addr, Path: path, Code: res.StatusCode, Leader: res.Header.Get(api.HeaderLeader)}
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(payload, &m) == nil && m.Message != "" {
			ce.Message = m.Message
		} else {
			ce.Message = string(bytes.TrimSpace(payload))
		}
		return ce
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("%s%s: decode reply: %w", addr, path, err)
	}
	return nil
}
