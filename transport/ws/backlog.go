package ws

import (
	"sync"
	"sync/atomic"
	"time"
)

// Backpressure: when the Handler counts as behind (backlog.behind).
const (
	// congestedFrames is the queue length from which a connection counts
	// as congested: the publisher has run that many events ahead of the
	// writers' round over it.
	congestedFrames = 28
	// behindShare: the Handler is behind while more than 1/behindShare of
	// its open connections are congested.
	behindShare = 4
	// stalledAfter: a write over TLS (which always waits on a goroutine of
	// its own) that has taken longer waits for its client, not for the CPU.
	stalledAfter = 50 * time.Millisecond
)

// backlog is the Handler's engine.Backlog: it counts the open connections
// and those of them that are congested (conn.noteBacklogLocked), and wakes
// waiting publishers as soon as the share of congested connections falls
// back to a quarter or less.
//
// A connection is congested while it has congestedFrames or more queued
// and its write is not waiting for its client (conn.stalledLocked). So
// the Handler is behind when the writers, which serve connections in turn
// as fast as the CPU lets them, have fallen congestedFrames events behind
// the publishers on many connections: the CPU cannot write as fast as the
// application publishes, and holding the publisher keeps the rest of the
// burst out of every queue and the delivery latency bounded. A client that
// stops reading never counts: its write waits on its own goroutine, and
// its queue overflows and closes it with 4008 as before.
type backlog struct {
	open      atomic.Int64 // connections past the handshake and not closing
	congested atomic.Int64
	waited    atomic.Bool // a publisher holds ready

	mu    sync.Mutex
	ready chan struct{} // closed when no longer behind
}

func (b *backlog) behind() bool {
	c := b.congested.Load()
	return c > 0 && behindShare*c > b.open.Load()
}

// Behind implements engine.Backlog.
func (b *backlog) Behind() (bool, <-chan struct{}) {
	if !b.behind() {
		return false, nil
	}
	b.mu.Lock()
	if b.ready == nil {
		b.ready = make(chan struct{})
		b.waited.Store(true)
	}
	ready := b.ready
	b.mu.Unlock()
	if !b.behind() { // it eased before ready was there to close
		b.release()
	}
	return true, ready
}

// add changes the counts by the given deltas and releases waiting
// publishers if the Handler is no longer behind.
func (b *backlog) add(open, congested int64) {
	if open != 0 {
		b.open.Add(open)
	}
	if congested != 0 {
		b.congested.Add(congested)
	}
	if b.waited.Load() && !b.behind() {
		b.release()
	}
}

func (b *backlog) release() {
	b.mu.Lock()
	if b.ready != nil {
		close(b.ready)
		b.ready = nil
		b.waited.Store(false)
	}
	b.mu.Unlock()
}
