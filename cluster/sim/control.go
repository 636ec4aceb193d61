package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/control"
	"github.com/swarmops/swarmops/cluster/dispatcher"
	"github.com/swarmops/swarmops/cluster/store"
)

// leader is what runs on the leading manager: the dispatcher of the
// agents' sessions and the control loop. Both keep state in memory only
// (sessions and heartbeats; when to wake), so a leader change is a new
// leader built from the store.
type leader struct {
	term int
	disp *dispatcher.Dispatcher
	loop *control.Loop
}

// elect makes a new leader, as a Raft election does: the old one's memory
// is gone.
func (s *Sim) elect() error {
	term := 1
	if s.leader != nil {
		term = s.leader.term + 1
	}
	disp, err := dispatcher.New(dispatcher.Config{
		Store:   s.st,
		Propose: func(_ context.Context, data []byte) (uint64, error) { return s.commit("dispatcher", data) },
		Now:     func() time.Time { return s.now },
	})
	if err != nil {
		return fmt.Errorf("leader %d: %w", term, err)
	}
	loop, err := control.New(control.Config{
		Store:   s.st,
		Propose: s.proposeControl,
		Now:     func() time.Time { return s.now },
		After: func(time.Duration) <-chan time.Time {
			panic("sim: the control loop's timers are never used: the simulation calls Settle")
		},
		NewID: func() string { return s.newID("task") },
	})
	if err != nil {
		return fmt.Errorf("leader %d: %w", term, err)
	}
	s.leader = &leader{term: term, disp: disp, loop: loop}
	return nil
}

// control runs the real control loop until it settles. Only the status
// reports the faults slip in while its proposals are in flight may keep
// it from settling; anything else is a loop that does not converge.
func (s *Sim) control() error {
	res, err := s.leader.loop.Settle(ctx)
	if err != nil {
		return fmt.Errorf("control loop: %w", err)
	}
	s.wake = res.Wake
	if !res.Settled && res.Conflicts == 0 {
		return fmt.Errorf("control loop: still changing things after %d passes", res.Passes)
	}
	if !res.Settled {
		s.wrote = true // it has more to do next step
	}
	return nil
}

// proposeControl commits the control loop's batches. While faults are on,
// an agent's status report sometimes lands while a batch is in flight, so
// that the loop meets stale plans as a real leader does.
func (s *Sim) proposeControl(_ context.Context, data []byte) (uint64, error) {
	if s.faults && s.rng.IntN(8) == 0 {
		if err := s.interfere(); err != nil {
			return 0, err
		}
	}
	return s.commit(fmt.Sprintf("control[%d]", s.leader.term), data)
}

// interfere re-reports the status of a random placed task, as an agent
// that restarted does: it changes nothing but the task's version.
func (s *Sim) interfere() error {
	st, err := s.read()
	if err != nil {
		return err
	}
	var placed []*swarm.Task
	for _, t := range st.tasks {
		if t.NodeID != "" && between(t.Status.State, swarm.TaskStateAssigned, swarm.TaskStateRunning) {
			placed = append(placed, t)
		}
	}
	if len(placed) == 0 {
		return nil
	}
	t := placed[s.rng.IntN(len(placed))]
	next := t.Status
	next.Timestamp = s.now
	next.Message = fmt.Sprintf("%s (re-reported)", t.Status.Message)
	data, err := store.EncodeBatch(store.SetTaskStatus(t.ID, t.NodeID, next))
	if err != nil {
		return err
	}
	_, err = s.commit("in flight: agent "+t.NodeID, data)
	return err
}

// expire is the dispatcher's heartbeat check at the fake time.
func (s *Sim) expire() error {
	if _, err := s.leader.disp.Expire(ctx, s.now); err != nil {
		return fmt.Errorf("heartbeat check: %w", err)
	}
	return nil
}
