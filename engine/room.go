package engine

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
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
// several target rooms gets the event once). Called with mu held. It
// returns how many sessions took the frame.
func (r *room) fanout(frame []byte, except []*Session, seen map[*Session]struct{}) int {
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
		if s.send(frame) {
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

const shardCount = 32

func shardOf(key string) uint32 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % shardCount
}

// roomRegistry maps room names to rooms, in shards so that joins to
// different rooms do not contend on one lock.
type roomRegistry struct {
	shards [shardCount]struct {
		mu    sync.RWMutex
		rooms map[string]*room
	}
}

func (rr *roomRegistry) get(name string) *room {
	sh := &rr.shards[shardOf(name)]
	sh.mu.RLock()
	r := sh.rooms[name]
	sh.mu.RUnlock()
	return r
}

// getOrCreate returns the room called name, creating it with mk.
func (rr *roomRegistry) getOrCreate(name string, mk func() *room) *room {
	if r := rr.get(name); r != nil {
		return r
	}
	sh := &rr.shards[shardOf(name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.rooms[name]; r != nil {
		return r
	}
	if sh.rooms == nil {
		sh.rooms = make(map[string]*room)
	}
	r := mk()
	sh.rooms[name] = r
	return r
}

// dropIfIdle removes r if it is idle. Lock order: shard, then room.
func (rr *roomRegistry) dropIfIdle(r *room, now int64) bool {
	sh := &rr.shards[shardOf(r.name)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead || !r.idle(now) {
		return false
	}
	r.dead = true
	delete(sh.rooms, r.name)
	return true
}

// all returns every room, for sweeping and shutdown.
func (rr *roomRegistry) all() []*room {
	var out []*room
	for i := range rr.shards {
		sh := &rr.shards[i]
		sh.mu.RLock()
		for _, r := range sh.rooms {
			out = append(out, r)
		}
		sh.mu.RUnlock()
	}
	return out
}

func (rr *roomRegistry) count() int {
	n := 0
	for i := range rr.shards {
		sh := &rr.shards[i]
		sh.mu.RLock()
		n += len(sh.rooms)
		sh.mu.RUnlock()
	}
	return n
}

// sessionRegistry indexes open sessions by id and by user, in shards.
type sessionRegistry struct {
	byID [shardCount]struct {
		mu       sync.RWMutex
		sessions map[string]*Session
	}
	byUser [shardCount]struct {
		mu    sync.RWMutex
		users map[string][]*Session
	}
}

func (sr *sessionRegistry) add(s *Session) {
	sh := &sr.byID[shardOf(s.id)]
	sh.mu.Lock()
	if sh.sessions == nil {
		sh.sessions = make(map[string]*Session)
	}
	sh.sessions[s.id] = s
	sh.mu.Unlock()

	us := &sr.byUser[shardOf(s.user)]
	us.mu.Lock()
	if us.users == nil {
		us.users = make(map[string][]*Session)
	}
	us.users[s.user] = append(us.users[s.user], s)
	us.mu.Unlock()
}

func (sr *sessionRegistry) remove(s *Session) {
	sh := &sr.byID[shardOf(s.id)]
	sh.mu.Lock()
	delete(sh.sessions, s.id)
	sh.mu.Unlock()

	us := &sr.byUser[shardOf(s.user)]
	us.mu.Lock()
	list := us.users[s.user]
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...) // copy: readers may hold the old slice
			break
		}
	}
	if len(list) == 0 {
		delete(us.users, s.user)
	} else {
		us.users[s.user] = list
	}
	us.mu.Unlock()
}

func (sr *sessionRegistry) get(id string) *Session {
	sh := &sr.byID[shardOf(id)]
	sh.mu.RLock()
	s := sh.sessions[id]
	sh.mu.RUnlock()
	return s
}

// ofUser returns the sessions of a user. The slice must not be modified.
func (sr *sessionRegistry) ofUser(user string) []*Session {
	us := &sr.byUser[shardOf(user)]
	us.mu.RLock()
	list := us.users[user]
	us.mu.RUnlock()
	return list
}

// each calls fn for every session, holding one shard's read lock at a time.
func (sr *sessionRegistry) each(fn func(*Session)) {
	for i := range sr.byID {
		sh := &sr.byID[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			fn(s)
		}
		sh.mu.RUnlock()
	}
}

func (sr *sessionRegistry) count() int {
	n := 0
	for i := range sr.byID {
		sh := &sr.byID[i]
		sh.mu.RLock()
		n += len(sh.sessions)
		sh.mu.RUnlock()
	}
	return n
}
