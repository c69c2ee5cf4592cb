package ws

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/sendq"
)

var _ engine.Conn = (*conn)(nil)

// conn is one WebSocket connection as the engine sees it (engine.Conn).
//
// Writing is a small state machine under mu. Frames wait in q; control
// frames that gorilla writes (pongs, the echo of a client's close) wait in
// ctl. A conn with something to write is queued once in the Handler's
// writers (queued); a writer drains everything into one buffer (flush) and
// writes it without waiting, so at most one write per connection is under
// way (busy). What the socket does not take at once is written by a
// goroutine of the conn's own (waiting), bounded by Config.WriteTimeout.
// When a write completes the conn queues itself again if more came in
// meanwhile: no frame is stranded and no goroutine waits for frames.
type conn struct {
	h      *Handler
	q      *sendq.Queue
	remote string

	sess  atomic.Pointer[engine.Session]     // set once Open succeeded
	cause atomic.Pointer[engine.CloseReason] // first read or write error

	mu       sync.Mutex
	sock     *socket         // set when the connection is taken from net/http
	ms       *melody.Session // nil until melody's connect callback
	attached bool            // the handshake is written: writes go through the writers
	queued   bool            // in the writers' FIFO
	busy     bool            // a write is under way
	waiting  bool            // ... on a goroutine waiting for the client to read
	ctl      []byte          // control frames queued by gorilla
	closeMsg []byte          // close frame payload once Close was called
	reason   engine.CloseReason
	// closeSent: the close frame is written or being written; nothing
	// follows it. sockClosing: close the socket once the write under way
	// is done (melody ended the connection, or the close frame is out).
	closeSent, sockClosing, sockClosed bool
	ctlCloses                          bool  // ctl ends with a close frame
	congested                          bool  // counted in the Handler's backlog (noteBacklogLocked)
	waitingSince                       int64 // nanos() when waiting was set
}

func newConn(h *Handler, remote string) *conn {
	return &conn{h: h, q: sendq.New(h.cfg.QueueBytes), remote: remote}
}

// Send queues frame and, unless a write for this connection is already
// queued or under way, queues the connection for a write. It never blocks.
// It returns sendq.ErrFull when the queue would pass Config.QueueBytes (the
// engine then closes the session as a slow consumer; the queue refuses every
// later frame) and sendq.ErrClosed after that or after Close.
func (c *conn) Send(frame []byte) error {
	if err := c.q.Push(frame); err != nil {
		return err
	}
	c.afterQueue()
	return nil
}

// SendVolatile queues a volatile frame if it fits (engine.BoundedConn):
// one that does not is dropped for this client, which goes on.
func (c *conn) SendVolatile(frame []byte) bool {
	if c.q.PushDroppable(frame) != nil {
		return false
	}
	c.afterQueue()
	return true
}

var _ engine.BoundedConn = (*conn)(nil)

// FitsReplay reports whether a recovery replay fits the send queue
// (engine.BoundedConn).
func (c *conn) FitsReplay(frames [][]byte) bool { return c.q.FitsReplay(frames) }

// afterQueue notes a frame just queued and schedules a write.
func (c *conn) afterQueue() {
	c.mu.Lock()
	c.noteBacklogLocked()
	c.scheduleLocked()
	c.mu.Unlock()
}

// noteBacklogLocked keeps c's place in the Handler's count of congested
// connections (the Handler's backlog): c counts while it has congestedFrames or
// more queued, unless its write waits for the client — a client that does
// not read must never hold back publishers. Called with mu held.
func (c *conn) noteBacklogLocked() {
	c.setCongestedLocked(c.q.Frames() >= congestedFrames && !c.stalledLocked() && c.attached && !c.sockClosing)
}

// epoch makes nanos monotonic.
var epoch = time.Now()

// nanos is a monotonic clock in nanoseconds, smaller to keep per
// connection than a time.Time.
func nanos() int64 { return int64(time.Since(epoch)) + 1 }

// stalledLocked reports whether c's write waits for its client. Over plain
// TCP a write waits on its own goroutine only when the socket is full; over
// TLS every write does, and it counts as stalled once it has taken longer
// than stalledAfter.
func (c *conn) stalledLocked() bool {
	return c.waiting && (c.sock.raw != nil || nanos()-c.waitingSince > int64(stalledAfter))
}

func (c *conn) setCongestedLocked(v bool) {
	if c.congested == v {
		return
	}
	c.congested = v
	if v {
		c.h.backlog.add(0, 1)
	} else {
		c.h.backlog.add(0, -1)
	}
}

// scheduleLocked queues c for a write when it has something to write and
// no write is queued or under way; when it has nothing left and the socket
// is to be closed, it closes it. Called with mu held.
func (c *conn) scheduleLocked() {
	if !c.attached || c.queued || c.busy || c.sockClosed {
		return
	}
	if !c.pendingLocked() {
		if c.sockClosing {
			c.closeSocketLocked()
		}
		return
	}
	c.queued = true
	c.h.writers.push(c)
}

// pendingLocked reports whether c has anything to write.
func (c *conn) pendingLocked() bool {
	if len(c.ctl) > 0 {
		return true
	}
	if c.sockClosing || c.closeSent {
		return false
	}
	return c.q.Frames() > 0 || c.closeMsg != nil
}

// Close sends a close frame with the reason's code and text after the
// write under way and, except for a slow consumer, after the frames still
// queued (one last message); a slow consumer's queued frames are dropped,
// as the client recovers them from history. Once the close frame is
// written the TCP connection is closed. Close does not wait and is
// idempotent.
func (c *conn) Close(r engine.CloseReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeMsg != nil {
		return nil
	}
	c.reason = r
	c.closeMsg = websocket.FormatCloseMessage(sendableCode(r.Code), truncateReason(r.Text))
	c.q.Close(r.Code) // for a slow consumer, drops what is queued
	c.scheduleLocked()
	return nil
}

// attach runs once the handshake is written: what was queued before goes.
func (c *conn) attach(ms *melody.Session) {
	c.mu.Lock()
	c.ms = ms
	c.attached = true
	c.h.backlog.add(1, 0)
	c.scheduleLocked()
	c.mu.Unlock()
}

func (c *conn) handshakeDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attached
}

// writeControl queues a frame gorilla writes after the handshake; queued
// is false before it (the handshake answer is written directly).
func (c *conn) writeControl(p []byte) (n int, queued bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.attached:
		return 0, false, nil
	case c.sockClosed:
		return 0, true, net.ErrClosed
	case c.closeSent:
		return len(p), true, nil // nothing may follow our close frame
	}
	c.ctl = append(c.ctl, p...)
	if len(p) > 0 && p[0]&0x0f == opClose {
		// gorilla's echo of the client's close frame, or its own close
		// for a protocol error: nothing may follow it (RFC 6455 §5.5.1).
		c.closeSent, c.ctlCloses = true, true
	}
	c.scheduleLocked()
	return len(p), true, nil
}

// ping queues a ping frame (Handler.pingAll).
func (c *conn) ping() {
	c.mu.Lock()
	if c.attached && !c.sockClosing && !c.closeSent {
		c.ctl = append(c.ctl, finBit|opPing, 0)
		c.scheduleLocked()
	}
	c.mu.Unlock()
}

// closeSocket closes the socket once nothing is being written (melody
// calls it through socket.Close when the connection ends). A write that
// waits for the client is cut short: the client is gone or has closed.
func (c *conn) closeSocket() {
	c.mu.Lock()
	if c.waiting && !c.sockClosed {
		c.markClosingLocked()
		c.shutLocked()
	} else {
		c.closeSocketLocked()
	}
	c.mu.Unlock()
}

// markClosingLocked records that the socket is to be closed: c no longer
// counts as an open connection.
func (c *conn) markClosingLocked() {
	if !c.sockClosing && c.attached {
		c.h.backlog.add(-1, 0)
	}
	c.sockClosing = true
	c.setCongestedLocked(false)
}

func (c *conn) closeSocketLocked() {
	c.markClosingLocked()
	if c.sockClosed || c.busy || c.queued {
		return // the write under way or queued closes it (scheduleLocked)
	}
	c.shutLocked()
}

// shutLocked closes the network connection without waiting for the
// client: mu is held by publishers' Sends and by the writers. A plain TCP
// socket closes at once. A TLS connection's Close would first write a
// close_notify alert and wait up to 5 s for a client that stopped reading;
// after the WebSocket close frame it adds nothing, so the TCP connection
// under it is closed first and the alert fails at once. Any other kind of
// connection is closed on a goroutine of its own. Called with mu held.
func (c *conn) shutLocked() {
	c.sockClosed = true
	switch nc := c.sock.Conn.(type) {
	case *tls.Conn:
		_ = nc.NetConn().Close()
		_ = nc.Close()
	default:
		if c.sock.raw != nil {
			_ = nc.Close()
			return
		}
		go func() { _ = nc.Close() }()
	}
}

// flush runs on a writer: it writes everything c has queued as one buffer,
// as far as the socket takes it now, and leaves the rest to a goroutine
// that waits for the client.
func (c *conn) flush() {
	c.mu.Lock()
	c.queued = false
	if c.busy || c.sockClosed {
		c.mu.Unlock()
		return
	}
	o := c.fillLocked()
	if o == nil {
		c.scheduleLocked()
		c.mu.Unlock()
		return
	}
	c.busy = true
	c.mu.Unlock()

	n, err := c.sock.tryWrite(o.p)
	if err != nil || n == len(o.p) {
		c.wrote(o, err)
		return
	}
	o.p = o.p[n:]
	c.mu.Lock()
	if c.sockClosing { // melody ended the connection meanwhile: nobody would read the rest
		c.mu.Unlock()
		c.wrote(o, net.ErrClosed)
		return
	}
	c.waiting, c.waitingSince = true, nanos()
	c.noteBacklogLocked()
	c.mu.Unlock()
	go c.writeRest(o)
}

// writeRest writes what the socket did not take at once.
func (c *conn) writeRest(o *out) {
	c.wrote(o, c.sock.writeAll(o.p, c.h.cfg.WriteTimeout))
}

// wrote ends a write: on an error the connection is closed (melody's
// reading goroutine then ends it), else c is queued again if more is
// waiting, or the socket closed after the close frame.
func (c *conn) wrote(o *out, err error) {
	closes := o.closes
	putOut(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy, c.waiting = false, false
	if err != nil {
		c.setCause(engine.CloseReason{Code: engine.CloseAbnormal, Text: "connection lost"})
		c.h.log.Debug("hubbub/ws: write failed", "remote", c.remote, "err", err)
		c.closeSocketLocked()
		return
	}
	if closes {
		c.markClosingLocked()
	}
	c.scheduleLocked()
}

// fillLocked moves what c has to write into one pooled buffer: the
// control frames, then every queued frame as one text message (a single
// frame as itself, several as a JSON array), then the close frame once
// nothing else is left. It returns nil when there is nothing to write.
func (c *conn) fillLocked() *out {
	if !c.pendingLocked() {
		return nil
	}
	o := outPool.Get().(*out)
	b := append(o.b[:0], c.ctl...)
	c.ctl = nil // an idle connection holds no buffer
	if c.ctlCloses {
		c.ctlCloses, o.closes = false, true
	}
	start := 0
	if !c.sockClosing && !c.closeSent {
		if n, _ := c.q.Len(); n > 0 {
			o.frames = c.q.Drain(o.frames[:0])
			c.setCongestedLocked(false)
			at := len(b)
			b = append(b, make([]byte, maxHeaderBytes)...)
			b = engine.AppendBatch(b, o.frames)
			clear(o.frames)
			h := putHeader(b[at:at+maxHeaderBytes], opText, len(b)-at-maxHeaderBytes)
			// Close the gap before the header: move the control frames up.
			copy(b[h:at+h], b[:at])
			start = h
		}
		if c.closeMsg != nil && c.q.Closed() {
			if n, _ := c.q.Len(); n == 0 {
				b = append(b, finBit|opClose, byte(len(c.closeMsg)))
				b = append(b, c.closeMsg...)
				c.closeSent, o.closes = true, true
			}
		}
	}
	o.b, o.p = b, b[start:]
	return o
}

// setCause records the first error seen on the connection.
func (c *conn) setCause(r engine.CloseReason) { c.cause.CompareAndSwap(nil, &r) }

// disconnectReason is why the connection ended: the reason it was closed
// with, else the peer's close frame or the error that ended it.
func (c *conn) disconnectReason() engine.CloseReason {
	c.mu.Lock()
	closed, r := c.closeMsg != nil, c.reason
	c.mu.Unlock()
	if closed {
		return r
	}
	if p := c.cause.Load(); p != nil {
		return *p
	}
	return engine.CloseReason{Code: engine.CloseAbnormal, Text: "connection lost"}
}

// out is a pooled write buffer: the frames drained from the queue, the
// bytes they are encoded into, and the part still to be written.
type out struct {
	b, p   []byte
	frames [][]byte
	closes bool // ends with the close frame
}

var outPool = sync.Pool{New: func() any { return new(out) }}

// Buffers above these sizes are left to the garbage collector, so that one
// burst does not pin a large buffer in the pool.
const (
	maxPooledBytes  = 256 << 10
	maxPooledFrames = 4 << 10
)

func putOut(o *out) {
	if cap(o.b) > maxPooledBytes || cap(o.frames) > maxPooledFrames {
		return
	}
	o.b, o.p, o.frames, o.closes = o.b[:0], nil, o.frames[:0], false
	outPool.Put(o)
}

// sendableCode maps codes that must not appear in a close frame (RFC 6455
// §7.4) to 1000.
func sendableCode(c engine.CloseCode) int {
	switch code := int(c); {
	case code == 1004, code == websocket.CloseNoStatusReceived,
		code == websocket.CloseAbnormalClosure, code == websocket.CloseTLSHandshake,
		code < 1000, code >= 5000, code > 1015 && code < 3000:
		return websocket.CloseNormalClosure
	}
	return int(c)
}

// maxReasonBytes is what fits in a close frame after the code.
const maxReasonBytes = 123

func truncateReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	i := maxReasonBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
