package sse

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/sendq"
)

var _ engine.Conn = (*session)(nil)

// session is one engine session as the SSE transport holds it: the engine's
// Conn, the send queue, the numbered replay log and the one reader (stream
// or poll) attached, if any.
//
// Frames are numbered when a reader takes them from the send queue, under
// mu, in queue order; the same pass appends them to the replay log. So
// numbers are gap-free and every numbered frame is in the log until newer
// frames push it out. A reader keeps the number of the next frame it owes
// its client (next): a resuming reader starts at cursor+1 and is served from
// the log, a live one is always caught up. The close frame is numbered
// after the last queued frame once the session is closed and is never
// pushed out of the log (the log always keeps its latest frame).
type session struct {
	h     *Handler
	token string
	q     *sendq.Queue
	es    *engine.Session // set before the session is registered

	mu       sync.Mutex
	log      replayLog
	seq      uint64 // number of the last numbered frame; 0 before the hello
	closed   bool   // Conn.Close was called
	reason   engine.CloseReason
	closeSeq uint64  // number of the close frame once numbered, else 0
	rd       *reader // the attached reader, or nil
	timer    *time.Timer
	due      time.Time // when the timer's action is due; zero when disarmed
	drained  [][]byte  // scratch for q.Drain
}

func newSession(h *Handler) *session {
	return &session{
		h:     h,
		token: newToken(),
		q:     sendq.New(h.cfg.QueueBytes),
		log:   replayLog{first: 1, end: 1, max: h.cfg.ReplayBytes},
	}
}

// newToken returns 128 random bits, base64url-encoded (22 characters).
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Send queues a frame for the session's reader and returns at once. It
// returns sendq.ErrFull when the queue would pass Config.QueueBytes (the
// engine then closes the session as a slow consumer; the queue refuses every
// later frame) and sendq.ErrClosed after that or after Close.
func (s *session) Send(frame []byte) error { return s.q.Push(frame) }

// SendVolatile queues a volatile frame if it fits (engine.BoundedConn):
// one that does not is dropped for this session, which goes on.
func (s *session) SendVolatile(frame []byte) bool { return s.q.PushDroppable(frame) == nil }

var _ engine.BoundedConn = (*session)(nil)

// FitsReplay reports whether a recovery replay fits the send queue
// (engine.BoundedConn).
func (s *session) FitsReplay(frames [][]byte) bool { return s.q.FitsReplay(frames) }

// Close ends the session's transport side: the frames still queued go
// out, then a close frame with r (engine.AppendClose), and the stream
// ends. For a slow consumer the queued frames are dropped instead, as the
// client recovers them from room history. A client that is away gets them
// when it returns within Config.Grace. Close does not block and is
// idempotent.
func (s *session) Close(r engine.CloseReason) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed, s.reason = true, r
	s.q.Close(r.Code) // for a slow consumer, drops what is queued
	rd := s.rd
	if rd == nil {
		s.armLocked() // keep the close frame for a returning client, then forget the session
	}
	s.mu.Unlock()
	if rd != nil {
		rd.signal()
	}
	return nil
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *session) closeReason() engine.CloseReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// reader is a stream or a poll attached to a session.
type reader struct {
	wake chan struct{} // a token when the reader must look at its session
	next uint64        // number of the next frame the client is owed
	out  [][]byte      // scratch for take
}

func newReader() *reader { return &reader{wake: make(chan struct{}, 1)} }

func (rd *reader) signal() {
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

// Errors of attach.
var (
	errCursorAhead = errors.New("cursor ahead")
	errEnded       = errors.New("session ended")
)

// attach makes rd the session's reader, owed the frames after cursor, and
// returns the reader it replaces, if any, which the caller must signal:
// that reader gets TypeReplaced at its next take. The grace timer stops.
func (s *session) attach(rd *reader, cursor uint64) (replaced *reader, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cursor > s.seq {
		return nil, errCursorAhead
	}
	if s.closeSeq != 0 && cursor >= s.closeSeq {
		return nil, errEnded
	}
	replaced = s.rd
	s.rd = rd
	rd.next = cursor + 1
	s.disarmLocked()
	return replaced, nil
}

// detach ends rd's turn. Without a reader, the session waits Config.Grace
// for its client. The current reader, if another one, is woken: rd may have
// consumed the send queue's ready signal meant for it.
func (s *session) detach(rd *reader) {
	s.mu.Lock()
	if s.rd == rd {
		s.rd = nil
		s.armLocked()
	}
	cur := s.rd
	s.mu.Unlock()
	if cur != nil {
		cur.signal()
	}
}

// taken is what a reader got from take.
type taken struct {
	frames   [][]byte // numbered frames to send, oldest first
	last     uint64   // the number of the last of them
	gap      bool     // frames the reader is owed are gone: send TypeResync before frames
	lost     uint64   // with gap: the first frame still owed that is gone
	replaced bool     // another reader took the session: stop
	done     bool     // frames end with the close frame: stop after sending
}

// take returns what rd owes its client: the frames after rd.next still in
// the log, then everything in the send queue, numbered and logged now,
// then the close frame once the session is closed and its queue empty.
func (s *session) take(rd *reader) (t taken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rd != rd {
		t.replaced = true
		return t
	}
	out := rd.out[:0]
	if rd.next < s.log.first {
		// Frames rd owes were pushed out of the log: the client cannot
		// be recovered. Skip to the end; only the close frame follows.
		t.gap, t.lost = true, rd.next
		rd.next = s.log.end
		if s.closeSeq != 0 {
			rd.next = s.closeSeq
		}
	}
	out = s.log.appendFrom(out, rd.next)
	if s.closeSeq == 0 {
		s.drained = s.q.Drain(s.drained[:0])
		for _, f := range s.drained {
			s.seq++
			s.log.push(f)
			if !t.gap {
				out = append(out, f)
			}
		}
		clear(s.drained)
		if s.closed { // the queue is closed too: nothing can follow
			s.seq++
			s.closeSeq = s.seq
			f := engine.AppendClose(nil, s.reason)
			s.log.push(f)
			out = append(out, f)
		}
	}
	rd.next = s.seq + 1
	rd.out = out
	t.frames, t.last = out, s.seq
	t.done = s.closeSeq != 0
	return t
}

// notRecovered closes the session after take reported a gap: the client
// must start a new session and recover each room from history.
func (s *session) notRecovered(lost uint64) {
	if s.isClosed() {
		return
	}
	s.h.log.Info("hubbub/sse: resume not recovered", "session", s.es.ID(), "user", s.es.UserID(), "missing_from", lost)
	s.es.Close(engine.CloseReason{Code: engine.CloseSlowConsumer,
		Text: "not recovered: frames from " + strconv.FormatUint(lost, 10) + " on are no longer buffered; reconnect and recover"})
}

// armLocked starts the grace period: when it ends with no reader attached,
// an open session is closed with ReasonGone and a closed one is forgotten.
// One timer per session, created on first use and reset after.
func (s *session) armLocked() {
	d := s.h.cfg.Grace
	s.due = time.Now().Add(d)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.expire)
	} else {
		s.timer.Reset(d)
	}
}

func (s *session) disarmLocked() {
	s.due = time.Time{}
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *session) stopTimer() {
	s.mu.Lock()
	s.disarmLocked()
	s.mu.Unlock()
}

// expire runs when the grace timer fires.
func (s *session) expire() {
	h := s.h
	if !h.enter() {
		return // Close stops every timer
	}
	defer h.wg.Done()
	s.mu.Lock()
	if s.rd != nil || s.due.IsZero() || time.Now().Before(s.due) {
		// A reader came back, or the timer was reset while this run was
		// starting (Reset has scheduled the next run).
		s.mu.Unlock()
		return
	}
	s.due = time.Time{}
	closed := s.closed
	s.mu.Unlock()
	if closed {
		h.remove(s)
		return
	}
	h.log.Info("hubbub/sse: session expired", "session", s.es.ID(), "user", s.es.UserID(), "grace", h.cfg.Grace)
	s.es.Close(ReasonGone) // Close arms the timer again, to forget the session later
}

// frameOverhead is what a logged frame costs beyond its bytes (its slice
// header), so that many tiny frames also reach the bound.
const frameOverhead = 32

// replayLog holds the latest numbered frames, bounded by bytes. It always
// keeps the latest frame.
type replayLog struct {
	frames [][]byte // frames[head:] are retained
	head   int
	first  uint64 // number of frames[head]
	end    uint64 // number after the latest frame
	bytes  int
	max    int
}

func (l *replayLog) push(f []byte) {
	l.frames = append(l.frames, f)
	l.end++
	l.bytes += len(f) + frameOverhead
	for l.bytes > l.max && len(l.frames)-l.head > 1 {
		l.bytes -= len(l.frames[l.head]) + frameOverhead
		l.frames[l.head] = nil
		l.head++
		l.first++
	}
	if l.head >= 64 && l.head*2 >= len(l.frames) {
		n := copy(l.frames, l.frames[l.head:])
		clear(l.frames[n:])
		l.frames = l.frames[:n]
		l.head = 0
	}
}

// appendFrom appends the retained frames numbered n and later.
func (l *replayLog) appendFrom(dst [][]byte, n uint64) [][]byte {
	n = max(n, l.first)
	if n >= l.end {
		return dst
	}
	return append(dst, l.frames[l.head+int(n-l.first):]...)
}
