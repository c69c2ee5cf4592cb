package engine

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/hubbubhq/hubbub/internal/shardmap"
)

// room is the engine's live view of one room: its local members (with a
// snapshot that fan-out walks without touching the store), users present
// (for presence notices), and its history.
//
// Every field is guarded by mu. Publishing holds mu while it assigns the
// offset, appends to history and enqueues to every member, so members see a
// room's events in offset order and a join sees either all of an event
// (in its replay) or none of it (live). Enqueueing never blocks, so mu is
// held for a bounded time: about 20 ns per member.
type room struct {
	name    string
	epoch   string
	notices bool // push presence notices

	mu      sync.Mutex
	members map[*Session]struct{}
	snap    []*Session // members as a slice; rebuilt when dirty
	dirty   bool
	users   map[string]*roomUser // user id → that user's sessions in the room
	off     uint64               // latest offset
	hist    history
	dead    bool // removed from the registry; lookups must retry
}

// roomUser is one present user of a room.
type roomUser struct {
	conns int
	meta  json.RawMessage // from the user's first session in the room
}

// presence lists the room's users sorted by id. Called with mu held.
func (r *room) presence() []PresenceEntry {
	out := make([]PresenceEntry, 0, len(r.users))
	for id, u := range r.users {
		out = append(out, PresenceEntry{UserID: id, Meta: u.meta, Conns: u.conns})
	}
	slices.SortFunc(out, func(a, b PresenceEntry) int { return strings.Compare(a.UserID, b.UserID) })
	return out
}

// snapshot returns the members as a slice, rebuilding it after joins and
// leaves. Called with mu held. The slice is reused until the next change,
// so a burst of joins costs one rebuild at the next publish, not one each.
func (r *room) snapshot() []*Session {
	if r.dirty {
		r.snap = r.snap[:0]
		for s := range r.members {
			r.snap = append(r.snap, s)
		}
		r.dirty = false
	}
	return r.snap
}

// idle reports whether the room can be dropped: no members and no history
// worth keeping. Called with mu held.
func (r *room) idle(now int64) bool {
	if len(r.members) > 0 {
		return false
	}
	if r.hist.n > 0 {
		r.hist.expire(now)
	}
	return r.hist.n == 0
}

// fanout enqueues frame to every member but those in except, and to no
// session already in seen (multi-room emits pass a set so that a member of
// several target rooms gets the event once). A volatile frame that a
// member's queue cannot take is dropped for that member. Called with mu
// held. It returns how many sessions took the frame.
func (r *room) fanout(frame []byte, volatile bool, except []*Session, seen map[*Session]struct{}) int {
	n := 0
	for _, s := range r.snapshot() {
		if len(except) > 0 && isExcepted(s, except) {
			continue
		}
		if seen != nil {
			if _, dup := seen[s]; dup {
				continue
			}
			seen[s] = struct{}{}
		}
		if volatile {
			if s.sendVolatile(frame) {
				n++
			}
		} else if s.send(frame) {
			n++
		}
	}
	return n
}

func isExcepted(s *Session, except []*Session) bool {
	for _, x := range except {
		if x == s {
			return true
		}
	}
	return false
}

// roomRegistry maps room names to rooms, in shards so that joins to
// different rooms do not contend on one lock.
type roomRegistry struct{ m shardmap.Map[string, *room] }

func (rr *roomRegistry) get(name string) *room {
	r, _ := rr.m.Get(name)
	return r
}

// getOrCreate returns the room called name, creating it with mk.
func (rr *roomRegistry) getOrCreate(name string, mk func() *room) *room {
	if r := rr.get(name); r != nil {
		return r
	}
	var r *room
	rr.m.Update(name, func(old *room, ok bool) (*room, bool) {
		if !ok {
			old = mk()
		}
		r = old
		return old, true
	})
	return r
}

// dropIfIdle removes r if it is idle. Lock order: shard, then room.
func (rr *roomRegistry) dropIfIdle(r *room, now int64) bool {
	dropped := false
	rr.m.Update(r.name, func(cur *room, ok bool) (*room, bool) {
		if !ok || cur != r {
			return cur, ok
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.dead || !r.idle(now) {
			return cur, true
		}
		r.dead, dropped = true, true
		return nil, false
	})
	return dropped
}

// all returns every room, for sweeping and shutdown.
func (rr *roomRegistry) all() []*room {
	var out []*room
	rr.m.Range(func(_ string, r *room) bool {
		out = append(out, r)
		return true
	})
	return out
}

func (rr *roomRegistry) count() int { return rr.m.Len() }

// sessionRegistry indexes open sessions by id and by user, in shards.
type sessionRegistry struct {
	byID   shardmap.Map[string, *Session]
	byUser shardmap.Map[string, []*Session] // copy on write: readers keep the slice they got
}

func (sr *sessionRegistry) add(s *Session) {
	sr.byID.Put(s.id, s)
	sr.byUser.Update(s.user, func(list []*Session, _ bool) ([]*Session, bool) {
		return append(list, s), true // past every reader's length
	})
}

func (sr *sessionRegistry) remove(s *Session) {
	sr.byID.Delete(s.id)
	sr.byUser.Update(s.user, func(list []*Session, _ bool) ([]*Session, bool) {
		if i := slices.Index(list, s); i >= 0 {
			list = append(list[:i:i], list[i+1:]...) // copy: readers may hold the old slice
		}
		return list, len(list) > 0
	})
}

func (sr *sessionRegistry) get(id string) *Session {
	s, _ := sr.byID.Get(id)
	return s
}

// ofUser returns the sessions of a user. The slice must not be modified.
func (sr *sessionRegistry) ofUser(user string) []*Session {
	list, _ := sr.byUser.Get(user)
	return list
}

// each calls fn for every session, holding one shard's read lock at a time.
func (sr *sessionRegistry) each(fn func(*Session)) {
	sr.byID.Range(func(_ string, s *Session) bool {
		fn(s)
		return true
	})
}

func (sr *sessionRegistry) count() int { return sr.byID.Len() }
