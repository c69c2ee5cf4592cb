package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Backlog reports whether a transport's connections, taken together,
// have fallen behind its publishers: many of them hold a queue of frames
// that the machine has not had the CPU to write yet. Transports register
// one with Engine.AddBacklog, and while any reports that it is behind,
// Target.Emit waits before it publishes (see Config.MaxLagWait), so that
// under a burst the backlog stays with the publisher instead of growing in
// every subscriber's queue, and delivery latency stays bounded.
//
// Behind reports whether the transport is behind and, when it is, returns
// a channel that is closed once it may no longer be (the engine then asks
// again), so that a publisher resumes as soon as the writers catch up. It
// must be cheap and safe for concurrent use, and must not count clients
// that stopped reading: those are the slow-consumer policy's business
// (queue limit, close 4008), and must never hold back publishers.
type Backlog interface {
	Behind() (behind bool, ready <-chan struct{})
}

// backlogs is the engine's set of registered Backlogs, read without a lock
// by every Emit.
type backlogs struct {
	mu   sync.Mutex
	list atomic.Pointer[[]Backlog]
}

// AddBacklog registers b until the returned function is called (it is
// idempotent). Transport handlers call it in their constructor and the
// returned function when they close.
func (e *Engine) AddBacklog(b Backlog) (remove func()) {
	e.backlogs.mu.Lock()
	var list []Backlog
	if p := e.backlogs.list.Load(); p != nil {
		list = slices.Clone(*p)
	}
	list = append(list, b)
	e.backlogs.list.Store(&list)
	e.backlogs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.backlogs.mu.Lock()
			defer e.backlogs.mu.Unlock()
			list := slices.Clone(*e.backlogs.list.Load())
			if i := slices.Index(list, b); i >= 0 {
				list = slices.Delete(list, i, i+1)
			}
			e.backlogs.list.Store(&list)
		})
	}
}

// waitForWriters holds a publisher while a registered Backlog is behind,
// for at most Config.MaxLagWait in all, and not once the engine shuts
// down. It blocks rather than spins, leaving the CPU to the writers (and,
// on a shared machine, to the clients).
func (e *Engine) waitForWriters() {
	if e.cfg.MaxLagWait < 0 {
		return
	}
	p := e.backlogs.list.Load()
	if p == nil {
		return
	}
	var deadline <-chan time.Time
	for _, b := range *p {
		for {
			behind, ready := b.Behind()
			if !behind {
				break
			}
			if deadline == nil {
				e.stats.lagWaits.Add(1)
				t := time.NewTimer(e.cfg.MaxLagWait)
				defer t.Stop()
				deadline = t.C
			}
			select {
			case <-ready:
			case <-deadline:
				return
			case <-e.stop:
				return
			}
		}
	}
}
