package executor

import (
	"context"
	"reflect"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/agent/runtime"
)

// Runtime is what the executor needs of a runtime; agent/docker and
// agent/exec both provide it. Calls are idempotent: preparing a prepared
// task, starting a started one or stopping and removing a missing one
// succeed. Wait returns nil for exit 0 and a *runtime.ExitError otherwise.
type Runtime interface {
	Prepare(ctx context.Context, s runtime.Spec) error
	Start(ctx context.Context, taskID string) error
	Wait(ctx context.Context, taskID string, onHealth func(status string)) error
	Stop(ctx context.Context, taskID string, grace *time.Duration) error
	Remove(ctx context.Context, taskID string) error
}

// Spec is the task to run and what the runtime needs beside it.
type Spec = runtime.Spec

// Run follows s.Task until nothing more can happen to it, applying the
// actions Next decides to rt and calling report once for every status
// change, in order, from Run's goroutine. desired brings the task's new
// desired states; when it is nil or closed, Run returns nil once the task
// is terminal, and in any case once a task desired "remove" is removed. It
// returns ctx's error when ctx ends first; every goroutine it started has
// ended by the time it returns.
func Run(ctx context.Context, rt Runtime, s Spec, desired <-chan swarm.TaskState, report func(swarm.TaskStatus)) error {
	d := &driver{rt: rt, task: s.Task, events: make(chan Observation, 4)}
	defer d.stopWait()
	var obs Observation
	for {
		act, st := Next(d.task, obs)
		if !reflect.DeepEqual(st, d.task.Status) {
			d.task.Status = st
			report(st)
			if Terminal(st.State) {
				d.stopWait()
			}
		}
		id := d.task.ID
		obs = Observation{}
		switch act {
		case Proceed:
			continue
		case Prepare:
			obs = Observation{Event: Prepared, Err: rt.Prepare(ctx, withTask(s, d.task))}
			continue
		case Start:
			obs = Observation{Event: Started, Err: rt.Start(ctx, id)}
			continue
		case Stop:
			obs = Observation{Event: Stopped, Err: rt.Stop(ctx, id, nil)}
			continue
		case Remove:
			obs = Observation{Event: Removed, Err: rt.Remove(ctx, id)}
			continue
		case Done:
			return nil
		case Wait:
			d.startWait(ctx)
		case Idle:
			if desired == nil && Terminal(d.task.Status.State) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ds, ok := <-desired:
			if !ok {
				desired = nil
				continue
			}
			d.task.DesiredState = ds
		case obs = <-d.events:
		}
	}
}

// withTask is s with the task as the driver last saw it.
func withTask(s Spec, t swarm.Task) Spec {
	s.Task = t
	return s
}

// driver holds what Run keeps between steps: the task as last reported and
// the goroutine following it, if any.
type driver struct {
	rt     Runtime
	task   swarm.Task
	events chan Observation // from the waiter: health, then the exit

	cancelWait context.CancelFunc
	waitDone   chan struct{}
}

// startWait follows the task in a goroutine, once: Wait blocks for the
// task's whole life, while Run must still hear new desired states.
func (d *driver) startWait(ctx context.Context) {
	if d.cancelWait != nil {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.cancelWait, d.waitDone = cancel, done
	id := d.task.ID
	go func() {
		defer close(done)
		send := func(o Observation) {
			select {
			case d.events <- o:
			case <-wctx.Done():
			}
		}
		err := d.rt.Wait(wctx, id, func(h string) { send(Observation{Event: Health, Health: h}) })
		if wctx.Err() == nil {
			send(Observation{Event: Exited, Err: err})
		}
	}()
}

// stopWait ends the waiter and waits for it; a later startWait would start
// a new one, though Next never asks once the task is terminal.
func (d *driver) stopWait() {
	if d.cancelWait == nil {
		return
	}
	d.cancelWait()
	<-d.waitDone
	d.cancelWait, d.waitDone = nil, nil
}
