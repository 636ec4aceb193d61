package dispatcher

import (
	"context"
	"sync"
	"time"
)

// Run runs the leader's loops until ctx ends: it commits queued status
// updates (StatusBatchDelay after the first arrives, or at once when
// StatusBatchSize are waiting) and checks heartbeats every half period.
// When it returns the dispatcher is stopped: calls waiting on it fail
// with ErrStopped, and later ones are refused with it.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.runExpiry(ctx) })
	d.runFlusher(ctx)
	wg.Wait()
	d.stopOnce.Do(func() { close(d.done) })
	d.failPending(ErrStopped)
}

func (d *Dispatcher) runFlusher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		gather := time.NewTimer(d.cfg.StatusBatchDelay)
		select {
		case <-gather.C:
		case <-d.full:
		case <-ctx.Done():
			gather.Stop()
			return
		}
		gather.Stop()
		// A token left from before this flush would cut the next
		// gathering short.
		select {
		case <-d.full:
		default:
		}
		_ = d.Flush(ctx) // Flush logs; the callers have their errors
	}
}

func (d *Dispatcher) runExpiry(ctx context.Context) {
	tick := time.NewTicker(max(d.cfg.HeartbeatPeriod/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := d.Expire(ctx, d.cfg.now()); err != nil && ctx.Err() == nil {
			d.log.Warn("heartbeat check failed; retrying at the next", "err", err)
		}
	}
}
