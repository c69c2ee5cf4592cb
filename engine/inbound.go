package engine

import (
	"encoding/json"
	"errors"
	"runtime/debug"
	"sync"
)

// Receive feeds one inbound transport message to the session: a single
// frame or a JSON array of frames. It does not retain msg. Acks are
// resolved at once; emits, joins and leaves are queued for the session's
// handler goroutine, so Receive does not wait for handlers. Bad input is
// answered with an error frame or error ack (see docs/PROTOCOL.md), logged
// once, and never affects other sessions. It returns ErrSessionClosed after
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
	if err := SplitBatch(msg, s.receiveFrame); err != nil {
		s.e.stats.received.Add(1)
		s.reject(0, NewError(CodeMalformed, "batch is not a JSON array of frames: %v", err))
	}
	return nil
}

func (s *Session) receiveFrame(raw []byte) {
	e := s.e
	e.stats.received.Add(1)
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
		s.enqueue(f)
	case TypeJoin, TypeLeave:
		if err := e.checkName(f.Room); err != nil {
			s.reject(f.ID, err.(*Error))
			return
		}
		s.enqueue(f)
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
		s.send(appendAckError(nil, id, err))
	} else {
		s.send(appendErrorFrame(nil, err))
	}
}

// inbox holds a session's frames waiting for its handler goroutine.
type inbox struct {
	mu      sync.Mutex
	frames  []Frame
	running bool
}

func (s *Session) enqueue(f Frame) {
	in := &s.inbound
	in.mu.Lock()
	if len(in.frames) >= s.e.cfg.MaxPendingFrames {
		in.mu.Unlock()
		s.reject(f.ID, NewError(CodeOverloaded, "more than %d frames are waiting for handlers; slow down", s.e.cfg.MaxPendingFrames))
		return
	}
	in.frames = append(in.frames, f)
	if in.running {
		in.mu.Unlock()
		return
	}
	in.running = true
	in.mu.Unlock()
	if !s.e.startWorker() {
		return // shutting down: the session is being closed
	}
	go s.work()
}

// work runs queued frames in order until none are left, then exits, so an
// idle session has no handler goroutine.
func (s *Session) work() {
	defer s.e.workers.Done()
	in := &s.inbound
	for {
		in.mu.Lock()
		if len(in.frames) == 0 || s.closing.Load() {
			clear(in.frames)
			in.frames = in.frames[:0]
			in.running = false
			in.mu.Unlock()
			return
		}
		f := in.frames[0]
		in.frames[0] = Frame{}
		in.frames = in.frames[1:]
		in.mu.Unlock()
		s.dispatch(f)
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
	d, err := marshalData(out)
	if err != nil {
		s.e.log.Error("hubbub: ack payload does not encode", "session", s.id, "err", err)
		s.replyError(id, &Error{Code: CodeInternal, Message: "internal error"})
		return
	}
	s.send(appendAck(nil, id, d))
}
