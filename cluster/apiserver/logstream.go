package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// rfc3339NanoFixed is the daemon's timestamp format for log lines: RFC 3339
// with nanoseconds always nine digits, so every stamp has the same width.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// maxLogFrame bounds one frame read from an agent; the engine writes a log
// line of at most 16 KiB per frame (longer lines come in parts).
const maxLogFrame = 1 << 20

// logRetryEvery is how long a followed task whose node could not be asked
// waits before it is asked again, unless the store changes first (the
// node coming back, say).
var logRetryEvery = 5 * time.Second

// logLine is one line of one task, as read from its node.
type logLine struct {
	task   *swarm.Task
	stream stdcopy.StdType
	at     time.Time // set when the client asked for timestamps
	data   []byte
}

// fetchDone ends one task's fetch: err when its node could not be asked
// (nothing was streamed), broken when the stream failed part way.
type fetchDone struct {
	task   *swarm.Task
	err    error
	broken error
}

// logStream is one request's merge of its tasks' logs: a goroutine per
// task reads its node's stream and hands over whole lines; the handler's
// goroutine alone writes them to the client, flushing whenever it has
// nothing more at hand.
type logStream struct {
	s      *Server
	sel    logSelector
	o      logOptions
	out    *logWriter
	lines  chan logLine
	done   chan fetchDone
	wg     sync.WaitGroup
	active int
	// started holds every task fetched or being fetched; retry the
	// followed ones whose node could not be asked, until they are asked
	// again.
	started    map[string]bool
	retry      map[string]bool
	retryEvery time.Duration
	// reasons are why the stream is incomplete, in Swarm's words, each
	// once.
	reasons []string
}

// streamLogs answers a log route whose selector and options are checked:
// the status is sent at once (as the daemon does, so the client knows the
// stream is on), and from then on anything that goes wrong is told in the
// stream, as Swarm tells it.
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, sel logSelector, o logOptions, tty bool) {
	contentType := types.MediaTypeRawStream
	if !tty && api.CompareVersions(apiVersion(r), "1.42") >= 0 {
		contentType = types.MediaTypeMultiplexedStream
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	out := newLogWriter(w, !tty, o)
	if out.flush() != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	ls := &logStream{
		s: s, sel: sel, o: o, out: out,
		lines:   make(chan logLine, 64),
		done:    make(chan fetchDone),
		started: map[string]bool{},
		retry:   map[string]bool{},
		// Read once: tests shorten it.
		retryEvery: logRetryEvery,
	}
	defer func() {
		cancel()
		ls.wg.Wait()
	}()
	if err := ls.run(ctx); err != nil && ctx.Err() == nil {
		s.log.Debug("log stream ended", "path", r.URL.Path, "err", err)
	}
}

// run streams until every task is done (without follow) or the client
// leaves.
func (ls *logStream) run(ctx context.Context) error {
	changed, err := ls.plan(ctx)
	if err != nil {
		return ls.out.systemError("Error grabbing logs: " + err.Error())
	}
	// Followed tasks whose node could not be asked are asked again after
	// a while; store changes alone could hammer a dead node.
	retryTimer := time.NewTimer(ls.retryEvery)
	retryTimer.Stop()
	defer retryTimer.Stop()
	var retry <-chan time.Time
	for ls.o.follow || ls.active > 0 {
		if len(ls.retry) > 0 && retry == nil {
			retryTimer.Reset(ls.retryEvery)
			retry = retryTimer.C
		}
		select {
		case l := <-ls.lines:
			if err := ls.write(l); err != nil {
				return err
			}
		case d := <-ls.done:
			ls.active--
			ls.finish(d)
		case <-changed:
			if changed, err = ls.plan(ctx); err != nil {
				return err
			}
		case <-retry:
			retry = nil
			clear(ls.retry)
			if changed, err = ls.plan(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Every fetch has handed over its lines before saying it is done;
	// what is still buffered goes out before the verdict.
	for len(ls.lines) > 0 {
		if err := ls.write(<-ls.lines); err != nil {
			return err
		}
	}
	if len(ls.reasons) > 0 {
		return ls.out.systemError("Error grabbing logs: warning: incomplete log stream. some logs could not be retrieved for the following reasons: " +
			strings.Join(ls.reasons, ", "))
	}
	return ls.out.flush()
}

// write sends one line, flushing when no other is waiting.
func (ls *logStream) write(l logLine) error {
	if err := ls.out.line(l); err != nil {
		return err
	}
	if len(ls.lines) == 0 {
		return ls.out.flush()
	}
	return nil
}

// plan reads the selector's tasks and starts fetching those due, and
// returns the channel closed at the store's next change (nil without
// follow: the set of tasks is fixed at the start).
func (ls *logStream) plan(ctx context.Context) (<-chan struct{}, error) {
	var changed <-chan struct{}
	if ls.o.follow {
		_, changed, _ = ls.s.store.Events(ls.s.store.LastIndex())
	}
	var p logPlan
	err := ls.s.view(func(tx store.ReadTx) error {
		tasks, err := ls.sel.tasks(tx)
		if err != nil {
			return err
		}
		p = planLogFetches(tasks, ls.sel.taskID != "", ls.o.follow, ls.started)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range p.fetch {
		if ls.retry[t.ID] {
			continue
		}
		ls.started[t.ID] = true
		ls.active++
		ls.wg.Add(1)
		go ls.fetch(ctx, t)
	}
	for _, id := range p.unscheduled {
		ls.because(fmt.Sprintf("task %s has not been scheduled", id))
	}
	return changed, nil
}

// finish records how a task's fetch ended. Swarm skips a task its node
// has nothing for, and reports a node it could not ask; with follow it
// keeps trying instead, since the stream never ends to report it.
func (ls *logStream) finish(d fetchDone) {
	t := d.task
	switch {
	case d.err == nil && d.broken == nil:
	case errors.Is(d.err, ErrNoTaskLogs):
		ls.s.log.Debug("task has no logs on its node", "task", t.ID, "node", t.NodeID, "err", d.err)
	case d.err != nil:
		ls.s.log.Warn("task logs: node not asked", "task", t.ID, "node", t.NodeID, "err", d.err)
		if ls.o.follow {
			delete(ls.started, t.ID)
			ls.retry[t.ID] = true
			return
		}
		if errors.Is(d.err, ErrNodeUnavailable) {
			ls.because(fmt.Sprintf("node %s is not available", t.NodeID))
		} else {
			ls.because(fmt.Sprintf("task %s: %v", t.ID, d.err))
		}
	default:
		// Fetched again, the stream would repeat what was sent; Swarm
		// too reports the node and moves on.
		ls.s.log.Warn("task logs: stream broken", "task", t.ID, "node", t.NodeID, "err", d.broken)
		ls.because(fmt.Sprintf("node %s disconnected unexpectedly", t.NodeID))
	}
}

func (ls *logStream) because(reason string) {
	if !slices.Contains(ls.reasons, reason) {
		ls.reasons = append(ls.reasons, reason)
	}
}

// fetch reads one task's stream from its node and hands over its lines.
func (ls *logStream) fetch(ctx context.Context, t *swarm.Task) {
	defer ls.wg.Done()
	d := fetchDone{task: t}
	q := ls.o.query()
	q.Task = t.ID
	rc, err := ls.s.cfg.Logs.TaskLogs(ctx, t, q)
	if err != nil {
		d.err = err
	} else {
		// Unblock a read the stream does not end itself when the
		// client leaves.
		stop := context.AfterFunc(ctx, func() { _ = rc.Close() })
		d.broken = readLogFrames(rc, ls.o.timestamps, ls.s.cfg.Now, func(l logLine) error {
			l.task = t
			select {
			case ls.lines <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		stop()
		_ = rc.Close()
	}
	select {
	case ls.done <- d:
	case <-ctx.Done():
	}
}

// readLogFrames reads Docker's multiplexed frames until EOF and hands over
// each line of each (a frame normally holds one). With timestamps, each
// line's leading stamp is taken off into logLine.at; a line without one
// keeps the last seen (or now). A system-error frame is the agent telling
// what went wrong: it ends the stream with that error.
func readLogFrames(r io.Reader, timestamps bool, now func() time.Time, emit func(logLine) error) error {
	var hdr [8]byte
	var last time.Time
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read log frame: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > maxLogFrame {
			return fmt.Errorf("log frame of %d bytes: more than the %d allowed", size, maxLogFrame)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("read log frame: %w", err)
		}
		stream := stdcopy.StdType(hdr[0])
		switch stream {
		case stdcopy.Systemerr:
			return fmt.Errorf("agent: %s", bytes.TrimSpace(payload))
		case stdcopy.Stdin:
			stream = stdcopy.Stdout
		case stdcopy.Stdout, stdcopy.Stderr:
		default:
			return fmt.Errorf("log frame of unknown stream %d", hdr[0])
		}
		for len(payload) > 0 {
			line := payload
			if i := bytes.IndexByte(payload, '\n'); i >= 0 {
				line = payload[:i+1]
			}
			payload = payload[len(line):]
			l := logLine{stream: stream, data: line}
			if timestamps {
				at, rest, ok := cutTimestamp(line)
				switch {
				case ok:
					last, l.data = at, rest
				case last.IsZero():
					last = now()
				}
				l.at = last
			}
			if err := emit(l); err != nil {
				return err
			}
		}
	}
}

// cutTimestamp splits "2026-11-27T10:00:00.123Z rest" into its time and
// rest.
func cutTimestamp(line []byte) (time.Time, []byte, bool) {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return time.Time{}, line, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	if err != nil {
		return time.Time{}, line, false
	}
	return at, line[i+1:], true
}

// logWriter writes lines as the daemon does: a stdcopy frame per line
// (the docker CLI relies on it) unless the service has a TTY, then the
// timestamp, then the details, then the line.
type logWriter struct {
	rc                     *http.ResponseController
	stdout, stderr, syserr io.Writer
	o                      logOptions
}

func newLogWriter(w http.ResponseWriter, mux bool, o logOptions) *logWriter {
	lw := &logWriter{rc: http.NewResponseController(w), stdout: w, stderr: w, syserr: w, o: o}
	if mux {
		lw.stdout = stdcopy.NewStdWriter(w, stdcopy.Stdout)
		lw.stderr = stdcopy.NewStdWriter(w, stdcopy.Stderr)
		lw.syserr = stdcopy.NewStdWriter(w, stdcopy.Systemerr)
	}
	return lw
}

func (lw *logWriter) line(l logLine) error {
	out := lw.stdout
	switch {
	case l.stream == stdcopy.Stdout && lw.o.stdout:
	case l.stream == stdcopy.Stderr && lw.o.stderr:
		out = lw.stderr
	default:
		return nil
	}
	var b []byte
	if lw.o.timestamps {
		b = append(l.at.UTC().AppendFormat(b, rfc3339NanoFixed), ' ')
	}
	if lw.o.details {
		b = append(appendDetails(b, l.task), ' ')
	}
	b = append(b, l.data...)
	_, err := out.Write(b)
	return err
}

// systemError ends the stream with a message the docker CLI prints as an
// error ("error from daemon in stream: ...").
func (lw *logWriter) systemError(msg string) error {
	if _, err := io.WriteString(lw.syserr, msg+"\n"); err != nil {
		return err
	}
	return lw.flush()
}

func (lw *logWriter) flush() error { return lw.rc.Flush() }

// appendDetails appends the line's context as the daemon writes log
// details: key=value pairs sorted by key, query-escaped, comma-separated.
func appendDetails(b []byte, t *swarm.Task) []byte {
	attrs := [...][2]string{
		{"com.docker.swarm.node.id", t.NodeID},
		{"com.docker.swarm.service.id", t.ServiceID},
		{"com.docker.swarm.task.id", t.ID},
	}
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, url.QueryEscape(a[0])...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(a[1])...)
	}
	return b
}
