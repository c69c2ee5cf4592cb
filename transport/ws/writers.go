package ws

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// writers write the Handler's connections: a FIFO of connections with
// something to write, served by at most one goroutine per CPU
// (GOMAXPROCS). A writer takes the oldest connection, drains its queue into
// one WebSocket message and writes it to the socket without waiting
// (conn.flush); a connection that still has frames goes to the back of the
// FIFO. A write that the client's receive window cannot take at once
// continues on a goroutine of that connection's own, so a client that
// reads slowly never holds a writer.
//
// Under light load a frame is written as soon as it is queued. Under a
// broadcast burst to thousands of connections the writers are busy, the
// FIFO is long, and while a connection waits for its turn its frames pile
// up into one larger message: fewer system calls per frame exactly when the
// CPU is short, and no goroutine is woken per connection and per write.
type writers struct {
	max     int
	limiter *rate.Limiter // nil: no bound on writes per second
	wake    chan struct{} // one token per push that counted on an idle writer
	done    chan struct{} // closed by stop

	mu      sync.Mutex
	fifo    []*conn
	head    int
	running int
	idle    int
	stopped bool
	wg      sync.WaitGroup
}

// writerIdle is how long a writer goroutine waits for work before it
// exits, so that an idle Handler holds none.
const writerIdle = 5 * time.Second

func newWriters(n, perSecond int) *writers {
	w := &writers{max: n, wake: make(chan struct{}, n), done: make(chan struct{})}
	if perSecond > 0 {
		w.limiter = rate.NewLimiter(rate.Limit(perSecond), max(1, perSecond/100))
	}
	return w
}

// push queues c for a write. The caller marks c as queued (conn.queued) so
// that a connection is in the FIFO at most once.
func (w *writers) push(c *conn) {
	w.mu.Lock()
	w.fifo = append(w.fifo, c)
	switch {
	case w.idle > 0:
		w.idle--
		w.wake <- struct{}{} // never blocks: at most max tokens are owed
	case w.running < w.max:
		w.running++
		w.wg.Add(1)
		go w.run()
	}
	w.mu.Unlock()
}

func (w *writers) run() {
	defer w.wg.Done()
	t := time.NewTimer(writerIdle)
	t.Stop()
	w.mu.Lock()
	for {
		if w.head == len(w.fifo) {
			if w.stopped || !w.waitLocked(t) {
				w.running--
				w.mu.Unlock()
				return
			}
			continue
		}
		c := w.popLocked()
		w.mu.Unlock()
		if w.limiter != nil {
			_ = w.limiter.Wait(context.Background())
		}
		c.flush()
		w.mu.Lock()
	}
}

// popLocked takes the FIFO's head; the FIFO must not be empty.
func (w *writers) popLocked() *conn {
	c := w.fifo[w.head]
	w.fifo[w.head] = nil
	w.head++
	if w.head == len(w.fifo) {
		w.fifo, w.head = w.fifo[:0], 0
	} else if w.head >= 1024 && w.head*2 >= len(w.fifo) {
		n := copy(w.fifo, w.fifo[w.head:])
		clear(w.fifo[n:])
		w.fifo, w.head = w.fifo[:n], 0
	}
	return c
}

// waitLocked waits idle for a push, up to writerIdle or until stop. It
// reports false when the writer should exit. Called with mu held; it
// returns with mu held.
func (w *writers) waitLocked(t *time.Timer) bool {
	w.idle++
	w.mu.Unlock()
	t.Reset(writerIdle)
	select {
	case <-w.wake: // push took this writer off the idle count
		t.Stop()
		w.mu.Lock()
		return true
	case <-t.C:
	case <-w.done:
		t.Stop()
	}
	w.mu.Lock()
	select {
	case <-w.wake: // a push counted on an idle writer meanwhile: be it
		return true
	default:
	}
	w.idle--
	return w.head < len(w.fifo)
}

// stop makes the writers exit once the FIFO is empty and waits for them.
func (w *writers) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
