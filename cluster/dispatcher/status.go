package dispatcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// maxEntryUpdates bounds the status updates of one Raft entry; a flush
// with more proposes several.
const maxEntryUpdates = 1000

// statusBatch is one call's updates, committed together, and where the
// call waits for the outcome.
type statusBatch struct {
	muts  []store.Mutation
	reply chan error // buffered: the flusher never blocks on it
}

// UpdateStatus records a node's task status updates and returns once they
// are committed (nil), or with the error that kept them out, for the agent
// to retry. Updates are validated first: an update of an unknown state is
// refused (ErrInvalid, the whole call); one of a task that is gone, that
// runs on another node, or that does not move the task's status forward
// is dropped. Only the tasks' Status changes. Run commits the updates of
// every node in shared Raft entries.
func (d *Dispatcher) UpdateStatus(ctx context.Context, nodeID string, req api.StatusRequest) error {
	done, err := d.QueueStatus(nodeID, req)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueueStatus is UpdateStatus without the wait: it validates and queues
// the updates, and returns a channel that receives the outcome once Flush
// has committed them (at once, nil, when none needed committing). It is a
// heartbeat.
func (d *Dispatcher) QueueStatus(nodeID string, req api.StatusRequest) (<-chan error, error) {
	if _, err := d.touch(nodeID, req.SessionID); err != nil {
		return nil, err
	}
	muts, err := d.statusMutations(nodeID, req.Updates)
	if err != nil {
		return nil, err
	}
	reply := make(chan error, 1)
	if len(muts) == 0 {
		reply <- nil
		return reply, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped() {
		return nil, ErrStopped
	}
	d.pending = append(d.pending, &statusBatch{muts: muts, reply: reply})
	d.queued += len(muts)
	signal(d.wake)
	if d.queued >= d.cfg.StatusBatchSize {
		signal(d.full)
	}
	return reply, nil
}

// statusMutations turns a node's updates into the mutations worth
// proposing. The store re-checks each when it applies it, against the
// state of that moment; checking here keeps stale updates out of the log.
func (d *Dispatcher) statusMutations(nodeID string, updates []api.TaskStatusUpdate) ([]store.Mutation, error) {
	for i, u := range updates {
		if u.TaskID == "" {
			return nil, fmt.Errorf("%w: updates[%d]: no task_id", ErrInvalid, i)
		}
		if _, ok := api.TaskStateRank(u.Status.State); !ok {
			return nil, fmt.Errorf("%w: updates[%d]: task %s: unknown state %q", ErrInvalid, i, u.TaskID, u.Status.State)
		}
	}
	var muts []store.Mutation
	err := d.cfg.Store.View(func(tx store.ReadTx) error {
		for _, u := range updates {
			t, err := tx.Task(u.TaskID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				d.log.Debug("status of a task that is gone dropped", "node", nodeID, "task", u.TaskID)
				continue
			case err != nil:
				return err
			case t.NodeID != nodeID:
				d.log.Warn("a node reported the status of a task that is not its own; dropped", "node", nodeID, "task", u.TaskID, "task_node", t.NodeID)
				continue
			case !store.StatusAdvances(t.Status, u.Status):
				continue // stale, or already recorded
			}
			muts = append(muts, store.SetTaskStatus(u.TaskID, nodeID, u.Status))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("task status of node %s: %w", nodeID, err)
	}
	return muts, nil
}

// Flush commits every queued update: one Raft entry per up to
// maxEntryUpdates updates (a call's updates never split), and tells each
// waiting call the outcome of its entry. It returns the first failure.
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	batches := d.pending
	d.pending, d.queued = nil, 0
	d.mu.Unlock()
	var errs []error
	for len(batches) > 0 {
		n, count := 0, 0
		for n < len(batches) && (n == 0 || count+len(batches[n].muts) <= maxEntryUpdates) {
			count += len(batches[n].muts)
			n++
		}
		entry := batches[:n]
		batches = batches[n:]
		var muts []store.Mutation
		for _, b := range entry {
			muts = append(muts, b.muts...)
		}
		err := d.commit(ctx, muts)
		if err != nil {
			d.log.Warn("task status updates not committed; the nodes retry", "updates", len(muts), "err", err)
			errs = append(errs, err)
		}
		for _, b := range entry {
			b.reply <- err
		}
	}
	return errors.Join(errs...)
}

func (d *Dispatcher) commit(ctx context.Context, muts []store.Mutation) error {
	data, err := store.EncodeBatch(muts...)
	if err != nil {
		return fmt.Errorf("commit task status: %w", err)
	}
	if _, err := d.cfg.Propose(ctx, data); err != nil {
		return fmt.Errorf("commit task status: %w", err)
	}
	return nil
}

// failPending answers every queued call with err.
func (d *Dispatcher) failPending(err error) {
	d.mu.Lock()
	batches := d.pending
	d.pending, d.queued = nil, 0
	d.mu.Unlock()
	for _, b := range batches {
		b.reply <- err
	}
}

// signal leaves a token in ch unless one is there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
