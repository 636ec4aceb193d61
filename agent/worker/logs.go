package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/swarmops/swarmops/agent/docker"
	agentexec "github.com/swarmops/swarmops/agent/exec"
	"github.com/swarmops/swarmops/agent/runtime"
	"github.com/swarmops/swarmops/api"
)

// multiplexedStream is the media type of Docker's stdout/stderr framing.
const multiplexedStream = "application/vnd.docker.multiplexed-stream"

// LogsHandler serves GET api.NodeLogsPath (any other path is 404): the
// logs of one task this agent runs, in Docker's multiplexed format, with
// the options of api.LogsQuery as URL parameters. A followed stream is
// flushed as it goes and ends when the task's output does or the client
// leaves. authorize decides who may read (the managers' certificates);
// its error is the 403's message. A nil authorize refuses everyone.
func (a *Agent) LogsHandler(authorize func(*http.Request) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(api.NodeLogsPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			replyError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		if authorize == nil {
			replyError(w, http.StatusForbidden, "this agent serves logs to nobody: no authorization is configured")
			return
		}
		if err := authorize(r); err != nil {
			replyError(w, http.StatusForbidden, err.Error())
			return
		}
		q, err := parseLogsQuery(r)
		if err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.serveLogs(w, r, q)
	})
	return mux
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request, q api.LogsQuery) {
	rt, ok := a.tasks.runtimeOf(q.Task)
	if !ok {
		replyError(w, http.StatusNotFound, fmt.Sprintf("task %s does not run on this node", q.Task))
		return
	}
	rc, err := rt.Logs(r.Context(), q.Task, runtime.LogOptions{
		Follow: q.Follow, Tail: q.Tail, Timestamps: q.Timestamps, Since: q.Since,
	})
	if errors.Is(err, docker.ErrNotFound) || errors.Is(err, agentexec.ErrNotFound) {
		replyError(w, http.StatusNotFound, fmt.Sprintf("task %s has no container on this node: %v", q.Task, err))
		return
	}
	if err != nil {
		replyError(w, http.StatusInternalServerError, fmt.Sprintf("logs of task %s: %v", q.Task, err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", multiplexedStream)
	w.WriteHeader(http.StatusOK)
	rc2 := http.NewResponseController(w)
	_ = rc2.Flush() // the client learns at once that the stream is open
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client left
			}
			if ferr := rc2.Flush(); ferr != nil {
				return
			}
		}
		if err != nil {
			// io.EOF ends the stream; a failure mid-stream can only end
			// it too, the status being sent.
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				a.cfg.Logger.Warn("task log stream broke", "task", q.Task, "err", err)
			}
			return
		}
	}
}

// parseLogsQuery reads api.LogsQuery from the URL; booleans are "1",
// "true" and the like, as the Engine API takes them.
func parseLogsQuery(r *http.Request) (api.LogsQuery, error) {
	v := r.URL.Query()
	q := api.LogsQuery{Task: v.Get("task"), Tail: v.Get("tail"), Since: v.Get("since")}
	if q.Task == "" {
		return q, errors.New("the task parameter is missing: name the task whose logs to stream")
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &q.Follow}, {"timestamps", &q.Timestamps}} {
		s := v.Get(b.name)
		if s == "" {
			continue
		}
		val, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("parameter %s=%q: want 1, 0, true or false", b.name, s)
		}
		*b.dst = val
	}
	if q.Tail != "" && q.Tail != "all" {
		if n, err := strconv.Atoi(q.Tail); err != nil || n < 0 {
			return q, fmt.Errorf("parameter tail=%q: want a number of lines or \"all\"", q.Tail)
		}
	}
	return q, nil
}

func replyError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
