package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// instantClock never waits.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Unix(0, 0) }
func (instantClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Unix(0, 0)
	return ch
}

// call is one send the reporter made; the test answers it on reply.
type call struct {
	batch []api.TaskStatusUpdate
	reply chan error
}

func upd(task string, s swarm.TaskState) api.TaskStatusUpdate {
	return api.TaskStatusUpdate{TaskID: task, Status: swarm.TaskStatus{State: s}}
}

func names(batch []api.TaskStatusUpdate) []string {
	var out []string
	for _, u := range batch {
		out = append(out, u.TaskID+" "+string(u.Status.State))
	}
	return out
}

// startReporter runs a reporter whose sends the test answers one by one.
func startReporter(t *testing.T) (*reporter, <-chan call) {
	r := newReporter(slog.New(slog.DiscardHandler))
	calls := make(chan call)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	cfg := (&Config{RetryMin: time.Millisecond, RetryMax: time.Millisecond}).withDefaults()
	go func() {
		defer close(done)
		r.run(ctx, instantClock{}, &cfg, func(ctx context.Context, b []api.TaskStatusUpdate) (<-chan struct{}, error) {
			c := call{batch: b, reply: make(chan error)}
			select {
			case calls <- c:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			select {
			case err := <-c.reply:
				return make(chan struct{}), err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r, calls
}

func nextCall(t *testing.T, calls <-chan call, want ...string) call {
	t.Helper()
	select {
	case c := <-calls:
		if got := names(c.batch); !slices.Equal(got, want) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no call sending %q", want)
		return call{}
	}
}

// One call at a time; what queues meanwhile goes next, in order; a failed
// batch is sent again, ahead of (and with) what queued after it.
func TestReporterBatchesInOrder(t *testing.T) {
	r, calls := startReporter(t)
	r.add(upd("t1", swarm.TaskStateAccepted))
	c := nextCall(t, calls, "t1 accepted")
	r.add(upd("t1", swarm.TaskStatePreparing))
	r.add(upd("t2", swarm.TaskStateAccepted))
	c.reply <- nil
	c = nextCall(t, calls, "t1 preparing", "t2 accepted")
	r.add(upd("t1", swarm.TaskStateReady))
	c.reply <- errors.New("connection refused")
	c = nextCall(t, calls, "t1 preparing", "t2 accepted", "t1 ready")
	c.reply <- &callError{Code: http.StatusServiceUnavailable, Message: "no leader"}
	c = nextCall(t, calls, "t1 preparing", "t2 accepted", "t1 ready")
	c.reply <- nil
	r.add(upd("t2", swarm.TaskStatePreparing))
	c = nextCall(t, calls, "t2 preparing")
	c.reply <- nil
}

// A batch the managers refuse as malformed is dropped, not retried for
// ever ahead of everything else.
func TestReporterDropsRefusedBatch(t *testing.T) {
	r, calls := startReporter(t)
	r.add(upd("t1", swarm.TaskStateAccepted))
	c := nextCall(t, calls, "t1 accepted")
	c.reply <- &callError{Code: http.StatusBadRequest, Message: "bad"}
	r.add(upd("t1", swarm.TaskStatePreparing))
	c = nextCall(t, calls, "t1 preparing")
	c.reply <- nil
}
