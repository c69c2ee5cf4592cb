package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Backlog reports whether a transport's connections, taken together,
// have fallen behind its publishers: most of them hold a queue of frames
// that the machine has not had the CPU to write yet. Transports register
// one with Engine.AddBacklog, and while any reports Behind, Target.Emit
// waits before it publishes (see Config.MaxLagWait), so that under a burst
// the backlog stays with the publisher instead of growing in every
// subscriber's queue, and delivery latency stays bounded.
//
// Behind must be cheap and safe for concurrent use, and must not count
// clients that stopped reading: those are the slow-consumer policy's
// business (queue limit, close 4008), and must never hold back publishers.
type Backlog interface {
	Behind() bool
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

func (e *Engine) behind() bool {
	p := e.backlogs.list.Load()
	if p == nil {
		return false
	}
	for _, b := range *p {
		if b.Behind() {
			return true
		}
	}
	return false
}

// lagPoll is how often a waiting publisher asks the Backlogs again.
const lagPoll = 200 * time.Microsecond

// waitForWriters holds a publisher while a registered Backlog is behind,
// for at most Config.MaxLagWait, and not once the engine shuts down. It
// sleeps rather than spins, leaving the CPU to the writers (and, on a
// shared machine, to the clients).
func (e *Engine) waitForWriters() {
	if e.cfg.MaxLagWait < 0 || !e.behind() {
		return
	}
	e.stats.lagWaits.Add(1)
	deadline := time.Now().Add(e.cfg.MaxLagWait)
	t := time.NewTimer(lagPoll)
	defer t.Stop()
	for e.behind() && time.Now().Before(deadline) {
		select {
		case <-e.stop:
			return
		case <-t.C:
			t.Reset(lagPoll)
		}
	}
}
