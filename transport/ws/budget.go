package ws

import (
	"sync"
	"time"
)

// writeBudget paces the messages a Handler hands to melody's write
// goroutines: at most rate per second (plus a burst of rate/100) across all
// connections. A connection with frames queued and no message in flight
// takes a token and is written at once; when none is left it waits its
// turn in a FIFO. Tokens are handed to waiting connections by whoever runs
// next: a write that completes (conn.sent), or a timer when no write is in
// flight. No goroutine of its own can fall behind.
//
// Under light load nothing waits. Under a burst to many connections the
// writes per second stay at rate, every connection is written in turn, and
// while it waits its frames pile up into one larger message: fewer
// syscalls, fewer wakeups of write goroutines, and CPU left for the
// publisher.
type writeBudget struct {
	rate, burst float64

	mu       sync.Mutex
	fifo     []*conn
	head     int
	tokens   float64
	last     time.Time
	timer    *time.Timer
	timerSet bool
	stopped  bool
	turn     []*conn // serve's scratch, under mu until handed out
}

func newWriteBudget(rate int) *writeBudget {
	b := &writeBudget{rate: float64(rate), burst: max(1, float64(rate)/100)}
	b.tokens, b.last = b.burst, time.Now()
	b.timer = time.AfterFunc(time.Hour, func() {
		b.mu.Lock()
		b.timerSet = false
		b.mu.Unlock()
		b.serve()
	})
	b.timer.Stop()
	return b
}

func (b *writeBudget) refillLocked(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take reports whether c may write now; if not, c is queued and will be
// pumped in turn. Called with c.mu held.
func (b *writeBudget) take(c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.head == len(b.fifo) {
		b.refillLocked(time.Now())
		if b.tokens >= 1 {
			b.tokens--
			return true
		}
	}
	b.fifo = append(b.fifo, c)
	b.armLocked()
	return false
}

// armLocked makes sure the timer serves the FIFO once a token is due.
func (b *writeBudget) armLocked() {
	if b.timerSet || b.stopped {
		return
	}
	b.timerSet = true
	b.timer.Reset(max(time.Millisecond, time.Duration((1-b.tokens)/b.rate*float64(time.Second))))
}

// serve hands the tokens available now to waiting connections, oldest
// first. Called without any conn lock held.
func (b *writeBudget) serve() {
	b.mu.Lock()
	if b.head == len(b.fifo) {
		b.mu.Unlock()
		return
	}
	b.refillLocked(time.Now())
	turn := b.turn[:0]
	b.turn = nil
	for b.head < len(b.fifo) && b.tokens >= 1 {
		turn = append(turn, b.fifo[b.head])
		b.fifo[b.head] = nil
		b.head++
		b.tokens--
	}
	if b.head == len(b.fifo) {
		b.fifo, b.head = b.fifo[:0], 0
	} else {
		if b.head >= 1024 && b.head*2 >= len(b.fifo) {
			n := copy(b.fifo, b.fifo[b.head:])
			clear(b.fifo[n:])
			b.fifo, b.head = b.fifo[:n], 0
		}
		b.armLocked()
	}
	b.mu.Unlock()
	for i, c := range turn {
		c.mu.Lock()
		c.waiting = false
		c.pumpLocked()
		c.mu.Unlock()
		turn[i] = nil
	}
	b.mu.Lock()
	if b.turn == nil {
		b.turn = turn[:0]
	}
	b.mu.Unlock()
}

// stop stops the timer once no connection is left.
func (b *writeBudget) stop() {
	b.mu.Lock()
	b.stopped = true
	b.timer.Stop()
	b.mu.Unlock()
}
