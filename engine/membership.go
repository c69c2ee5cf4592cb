package engine

import (
	"context"
	"slices"
	"time"

	"github.com/hubbubhq/hubbub/protocol"
)

func (e *Engine) newRoom(name string) *room {
	return &room{
		name:    name,
		epoch:   newID()[:11],
		notices: e.cfg.PresenceNotices != nil && e.cfg.PresenceNotices(name),
		members: make(map[*Session]struct{}),
		users:   make(map[string]*roomUser),
		hist:    history{size: e.cfg.HistorySize, ttl: e.cfg.HistoryTTL},
	}
}

// join puts s in the room called name. With since, it first replays the
// events after that position (Recovered says whether history covered them
// all); with history > 0, up to that many recent events. Replayed frames
// are queued before any live event of the room, with no gap and no
// duplicate, because the room's lock is held from replay to membership.
func (e *Engine) join(s *Session, name string, since *Position, history int) (JoinResult, error) {
	res, joined, err := e.joinSession(s, name, since, history)
	if hook := e.cfg.OnJoin; joined && hook != nil {
		s.notify(func() { hook(s, name) })
	}
	return res, err
}

// joinSession does the work of join with s.mu held; joined is false when s
// was already in the room.
func (e *Engine) joinSession(s *Session, name string, since *Position, history int) (JoinResult, bool, error) {
	if err := e.checkName(name); err != nil {
		return JoinResult{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() { // set before close takes s.mu: close sees every room joined here
		return JoinResult{}, false, ErrSessionClosed
	}
	if i := s.roomIndex(name); i >= 0 {
		r := s.rooms[i]
		r.mu.Lock()
		res := JoinResult{Room: name, Position: Position{Epoch: r.epoch, Offset: r.off}}
		if r.notices {
			res.Presence = r.presence()
		}
		r.mu.Unlock()
		// Already a member: live events have been flowing, nothing to replay.
		res.Recovered = since == nil || *since == res.Position
		return res, false, nil
	}
	if len(s.rooms) >= e.cfg.MaxRoomsPerSession {
		return JoinResult{}, false, NewError(CodeTooManyRooms, "a session can be in at most %d rooms", e.cfg.MaxRoomsPerSession)
	}
	now := time.Now().UnixNano()
	var r *room
	for {
		r = e.rooms.getOrCreate(name, func() *room { return e.newRoom(name) })
		r.mu.Lock()
		if !r.dead {
			break
		}
		r.mu.Unlock()
	}
	res := JoinResult{Room: name, Recovered: since == nil}
	var replay [][]byte
	switch {
	case since != nil:
		if since.Epoch == r.epoch {
			replay, res.Recovered = r.hist.since(since.Offset, r.off, now)
		}
	case history > 0:
		replay = r.hist.last(history, now)
	}
	if len(replay) > 0 && s.bounded != nil && !s.bounded.FitsReplay(replay) {
		// Too much to replay at once: the client resyncs instead of
		// being closed as a slow consumer, again and again.
		e.log.Info("hubbub: replay does not fit the session's queue", "session", s.id, "room", name, "events", len(replay))
		replay, res.Recovered = nil, false
	}
	for _, f := range replay {
		if !s.send(f) {
			res.Recovered = false
			break
		}
		res.Replayed++
	}
	res.Position = Position{Epoch: r.epoch, Offset: r.off}
	r.members[s] = struct{}{}
	r.dirty = true
	u := r.users[s.user]
	if u == nil {
		u = &roomUser{meta: s.meta}
		r.users[s.user] = u
	}
	u.conns++
	if r.notices {
		if u.conns == 1 {
			r.fanout(protocol.AppendPresence(nil, name, protocol.PresenceJoin, s.user, s.meta), false, []*Session{s}, nil)
		}
		// Listed under the same lock as the notices, so the list and the
		// notices that follow it agree.
		res.Presence = r.presence()
	}
	r.mu.Unlock()

	s.rooms = append(s.rooms, r)
	if err := e.store.Join(context.Background(), name, s.id); err != nil {
		e.log.Warn("hubbub: store join", "session", s.id, "room", name, "err", err)
	}
	return res, true, nil
}

// leave takes s out of one room.
func (e *Engine) leave(s *Session, name string) error {
	err := e.leaveSession(s, name)
	if hook := e.cfg.OnLeave; err == nil && hook != nil {
		s.notify(func() { hook(s, name) })
	}
	return err
}

func (e *Engine) leaveSession(s *Session, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.roomIndex(name)
	if i < 0 {
		return NewError(CodeNotInRoom, "not in room %q", name)
	}
	r := s.rooms[i]
	s.rooms = slices.Delete(s.rooms, i, i+1)
	e.removeMember(r, s)
	if err := e.store.Leave(context.Background(), name, s.id); err != nil {
		e.log.Warn("hubbub: store leave", "session", s.id, "room", name, "err", err)
	}
	return nil
}

// removeMember takes s out of r's live view, sends a leave notice when s
// was the user's last session there, and drops the room when it is idle.
// The store is updated by the caller.
func (e *Engine) removeMember(r *room, s *Session) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	if _, ok := r.members[s]; !ok {
		r.mu.Unlock()
		return
	}
	delete(r.members, s)
	r.dirty = true
	if u := r.users[s.user]; u != nil {
		u.conns--
	}
	if u := r.users[s.user]; u == nil || u.conns <= 0 {
		delete(r.users, s.user)
		if r.notices {
			r.fanout(protocol.AppendPresence(nil, r.name, protocol.PresenceLeave, s.user, nil), false, nil, nil)
		}
	}
	idle := r.idle(now)
	r.mu.Unlock()
	if idle {
		e.rooms.dropIfIdle(r, now)
	}
}

// JoinUser puts every open session of a user in a room (server-initiated:
// AuthorizeJoin does not run). Sessions the user opens later are not
// joined automatically. It returns the first error.
func (e *Engine) JoinUser(userID, room string) error {
	var first error
	for _, s := range e.sessions.ofUser(userID) {
		if err := s.Join(room); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// LeaveUser takes every session of a user out of a room. Sessions that are
// not in it are skipped.
func (e *Engine) LeaveUser(userID, room string) {
	for _, s := range e.sessions.ofUser(userID) {
		_ = s.Leave(room)
	}
}

// Presence lists the users in a room, one entry per user with the number
// of their sessions there, ordered by user id. It reads the store.
func (e *Engine) Presence(ctx context.Context, room string) ([]PresenceEntry, error) {
	return e.store.Presence(ctx, room)
}

// PresenceCount returns how many distinct users are in a room, from the
// engine's live view (no store query).
func (e *Engine) PresenceCount(room string) int {
	r := e.rooms.get(room)
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.users)
}

// Rooms lists every room with at least one member, sorted. It reads the
// store.
func (e *Engine) Rooms(ctx context.Context) ([]string, error) {
	return e.store.Rooms(ctx)
}

// RoomPosition returns a room's current position (epoch and latest
// offset), and false when the room does not exist.
func (e *Engine) RoomPosition(room string) (Position, bool) {
	r := e.rooms.get(room)
	if r == nil {
		return Position{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return Position{Epoch: r.epoch, Offset: r.off}, !r.dead
}
