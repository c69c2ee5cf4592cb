// Package sendq is the bounded per-session send queue that every hubbub
// transport puts between the engine and its socket.
//
// The engine hands a session frames without blocking; the transport's writer
// takes everything queued at once and writes it as one message (write
// coalescing). The queue is bounded by bytes, not by frame count, so a slow
// client cannot make the server hold unbounded memory: when a push would pass
// the bound it fails with ErrFull and the engine closes the session as a
// slow consumer, so the client knows it must recover.
//
// The rules every transport's queue follows live here, not in the
// transports: the first refused frame closes the queue, so that no later
// frame gets through after a lost one (a client must never see event n+1
// without n, a gap it would not know to recover); and a queue closed for a
// slow consumer drops what it holds, since the client recovers it from
// room history, while any other close keeps the queued frames for the
// transport to write before its close frame.
package sendq

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hubbubhq/hubbub/protocol"
)

var (
	// ErrFull is returned by Push when the frame would pass the byte bound.
	ErrFull = errors.New("sendq: queue full")
	// ErrClosed is returned by Push after Close.
	ErrClosed = errors.New("sendq: queue closed")
)

// frameOverhead is what each queued frame costs beyond its bytes (slice
// header and bookkeeping), so that many tiny frames also hit the bound.
const frameOverhead = 32

// Queue is a FIFO of encoded frames bounded by bytes. It is safe for
// concurrent use by many producers and one consumer. Frames are queued by
// reference: producers must not modify a frame after pushing it.
type Queue struct {
	mu     sync.Mutex
	frames [][]byte
	n      atomic.Int32 // len(frames), for Frames
	bytes  int
	max    int
	closed bool
	ready  chan struct{} // holds one token while frames are queued and unsignalled
}

// New returns a queue that holds at most maxBytes of frames (plus a small
// per-frame overhead). A frame larger than maxBytes is refused by an empty
// queue too.
func New(maxBytes int) *Queue {
	return &Queue{max: maxBytes, ready: make(chan struct{}, 1)}
}

// Push appends a frame. It never blocks: it returns ErrFull when the queue
// cannot take the frame, and the queue is then closed: every later Push
// returns ErrClosed, even once the queue has drained. After Close it
// returns ErrClosed.
func (q *Queue) Push(frame []byte) error { return q.push(frame, true) }

// PushDroppable appends a frame that may be lost (a volatile event): it
// returns ErrFull when the queue cannot take it, and the queue goes on as
// if it had not been offered. After Close it returns ErrClosed.
func (q *Queue) PushDroppable(frame []byte) error { return q.push(frame, false) }

func (q *Queue) push(frame []byte, closeIfFull bool) error {
	n := len(frame) + frameOverhead
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if q.bytes+n > q.max {
		if !closeIfFull {
			q.mu.Unlock()
			return ErrFull
		}
		q.closed = true
		q.mu.Unlock()
		q.signal() // a consumer waiting on Ready sees the queue closed
		return ErrFull
	}
	wasEmpty := len(q.frames) == 0
	q.frames = append(q.frames, frame)
	q.n.Store(int32(len(q.frames)))
	q.bytes += n
	q.mu.Unlock()
	if wasEmpty {
		q.signal()
	}
	return nil
}

// signal puts the ready token, unless it is already there.
func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready returns a channel that receives a value after frames become
// available. A receive may find the queue already drained; consumers loop
// on Drain.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Drain moves every queued frame, oldest first, onto dst and returns it.
// Passing the previous result (reset to length zero) reuses its storage.
func (q *Queue) Drain(dst [][]byte) [][]byte {
	q.mu.Lock()
	dst = append(dst, q.frames...)
	clear(q.frames)
	q.frames = q.frames[:0]
	q.n.Store(0)
	q.bytes = 0
	q.mu.Unlock()
	return dst
}

// Pop removes and returns the oldest frame, or nil when the queue is empty.
func (q *Queue) Pop() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return nil
	}
	f := q.frames[0]
	q.frames[0] = nil
	q.frames = q.frames[1:]
	q.n.Store(int32(len(q.frames)))
	q.bytes -= len(f) + frameOverhead
	if len(q.frames) > 0 {
		q.signal()
	}
	return f
}

// FitsReplay reports whether frames would take at most half of what the
// queue can still take, leaving the rest for the frames that follow them.
func (q *Queue) FitsReplay(frames [][]byte) bool {
	n := 0
	for _, f := range frames {
		n += len(f) + frameOverhead
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.closed && n <= (q.max-q.bytes)/2
}

// Frames reports the number of queued frames without taking the queue's
// lock, for a producer's hot path: a push or drain running at the same time
// may or may not be counted.
func (q *Queue) Frames() int { return int(q.n.Load()) }

// Len reports the number of queued frames and the bytes they count for.
func (q *Queue) Len() (frames, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames), q.bytes
}

// Close makes every later Push fail with ErrClosed, for a session that
// ends with code. Frames already queued stay available to Drain and Pop,
// except for protocol.CloseSlowConsumer: they are dropped then, as the
// client recovers them from history. Close is idempotent; a later Close
// for a slow consumer still drops what is queued.
func (q *Queue) Close(code protocol.CloseCode) {
	q.mu.Lock()
	q.closed = true
	if code == protocol.CloseSlowConsumer {
		clear(q.frames)
		q.frames = q.frames[:0]
		q.n.Store(0)
		q.bytes = 0
	}
	q.mu.Unlock()
	q.signal()
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
