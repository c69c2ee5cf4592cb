package engine

import (
	"encoding/json"
	"errors"
	"runtime/debug"
	"sync"
	"unicode/utf8"

	"github.com/hubbubhq/hubbub/protocol"
)

// Receive feeds one inbound transport message to the session: a single
// frame or a JSON array of frames. It does not retain msg. Pings are
// answered and acks resolved at once; emits, joins and leaves are copied
// to the session's handler goroutine, which decodes and runs them in
// order, so Receive does not wait for handlers and does not run
// encoding/json on the transport's goroutine (see peekFrame). Bad input is
// answered with an error frame or error ack (see docs/PROTOCOL.md), logged
// once, and never affects other sessions; a message that is not valid
// UTF-8 is refused whole with a "malformed" error frame. It returns ErrSessionClosed after
// the session ended.
func (s *Session) Receive(msg []byte) error {
	if s.closing.Load() {
		return ErrSessionClosed
	}
	if len(msg) > s.e.cfg.MaxFrameBytes {
		s.e.stats.received.Add(1)
		s.reject(0, NewError(CodeTooLarge, "frame of %d bytes exceeds the %d-byte limit", len(msg), s.e.cfg.MaxFrameBytes))
		return nil
	}
	if !utf8.Valid(msg) {
		// encoding/json would turn the bytes into U+FFFD: a name would
		// silently change, and a payload forwarded as it is would reach
		// other clients as text they must refuse.
		s.e.stats.received.Add(1)
		s.reject(0, NewError(CodeMalformed, "message is not valid UTF-8"))
		return nil
	}
	if err := protocol.SplitBatch(msg, s.receiveFrame); err != nil {
		s.e.stats.received.Add(1)
		s.reject(0, NewError(CodeMalformed, "batch is not a JSON array of frames: %v", err))
	}
	return nil
}

// receiveFrame routes one inbound frame without decoding it on the
// transport's goroutine (see peekFrame): a ping is answered at once, an ack
// is resolved at once (a handler may be waiting for it, so it must not queue
// behind that handler), a bad room or event name is refused at once, and
// everything else is copied to the session's handler goroutine, which
// decodes it, answers bad input and runs it.
func (s *Session) receiveFrame(raw []byte) {
	s.e.stats.received.Add(1)
	p, ok := protocol.Peek(raw)
	if ok {
		switch typ := string(p.Type); typ {
		case TypePing:
			if json.Valid(raw) {
				s.send(pongFrame)
				return
			}
		case TypeAck:
			s.handleFrame(raw)
			return
		case TypeEmit, TypeJoin, TypeLeave:
			name := p.Room
			if typ == TypeEmit {
				name = p.Event
			}
			if err := s.e.checkName(string(name)); err != nil && json.Valid(raw) {
				s.reject(p.ID, err.(*Error))
				return
			}
		}
	}
	if !ok && isAck(raw) {
		// A frame the shallow reader cannot route (escapes in its names,
		// say) is rare: decoding it here once more costs this connection
		// some stack, but an ack must not wait behind a handler that may be
		// waiting for it.
		s.handleFrame(raw)
		return
	}
	s.enqueue(p.ID, append([]byte(nil), raw...))
}

// isAck decodes just enough of raw to tell whether it is an ack.
func isAck(raw []byte) bool {
	var f struct {
		Type string `json:"t"`
	}
	return json.Unmarshal(raw, &f) == nil && f.Type == TypeAck
}

// handleFrame decodes a frame and acts on it. Emits, joins and leaves run
// their handlers: it is called on the session's handler goroutine for
// those.
func (s *Session) handleFrame(raw []byte) {
	e := s.e
	var f Frame
	if err := json.Unmarshal(raw, &f); err != nil {
		s.reject(0, NewError(CodeMalformed, "frame is not a JSON object of the protocol: %v", err))
		return
	}
	switch f.Type {
	case TypeAck:
		if !s.acks.resolve(f.ID, f.Data, f.Err) {
			s.reject(0, NewError(CodeUnknownAck, "no request with id %d is waiting for an ack", f.ID))
		}
	case TypePing:
		s.send(pongFrame)
	case TypeEmit:
		if err := e.checkName(f.Event); err != nil {
			s.reject(f.ID, err.(*Error))
			return
		}
		s.dispatch(f)
	case TypeJoin, TypeLeave:
		if err := e.checkName(f.Room); err != nil {
			s.reject(f.ID, err.(*Error))
			return
		}
		s.dispatch(f)
	case "":
		s.reject(f.ID, NewError(CodeMalformed, `frame has no "t" (type) field`))
	default:
		s.reject(f.ID, NewError(CodeUnknownType, "unknown frame type %q", f.Type))
	}
}

var pongFrame = []byte(`{"t":"pong"}`)

// reject answers bad input: an error ack when the frame asked for one,
// else an error frame. It logs one line.
func (s *Session) reject(id uint64, err *Error) {
	s.e.stats.badFrames.Add(1)
	s.e.log.Info("hubbub: bad input", "session", s.id, "user", s.user, "code", err.Code, "msg", err.Message)
	s.replyError(id, err)
}

func (s *Session) replyError(id uint64, err *Error) {
	if id != 0 {
		s.send(protocol.AppendAckError(nil, id, err))
	} else {
		s.send(protocol.AppendErrorFrame(nil, err))
	}
}

// inbox holds a session's raw frames waiting for its handler goroutine.
type inbox struct {
	mu      sync.Mutex
	frames  [][]byte
	running bool
}

// enqueue queues a frame (owned by the inbox) for the handler goroutine;
// id is its ack id as far as peekFrame could tell, for the overload error.
func (s *Session) enqueue(id uint64, raw []byte) {
	in := &s.inbound
	in.mu.Lock()
	if len(in.frames) >= s.e.cfg.MaxPendingFrames {
		in.mu.Unlock()
		s.reject(id, NewError(CodeOverloaded, "more than %d frames are waiting for handlers; slow down", s.e.cfg.MaxPendingFrames))
		return
	}
	in.frames = append(in.frames, raw)
	if in.running {
		in.mu.Unlock()
		return
	}
	in.running = true
	in.mu.Unlock()
	if !s.e.runFrames(s) {
		return // shutting down: the session is being closed
	}
}

// work runs queued frames in order until none are left, then returns the
// goroutine to the engine (see runFrames), so an idle session has no
// handler goroutine (and its inbox no buffer).
func (s *Session) work() {
	in := &s.inbound
	for {
		in.mu.Lock()
		if len(in.frames) == 0 || s.closing.Load() {
			in.frames = nil
			in.running = false
			in.mu.Unlock()
			return
		}
		raw := in.frames[0]
		in.frames[0] = nil
		in.frames = in.frames[1:]
		in.mu.Unlock()
		s.handleFrame(raw)
	}
}

func (s *Session) dispatch(f Frame) {
	switch f.Type {
	case TypeEmit:
		s.runHandler(f)
	case TypeJoin:
		res, err := s.clientJoin(f)
		if err != nil {
			s.answer(f.ID, nil, err)
			return
		}
		s.answer(f.ID, res, nil)
	case TypeLeave:
		err := s.e.leave(s, f.Room)
		s.answer(f.ID, map[string]string{"room": f.Room}, err)
	}
}

func (s *Session) clientJoin(f Frame) (res JoinResult, err error) {
	if hook := s.e.cfg.AuthorizeJoin; hook != nil {
		if err := s.callHook(func() error { return hook(s.ctx, s, f.Room) }); err != nil {
			var we *Error
			if errors.As(err, &we) {
				return res, err
			}
			s.e.log.Info("hubbub: join refused", "session", s.id, "room", f.Room, "err", err)
			return res, &Error{Code: CodeForbidden, Message: "join refused"}
		}
	}
	return s.e.join(s, f.Room, f.Since, f.History)
}

// callHook runs application code, turning a panic into an error.
func (s *Session) callHook(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.e.stats.panics.Add(1)
			s.e.log.Error("hubbub: panic in application code", "session", s.id, "panic", p, "stack", string(debug.Stack()))
			err = &Error{Code: CodeInternal, Message: "internal error"}
		}
	}()
	return fn()
}

// notify runs an application hook that returns nothing (OnConnect, OnJoin,
// OnLeave, OnDisconnect): a panic is logged, counted and contained, so that
// it never unwinds into a transport's goroutine. It reports whether the hook
// returned normally.
func (s *Session) notify(fn func()) bool {
	return s.callHook(func() error { fn(); return nil }) == nil
}

func (s *Session) runHandler(f Frame) {
	h := s.e.handler(f.Event)
	if h == nil {
		s.reject(f.ID, NewError(CodeUnknownEvent, "no handler for event %q", f.Event))
		return
	}
	var out any
	err := s.callHook(func() error {
		var err error
		out, err = h(s.ctx, s, f.Data)
		return err
	})
	s.answer(f.ID, out, err)
}

// answer sends the ack for a request: the result, or the error. Without an
// ack id, only errors are sent (as an error frame).
func (s *Session) answer(id uint64, out any, err error) {
	if err != nil {
		we, known := toWireError(err)
		if !known {
			s.e.log.Error("hubbub: handler error", "session", s.id, "err", err)
		}
		s.replyError(id, we)
		return
	}
	if id == 0 {
		return
	}
	d, err := s.e.encodePayload(out)
	if err != nil {
		s.e.log.Error("hubbub: ack payload does not encode", "session", s.id, "err", err)
		s.replyError(id, &Error{Code: CodeInternal, Message: "internal error"})
		return
	}
	s.send(protocol.AppendAck(nil, id, d))
}
