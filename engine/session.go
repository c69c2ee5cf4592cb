package engine

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/hubbubhq/hubbub/protocol"
)

// Session is one client connection: a browser tab, a service client. The
// engine creates it in Engine.Open and ends it in Close; handlers receive it
// with every event. Its methods are safe for concurrent use; after the
// session is closed they return ErrSessionClosed (or do nothing).
type Session struct {
	e       *Engine
	id      string
	user    string
	meta    json.RawMessage
	conn    Conn
	bounded BoundedConn // conn, when its queue can say what it takes; else nil

	ctx    context.Context // cancelled when the session closes
	cancel context.CancelFunc

	closing atomic.Bool // a close has been started: no more sends or joins

	mu    sync.Mutex // guards rooms and vals; held across a join or leave
	rooms []*room    // rooms joined, in join order (at most MaxRoomsPerSession; a slice costs less per session than a map)
	vals  map[any]any

	inbound inbox
	acks    pendingAcks
}

// ID returns the session id: unique, unguessable, sent to the client in
// the hello frame.
func (s *Session) ID() string { return s.id }

// UserID returns the user the connect hook identified (or the session id
// for anonymous users).
func (s *Session) UserID() string { return s.user }

// Meta returns the user metadata from the connect hook as JSON, or nil.
func (s *Session) Meta() json.RawMessage { return s.meta }

// Context returns a context that is cancelled when the session ends.
// Handlers receive a context derived from it.
func (s *Session) Context() context.Context { return s.ctx }

// Closed reports whether the session has ended.
func (s *Session) Closed() bool { return s.closing.Load() }

// Set stores a value on the session for the application (like a
// per-connection context value); Get reads it back.
func (s *Session) Set(key, value any) {
	s.mu.Lock()
	if s.vals == nil {
		s.vals = make(map[any]any)
	}
	s.vals[key] = value
	s.mu.Unlock()
}

// Get returns a value stored with Set, or nil.
func (s *Session) Get(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vals[key]
}

// Rooms returns the rooms the session is in, in the order it joined them.
func (s *Session) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r.name)
	}
	return out
}

// send hands a frame to the transport. When the transport refuses it (its
// queue is full), the session is closed as a slow consumer in another
// goroutine: send is called with room locks held and must not block.
func (s *Session) send(frame []byte) bool {
	// closing, not closed: once one frame was refused, no later frame may
	// get through, or the client would see a gap it cannot detect.
	if s.closing.Load() {
		return false
	}
	if err := s.conn.Send(frame); err != nil {
		s.closeAsync(ReasonSlow)
		return false
	}
	return true
}

// sendVolatile hands a volatile frame to the transport: one that the
// transport's queue cannot take is dropped for this session, which goes on.
// Transports that cannot drop a frame get it through send.
func (s *Session) sendVolatile(frame []byte) bool {
	if s.bounded == nil {
		return s.send(frame)
	}
	if s.closing.Load() {
		return false
	}
	if !s.bounded.SendVolatile(frame) {
		s.e.stats.volatileDropped.Add(1)
		return false
	}
	return true
}

// closeAsync starts Close in a new goroutine, once.
func (s *Session) closeAsync(reason CloseReason) {
	if s.closing.CompareAndSwap(false, true) {
		if reason.Code == CloseSlowConsumer {
			s.e.stats.slowDisconnects.Add(1)
		}
		go s.close(reason)
	}
}

// Emit sends an event to this session only. It does not wait for the
// client; if the session's send queue is full the session is closed as a
// slow consumer. It returns ErrSessionClosed after the session ended.
func (s *Session) Emit(event string, data any) error {
	if err := s.e.checkName(event); err != nil {
		return err
	}
	d, err := s.e.encodePayload(data)
	if err != nil {
		return err
	}
	if !s.send(protocol.AppendEmit(nil, event, "", 0, 0, d)) {
		return ErrSessionClosed
	}
	return nil
}

// Join puts the session in a room on the server's initiative (the
// AuthorizeJoin hook does not run). Joining a room twice is a no-op.
func (s *Session) Join(room string) error {
	_, err := s.e.join(s, room, nil, 0)
	return err
}

// Leave takes the session out of a room. Leaving a room the session is not
// in returns an *Error with CodeNotInRoom.
func (s *Session) Leave(room string) error {
	return s.e.leave(s, room)
}

// Close ends the session: it leaves every room (with presence notices),
// fails EmitWithAck calls still waiting, and closes the transport
// connection with reason. Transports call it when the connection drops.
// Close is idempotent; only the first reason counts.
func (s *Session) Close(reason CloseReason) {
	if s.closing.CompareAndSwap(false, true) {
		s.close(reason)
	}
}

func (s *Session) close(reason CloseReason) {
	s.cancel()
	s.mu.Lock()
	rooms := s.rooms
	s.rooms = nil
	s.mu.Unlock()
	for _, r := range rooms {
		s.e.removeMember(r, s)
	}
	s.acks.failAll()
	s.e.sessions.remove(s)
	if err := s.e.store.RemoveSession(context.Background(), s.id); err != nil {
		s.e.log.Warn("hubbub: store remove session", "session", s.id, "err", err)
	}
	if hook := s.e.cfg.OnLeave; hook != nil {
		for _, r := range rooms {
			s.notify(func() { hook(s, r.name) })
		}
	}
	if err := s.conn.Close(reason); err != nil {
		s.e.log.Debug("hubbub: transport close", "session", s.id, "err", err)
	}
	if hook := s.e.cfg.OnDisconnect; hook != nil {
		s.notify(func() { hook(s, reason) })
	}
}

// roomIndex is the index of the room called name in s.rooms, or -1.
// Called with s.mu held.
func (s *Session) roomIndex(name string) int {
	for i, r := range s.rooms {
		if r.name == name {
			return i
		}
	}
	return -1
}
