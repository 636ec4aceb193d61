package raftnode

import (
	"context"
	"sync"
)

// leadership fans raft's NotifyCh out to any number of watchers without
// ever blocking raft: each watcher holds one slot that always carries the
// latest value.
type leadership struct {
	mu      sync.Mutex
	leader  bool
	stopped bool
	subs    map[chan bool]struct{}

	quit chan struct{}
	done chan struct{}
}

func newLeadership(notify <-chan bool, leader bool) *leadership {
	l := &leadership{
		leader: leader,
		subs:   make(map[chan bool]struct{}),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.run(notify)
	return l
}

func (l *leadership) run(notify <-chan bool) {
	defer close(l.done)
	for {
		select {
		case v := <-notify:
			l.set(v)
		case <-l.quit:
			return
		}
	}
}

func (l *leadership) set(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leader = v
	for ch := range l.subs {
		offer(ch, v)
	}
}

// offer replaces whatever the reader has not taken yet; only the sender
// (holding mu) fills the slot, so the send cannot block.
func offer(ch chan bool, v bool) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

func (l *leadership) watch(ctx context.Context) <-chan bool {
	ch := make(chan bool, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		close(ch)
		return ch
	}
	ch <- l.leader
	l.subs[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.subs[ch]; ok {
			delete(l.subs, ch)
			close(ch)
		}
	})
	return ch
}

// stop ends the fan-out and closes every watcher; raft must already be
// shut down, since it blocks on NotifyCh while nobody reads.
func (l *leadership) stop() {
	close(l.quit)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for ch := range l.subs {
		delete(l.subs, ch)
		close(ch)
	}
}
