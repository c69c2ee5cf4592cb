package ws

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/sendq"
)

var _ engine.Conn = (*conn)(nil)

// conn is one WebSocket connection as the engine sees it (engine.Conn).
//
// Writing is a small state machine under mu: frames wait in q; when no
// message is in flight, pumpLocked drains q and hands melody one message;
// melody's write goroutine reports it written (sent), which clears the
// in-flight mark and pumps again. Send pushes and then pumps under mu, and
// sent clears the mark under mu before it drains, so a frame pushed while a
// message is in flight is always drained by the sent that follows: no frame
// is stranded and no goroutine waits for frames.
type conn struct {
	h      *Handler
	q      *sendq.Queue
	remote string

	sess  atomic.Pointer[engine.Session]     // set once Open succeeded
	cause atomic.Pointer[engine.CloseReason] // first read or write error

	mu       sync.Mutex
	ms       *melody.Session // nil until melody's connect callback
	inFlight bool            // a data message is in melody's channel or being written
	waiting  bool            // queued for a turn of the Handler's write budget
	buf      *batch          // the pooled buffer of that message; nil for a single frame
	closeMsg []byte          // close frame payload once Close was called
	reason   engine.CloseReason
	done     bool // the close message was handed to melody, or melody's session is closed
}

func newConn(h *Handler, remote string) *conn {
	return &conn{h: h, q: sendq.New(h.cfg.QueueBytes), remote: remote}
}

// Send queues frame and, when no message is being written, writes every
// queued frame as one message. It never blocks. It returns sendq.ErrFull
// when the queue would pass Config.QueueBytes (the engine then closes the
// session as a slow consumer) and sendq.ErrClosed after Close.
//
// The first ErrFull closes the queue: every later frame is refused too,
// even if the queue drains before the engine's asynchronous close has run.
// Otherwise the client could receive event n+1 after losing event n, a gap
// it would not know to recover.
func (c *conn) Send(frame []byte) error {
	if err := c.q.Push(frame); err != nil {
		if errors.Is(err, sendq.ErrFull) {
			c.q.Close()
		}
		return err
	}
	c.mu.Lock()
	c.scheduleLocked()
	c.mu.Unlock()
	return nil
}

// scheduleLocked writes the queued frames now if the Handler's write
// budget allows, or queues c for its turn. Called with mu held.
func (c *conn) scheduleLocked() {
	if c.ms == nil || c.inFlight || c.done || c.waiting {
		return
	}
	if c.h.budget == nil || c.h.budget.take(c) {
		c.pumpLocked()
		return
	}
	c.waiting = true
}

// Close sends a close frame with the reason's code and text after the
// message in flight and, except for a slow consumer, after the frames still
// queued (one last batch); a slow consumer's queued frames are dropped, as
// the client recovers them from history. Once the close frame is written
// melody drops the TCP connection. Close does not wait and is idempotent.
func (c *conn) Close(r engine.CloseReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeMsg != nil {
		return nil
	}
	c.reason = r
	c.closeMsg = websocket.FormatCloseMessage(sendableCode(r.Code), truncateReason(r.Text))
	c.q.Close()
	if r.Code == engine.CloseSlowConsumer {
		b := batchPool.Get().(*batch)
		b.frames = c.q.Drain(b.frames[:0])
		clear(b.frames)
		putBatch(b)
	}
	c.pumpLocked()
	return nil
}

// attach binds the melody session and writes what was queued before.
func (c *conn) attach(ms *melody.Session) {
	c.mu.Lock()
	c.ms = ms
	c.pumpLocked()
	c.mu.Unlock()
}

// sent runs on melody's write goroutine after our message was written.
func (c *conn) sent() {
	c.mu.Lock()
	if c.buf != nil {
		putBatch(c.buf)
		c.buf = nil
	}
	c.inFlight = false
	if n, _ := c.q.Len(); n > 0 {
		c.scheduleLocked()
	} else {
		c.pumpLocked() // the close message, if any
	}
	c.mu.Unlock()
	if c.h.budget != nil {
		c.h.budget.serve() // this write's completion hands out due tokens
	}
}

// pumpLocked hands melody the next message: every queued frame as one
// batch, or, once Close was called and nothing is left, the close message.
// It does nothing while a message is in flight. Called with mu held; melody
// only puts the message in its channel, which has room by construction.
func (c *conn) pumpLocked() {
	if c.ms == nil || c.inFlight || c.done {
		return
	}
	if n, _ := c.q.Len(); n > 0 {
		if c.waiting {
			return // the budget pumps c in turn
		}
		b := batchPool.Get().(*batch)
		b.frames = c.q.Drain(b.frames[:0])
		var msg []byte
		switch len(b.frames) {
		case 0:
			putBatch(b)
			return
		case 1:
			// Frames are immutable until delivered: write it as it is.
			msg = b.frames[0]
			clear(b.frames)
			putBatch(b)
			b = nil
		default:
			b.b = engine.AppendBatch(b.b[:0], b.frames)
			clear(b.frames)
			msg = b.b
		}
		if err := c.ms.Write(msg); err != nil { // melody's session is closed
			if b != nil {
				putBatch(b)
			}
			c.done = true
			return
		}
		c.inFlight, c.buf = true, b
		return
	}
	if c.closeMsg != nil {
		c.done = true
		_ = c.ms.CloseWithMsg(c.closeMsg)
	}
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
	return engine.CloseReason{Code: websocket.CloseAbnormalClosure, Text: "connection lost"}
}

// batch is a pooled write buffer: the frames drained from the queue and
// the JSON array they are encoded into.
type batch struct {
	b      []byte
	frames [][]byte
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// Buffers above these sizes are left to the garbage collector, so that one
// burst does not pin a large buffer in the pool.
const (
	maxPooledBytes  = 256 << 10
	maxPooledFrames = 4 << 10
)

func putBatch(b *batch) {
	if cap(b.b) > maxPooledBytes || cap(b.frames) > maxPooledFrames {
		return
	}
	b.b, b.frames = b.b[:0], b.frames[:0]
	batchPool.Put(b)
}

// sendableCode maps codes that must not appear in a close frame (RFC 6455
// §7.4) to 1000.
func sendableCode(code int) int {
	switch {
	case code == 1004, code == websocket.CloseNoStatusReceived,
		code == websocket.CloseAbnormalClosure, code == websocket.CloseTLSHandshake,
		code < 1000, code >= 5000, code > 1015 && code < 3000:
		return websocket.CloseNormalClosure
	}
	return code
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

// connOf returns the conn of a melody session between onConnect and
// onDisconnect, and nil outside.
func (h *Handler) connOf(ms *melody.Session) *conn {
	c, _ := h.live.Get(ms)
	return c
}

// onConnect runs on the connection's goroutine once the handshake is done
// and melody registered the session, before its write goroutine starts:
// the hello frame queued by Open waits in melody's channel. The request is
// dropped here: nothing reads it after the handshake, and its headers would
// otherwise stay in memory as long as the connection.
func (h *Handler) onConnect(ms *melody.Session) {
	c := ms.Request.Context().Value(connCtxKey{}).(*conn)
	ms.Request = nil
	h.live.Put(ms, c)
	c.attach(ms)
	if h.isClosed() {
		c.sess.Load().Close(engine.ReasonGoingAway)
	}
}

// onMessage runs in the request's goroutine for each text message.
func (h *Handler) onMessage(ms *melody.Session, msg []byte) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	s := c.sess.Load()
	if s == nil {
		return
	}
	if len(msg) > h.cfg.MaxMessageBytes {
		h.log.Info("hubbub/ws: message too big", "session", s.ID(), "user", s.UserID(), "remote", c.remote,
			"bytes", len(msg), "limit", h.cfg.MaxMessageBytes)
		s.Close(engine.CloseReason{Code: engine.CloseTooBig,
			Text: fmt.Sprintf("message of %d bytes exceeds the %d-byte limit", len(msg), h.cfg.MaxMessageBytes)})
		return
	}
	_ = s.Receive(msg) // ErrSessionClosed: the rest of the connection is ignored
}

// onBinary closes the connection: the protocol is JSON text.
func (h *Handler) onBinary(ms *melody.Session, msg []byte) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	s := c.sess.Load()
	if s == nil {
		return
	}
	h.log.Info("hubbub/ws: binary message", "session", s.ID(), "user", s.UserID(), "remote", c.remote, "bytes", len(msg))
	s.Close(engine.CloseReason{Code: engine.CloseUnsupported, Text: "binary messages are not supported: send JSON text messages"})
}

// onSent runs on melody's write goroutine after a text message was written.
func (h *Handler) onSent(ms *melody.Session, _ []byte) {
	if c := h.connOf(ms); c != nil {
		c.sent()
	}
}

// onError records why the connection is ending. It may run inside
// pumpLocked (melody reports a write to a closing session synchronously),
// so it must not take conn.mu, and it must not call melody's Close or
// Broadcast (see DESIGN.md).
func (h *Handler) onError(ms *melody.Session, err error) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, melody.ErrWriteClosed):
		// A write raced the end of the connection; nothing to report.
	case errors.Is(err, melody.ErrMessageBufferFull):
		// Cannot happen: at most two of our envelopes are ever in the
		// channel. If it does, a message was lost: end the session from
		// another goroutine (we may be inside pumpLocked).
		h.log.Error("hubbub/ws: melody dropped a message", "remote", c.remote)
		r := engine.CloseReason{Code: engine.CloseInternal, Text: "internal error: message dropped"}
		c.setCause(r)
		go func() {
			if s := c.sess.Load(); s != nil {
				s.Close(r)
			} else {
				_ = c.Close(r)
			}
		}()
	case errors.Is(err, websocket.ErrReadLimit):
		r := engine.CloseReason{Code: engine.CloseTooBig,
			Text: fmt.Sprintf("message exceeds the %d-byte hard limit", h.cfg.hardLimit())}
		c.setCause(r)
		h.log.Info("hubbub/ws: message too big", "remote", c.remote, "limit", h.cfg.hardLimit())
	case errors.As(err, &ce):
		c.setCause(engine.CloseReason{Code: ce.Code, Text: ce.Text})
	default:
		c.setCause(engine.CloseReason{Code: websocket.CloseAbnormalClosure, Text: "connection lost"})
		h.log.Debug("hubbub/ws: connection error", "remote", c.remote, "err", err)
	}
}

// onDisconnect runs in the request's goroutine after melody closed the
// connection: the session ends with the reason it was closed with, or the
// peer's close code, or 1006.
func (h *Handler) onDisconnect(ms *melody.Session) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	h.live.Delete(ms)
	if s := c.sess.Load(); s != nil {
		s.Close(c.disconnectReason())
	}
}
