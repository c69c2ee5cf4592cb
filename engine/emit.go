package engine

import (
	"time"

	"github.com/hubbubhq/hubbub/protocol"
)

// Target is a set of recipients for an event: rooms, users, or everyone,
// minus excepted sessions. Build it with Engine.To, Engine.ToUser or
// Engine.ToAll, then call Emit. A Target is a small value; building one
// does not allocate per recipient.
type Target struct {
	e        *Engine
	rooms    []string
	users    []string
	all      bool
	volatile bool
	except   []*Session
}

// To targets the members of one or more rooms. A session in several of
// them receives the event once.
func (e *Engine) To(rooms ...string) Target { return Target{e: e, rooms: rooms} }

// ToUser targets every session of the given users, in or out of rooms.
func (e *Engine) ToUser(userIDs ...string) Target { return Target{e: e, users: userIDs} }

// ToAll targets every open session.
func (e *Engine) ToAll() Target { return Target{e: e, all: true} }

// To adds rooms to the target.
func (t Target) To(rooms ...string) Target {
	t.rooms = append(t.rooms[:len(t.rooms):len(t.rooms)], rooms...)
	return t
}

// Except leaves out the given sessions, typically the sender.
func (t Target) Except(sessions ...*Session) Target {
	t.except = append(t.except[:len(t.except):len(t.except)], sessions...)
	return t
}

// Volatile makes room events transient: they carry the room but no offset
// and are not kept in history, so a client that reconnects does not
// recover them. For typing indicators, cursors and other events that are
// worthless a moment later.
func (t Target) Volatile() Target {
	t.volatile = true
	return t
}

// Emit sends the event to the target. data is encoded as JSON once (a
// json.RawMessage is used as it is) and the same bytes go to every
// recipient.
//
// A room event gets the room's next offset and is appended to the room's
// history before it is handed to members, so members who reconnect can
// recover it. When a session belongs to several target rooms it receives
// the copy of the first of them in the order given. Emitting to a room that
// does not exist does nothing.
//
// Emit never waits for any one client: each recipient's frame is queued
// without blocking, and a recipient whose queue is full is closed as a slow
// consumer (CloseSlowConsumer) so that it reconnects and recovers; the
// other recipients are not affected. A volatile event that a recipient's
// queue cannot take is dropped for that recipient instead (counted in
// Stats.VolatileDropped, where the transport supports it: see
// BoundedConn). When a transport reports that its connections as a whole
// are behind (a burst has outrun the CPU, see Backlog), Emit first waits
// for them, up to Config.MaxLagWait.
//
// Emit returns an error, and sends nothing, for an invalid event name, a
// payload that does not encode or is not valid UTF-8 JSON
// (ErrInvalidPayload), one over Config.MaxEventBytes (ErrEventTooLarge),
// and after Shutdown (ErrClosed).
func (t Target) Emit(event string, data any) error {
	e := t.e
	if e.isStopping() {
		return ErrClosed
	}
	if err := e.checkName(event); err != nil {
		return err
	}
	d, err := e.encodePayload(data)
	if err != nil {
		return err
	}
	e.waitForWriters()
	e.stats.published.Add(1)
	var seen map[*Session]struct{}
	if len(t.rooms)+len(t.users) > 1 || t.all && len(t.rooms)+len(t.users) > 0 {
		seen = make(map[*Session]struct{})
	}
	delivered := 0
	now := time.Now().UnixNano()
	for _, name := range t.rooms {
		r := e.rooms.get(name)
		if r == nil {
			continue
		}
		delivered += e.publish(r, event, d, t.volatile, t.except, seen, now)
	}
	if len(t.users) > 0 || t.all {
		frame := protocol.AppendEmit(nil, event, "", 0, 0, d)
		deliver := func(s *Session) {
			if len(t.except) > 0 && isExcepted(s, t.except) {
				return
			}
			if seen != nil {
				if _, dup := seen[s]; dup {
					return
				}
				seen[s] = struct{}{}
			}
			if s.send(frame) {
				delivered++
			}
		}
		if t.all {
			e.sessions.each(deliver)
		} else {
			for _, u := range t.users {
				for _, s := range e.sessions.ofUser(u) {
					deliver(s)
				}
			}
		}
	}
	e.stats.delivered.Add(uint64(delivered))
	return nil
}

// publish appends one event to a room's history and fans it out. A
// volatile event gets no offset and no place in history.
func (e *Engine) publish(r *room, event string, data []byte, volatile bool, except []*Session, seen map[*Session]struct{}, now int64) int {
	buf := make([]byte, 0, len(data)+len(event)+len(r.name)+48)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return 0
	}
	if volatile {
		return r.fanout(protocol.AppendVolatile(buf, event, r.name, data), true, except, seen)
	}
	r.off++
	frame := protocol.AppendEmit(buf, event, r.name, r.off, 0, data)
	r.hist.append(r.off, now, frame)
	return r.fanout(frame, false, except, seen)
}
