package apiserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/swarm"
	timetypes "github.com/docker/docker/api/types/time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// TaskLogs fetches one task's logs from the node that runs it. Only the
// leader has one that works (its dispatcher knows where each node's agent
// listens); the log routes are the leader's, so followers forward them.
type TaskLogs interface {
	// TaskLogs returns t's logs as its node's agent streams them: Docker's
	// multiplexed stdout/stderr frames, one log line each, prefixed with
	// the engine's RFC 3339 timestamp when q.Timestamps. q.Task is t.ID.
	// The stream must end when ctx does. Errors wrapping ErrNoTaskLogs
	// mean the node has nothing for the task (its container was never
	// created or is gone): the task is skipped, as Swarm skips it.
	// Errors wrapping ErrNodeUnavailable mean the node's agent could not
	// be reached; any other error is the agent's answer.
	TaskLogs(ctx context.Context, t *swarm.Task, q api.LogsQuery) (io.ReadCloser, error)
}

// Errors a TaskLogs wraps, checked with errors.Is.
var (
	// ErrNoTaskLogs means the task's node has no logs for it.
	ErrNoTaskLogs = errors.New("the node has no logs for the task")
	// ErrNodeUnavailable means the task's node could not be asked: it has
	// no session with the leader, or its agent does not answer.
	ErrNodeUnavailable = errors.New("node is not available")
)

// logOptions are the query of the Engine API's log routes, checked as the
// daemon checks them.
type logOptions struct {
	stdout, stderr bool
	follow         bool
	timestamps     bool
	// details prefixes every line with the task's context attributes,
	// which the docker CLI reads to print "web.1.abc@node1    | line".
	details bool
	tail    string // "all" or a number of lines; empty means all
	since   string // seconds.nanoseconds since the epoch; empty for none
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{
		stdout:     boolValue(q.Get("stdout")),
		stderr:     boolValue(q.Get("stderr")),
		follow:     boolValue(q.Get("follow")),
		timestamps: boolValue(q.Get("timestamps")),
		details:    boolValue(q.Get("details")),
		tail:       q.Get("tail"),
	}
	if !o.stdout && !o.stderr {
		return o, badRequest("Bad parameters: you must choose at least one stream")
	}
	if o.tail != "" && o.tail != "all" {
		n, err := strconv.Atoi(o.tail)
		if err != nil {
			return o, badRequest(`tail value must be a positive integer or "all"`)
		}
		if n < 0 {
			return o, badRequest("negative tail values not supported")
		}
	}
	if since := q.Get("since"); since != "" {
		sec, nsec, err := timetypes.ParseTimestamps(since, 0)
		if err != nil {
			return o, badRequest("could not parse since timestamp: %v", err)
		}
		o.since = fmt.Sprintf("%d.%09d", sec, nsec)
	}
	return o, nil
}

// query is what every task's node is asked for. Streams are filtered
// here: an agent always sends both.
func (o logOptions) query() api.LogsQuery {
	return api.LogsQuery{Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps, Since: o.since}
}

// logSelector names whose logs a request streams: every task of a service,
// or one task.
type logSelector struct {
	serviceID string
	taskID    string
}

// tasks reads the selector's tasks.
func (sel logSelector) tasks(tx store.ReadTx) ([]*swarm.Task, error) {
	if sel.taskID != "" {
		t, err := tx.Task(sel.taskID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []*swarm.Task{t}, nil
	}
	return tx.TasksByService(sel.serviceID)
}

// serviceLogs is GET /services/{id}/logs: the logs of every task of the
// service, merged line by line as the nodes send them.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	return s.logs(w, r, "service", func(tx store.ReadTx) (logSelector, *swarm.ContainerSpec, error) {
		id, err := resolve(tx, store.TableServices, "service", r.PathValue("id"))
		if err != nil {
			return logSelector{}, nil, err
		}
		svc, err := tx.Service(id)
		if err != nil {
			return logSelector{}, nil, err
		}
		return logSelector{serviceID: id}, svc.Spec.TaskTemplate.ContainerSpec, nil
	})
}

// taskLogs is GET /tasks/{id}/logs: one task's logs.
func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	return s.logs(w, r, "task", func(tx store.ReadTx) (logSelector, *swarm.ContainerSpec, error) {
		id, err := resolve(tx, store.TableTasks, "task", r.PathValue("id"))
		if err != nil {
			return logSelector{}, nil, err
		}
		t, err := tx.Task(id)
		if err != nil {
			return logSelector{}, nil, err
		}
		return logSelector{taskID: id}, t.Spec.ContainerSpec, nil
	})
}

// logs streams the logs of the tasks that selectFn picks, once the
// request's options parse and the tasks are container tasks.
func (s *Server) logs(w http.ResponseWriter, r *http.Request, kind string, selectFn func(tx store.ReadTx) (logSelector, *swarm.ContainerSpec, error)) error {
	if s.cfg.Logs == nil {
		return errorf(http.StatusNotImplemented, "%s logs are not available yet: this manager was started without a way to reach the agents", kind)
	}
	o, err := parseLogOptions(r)
	if err != nil {
		return err
	}
	var sel logSelector
	tty := false
	err = s.view(func(tx store.ReadTx) error {
		var c *swarm.ContainerSpec
		var err error
		if sel, c, err = selectFn(tx); err != nil {
			return err
		}
		if c == nil {
			return badRequest("error making log selector: logs only supported on container tasks")
		}
		tty = c.TTY
		return nil
	})
	if err != nil {
		return err
	}
	s.streamLogs(w, r, sel, o, tty)
	return nil
}

// logPlan is what to do with the selector's tasks now.
type logPlan struct {
	// fetch are the tasks whose logs to ask their nodes for, by slot,
	// oldest first.
	fetch []*swarm.Task
	// unscheduled are tasks with no node to ask; a stream that ends
	// reports them, as Swarm does.
	unscheduled []string
}

// planLogFetches decides which tasks' logs to fetch, skipping those in
// started. As Swarm's log broker does: without follow, a service's tasks
// that never reached running have no logs and are left out (dead tasks
// that ran are in), and a task asked for by ID is fetched in any state.
// With follow the stream waits for each task, present or future, to run,
// so that its node has a container to read from.
func planLogFetches(tasks []*swarm.Task, byTask, follow bool, started map[string]bool) logPlan {
	var p logPlan
	for _, t := range tasks {
		if started[t.ID] || t.Spec.ContainerSpec == nil {
			continue
		}
		ran := taskStateRank[t.Status.State] >= taskStateRank[swarm.TaskStateRunning]
		switch {
		case follow:
			if t.NodeID == "" || !ran {
				continue
			}
		case !byTask && !ran:
			continue
		case t.NodeID == "":
			p.unscheduled = append(p.unscheduled, t.ID)
			continue
		}
		p.fetch = append(p.fetch, t)
	}
	slices.SortFunc(p.fetch, func(a, b *swarm.Task) int {
		return cmp.Or(cmp.Compare(a.Slot, b.Slot), a.Meta.CreatedAt.Compare(b.Meta.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return p
}
