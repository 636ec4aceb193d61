package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/swarmops/swarmops/api"
)

// maxBatch bounds the updates of one status call.
const maxBatch = 512

var errNoSession = errors.New("no session with the managers yet")

// reporter sends the executors' status changes to the managers: one call
// at a time, each carrying whatever queued while the previous one was in
// flight, oldest first, retried until accepted. Since a batch is retried
// before anything queued after it is sent, no task's updates are ever
// reordered.
type reporter struct {
	log *slog.Logger

	mu    sync.Mutex
	queue []api.TaskStatusUpdate
	wake  chan struct{} // holds a token when the queue may be non-empty
}

func newReporter(log *slog.Logger) *reporter {
	return &reporter{log: log, wake: make(chan struct{}, 1)}
}

// add queues an update; it never blocks.
func (r *reporter) add(u api.TaskStatusUpdate) {
	r.mu.Lock()
	r.queue = append(r.queue, u)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take removes up to n queued updates, oldest first.
func (r *reporter) take(n int) []api.TaskStatusUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, len(r.queue))
	out := r.queue[:n:n]
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go
	}
	return out
}

// sendFunc makes one status call; changed fires once a new session
// exists, which is worth retrying at once.
type sendFunc func(ctx context.Context, batch []api.TaskStatusUpdate) (changed <-chan struct{}, err error)

// run sends until ctx ends; what is still queued then is dropped, the
// store keeping the last statuses it accepted.
func (r *reporter) run(ctx context.Context, clock Clock, cfg *Config, send sendFunc) {
	var batch []api.TaskStatusUpdate
	failures := 0
	for {
		if len(batch) < maxBatch {
			batch = append(batch, r.take(maxBatch-len(batch))...)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		changed, err := send(ctx, batch)
		if ctx.Err() != nil {
			return
		}
		if err == nil || rejected(err) {
			if err != nil {
				// A retry would be refused alike and hold every later
				// update back for good.
				r.log.Error("the managers refused task statuses; dropping them", "updates", len(batch), "err", err)
			}
			batch, failures = nil, 0
			continue
		}
		failures++
		wait := cfg.backoff(failures + 1)
		if !errors.Is(err, errNoSession) {
			r.log.Warn("task status report failed; retrying", "updates", len(batch), "err", err, "wait", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-clock.After(wait):
		}
	}
}

// rejected reports whether the managers refused the request itself, as
// opposed to being unable to take it now.
func rejected(err error) bool {
	var ce *callError
	return errors.As(err, &ce) && ce.Code == http.StatusBadRequest
}
