package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	memdb "github.com/hashicorp/go-memdb"
)

// ErrInvalid is returned (wrapped) by MemDB when a session id, user id or
// room name cannot be stored: session ids and room names must be non-empty,
// and no key may contain a NUL byte (NUL terminates index keys).
var ErrInvalid = errors.New("store: invalid key")

const (
	tableSession = "session"
	tableMember  = "member"
)

// sessionRow is the stored form of a Session. Rows are immutable once
// inserted: every change inserts a fresh row.
type sessionRow struct {
	ID     string
	UserID string
	Meta   json.RawMessage // private copy, never handed out
}

// memberRow is the stored form of a Membership. It denormalises the
// session's UserID and Meta so that Presence needs a single index scan.
// Rows are immutable once inserted.
type memberRow struct {
	Room      string
	SessionID string
	UserID    string
	Meta      json.RawMessage // shared with the session row; never mutated
}

// strIndex indexes one string field of a row. Unlike memdb.StringFieldIndex
// it needs no reflection and it indexes empty strings too (a session may
// have an empty UserID). Keys are the string followed by a NUL byte, so an
// exact lookup of "a" never matches "ab".
type strIndex func(obj any) string

func nulKey(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// FromObject implements memdb.SingleIndexer.
func (f strIndex) FromObject(obj any) (bool, []byte, error) {
	return true, nulKey(f(obj)), nil
}

// FromArgs implements memdb.Indexer.
func (f strIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return nulKey(s), nil
}

// PrefixFromArgs implements memdb.PrefixIndexer.
func (f strIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want 1 argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("argument must be a string, got %T", args[0])
	}
	return s, nil
}

var (
	sessionID   = strIndex(func(o any) string { return o.(*sessionRow).ID })
	sessionUser = strIndex(func(o any) string { return o.(*sessionRow).UserID })
	memberRoom  = strIndex(func(o any) string { return o.(*memberRow).Room })
	memberSess  = strIndex(func(o any) string { return o.(*memberRow).SessionID })
	memberUser  = strIndex(func(o any) string { return o.(*memberRow).UserID })
)

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableSession: {
			Name: tableSession,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: sessionID},
				"user": {Name: "user", Indexer: sessionUser},
			},
		},
		tableMember: {
			Name: tableMember,
			Indexes: map[string]*memdb.IndexSchema{
				// Primary key room\0user\0session\0: a prefix scan on one
				// room yields its rows grouped by user (presence) and, within
				// a user, ordered by session id; a full scan yields them
				// grouped by room. Every index costs radix-tree nodes per row
				// (memory per connection) and path copies per write (garbage
				// per join), so there is none that a prefix of another can
				// serve.
				"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{
					Indexes: []memdb.Indexer{memberRoom, memberUser, memberSess},
				}},
				// session\0 + primary key.
				"session": {Name: "session", Indexer: memberSess},
			},
		},
	}}
}

// MemDB is a Store held in memory by github.com/hashicorp/go-memdb. Writes
// are serialised; reads are lock-free snapshots and never block writes.
//
// The zero value is ready to use: the database is created on first use.
// NewMemDB is provided for symmetry and readability. A MemDB must not be
// copied after first use.
type MemDB struct {
	once sync.Once
	mdb  *memdb.MemDB
}

var _ Store = (*MemDB)(nil)

// NewMemDB returns an empty, ready to use MemDB.
func NewMemDB() *MemDB {
	m := &MemDB{}
	m.db()
	return m
}

func (m *MemDB) db() *memdb.MemDB {
	m.once.Do(func() {
		db, err := memdb.NewMemDB(schema())
		if err != nil {
			// The schema is static; an error is a programming bug.
			panic(fmt.Sprintf("store: invalid memdb schema: %v", err))
		}
		m.mdb = db
	})
	return m.mdb
}

// validKey reports whether s can be used as a session id or room name.
func validKey(s string) bool { return s != "" && !strings.ContainsRune(s, 0) }

func cloneRaw(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// AddSession implements Store. Replacing a session also updates the UserID
// and Meta of its memberships.
func (m *MemDB) AddSession(ctx context.Context, s Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validKey(s.ID) || strings.ContainsRune(s.UserID, 0) {
		return fmt.Errorf("store: add session %q (user %q): %w", s.ID, s.UserID, ErrInvalid)
	}
	row := &sessionRow{ID: s.ID, UserID: s.UserID, Meta: cloneRaw(s.Meta)}

	txn := m.db().Txn(true)
	defer txn.Abort()
	existing, err := txn.First(tableSession, "id", s.ID)
	if err != nil {
		return fmt.Errorf("store: lookup session: %w", err)
	}
	if err := txn.Insert(tableSession, row); err != nil {
		return fmt.Errorf("store: insert session: %w", err)
	}
	if existing != nil {
		// Replace its member rows with ones carrying the new UserID and
		// Meta (the user is part of their key).
		it, err := txn.Get(tableMember, "session", s.ID)
		if err != nil {
			return fmt.Errorf("store: list memberships: %w", err)
		}
		var rows []*memberRow
		for o := it.Next(); o != nil; o = it.Next() {
			rows = append(rows, o.(*memberRow))
		}
		for _, old := range rows {
			if err := txn.Delete(tableMember, old); err != nil {
				return fmt.Errorf("store: update membership: %w", err)
			}
			fresh := &memberRow{Room: old.Room, SessionID: old.SessionID, UserID: row.UserID, Meta: row.Meta}
			if err := txn.Insert(tableMember, fresh); err != nil {
				return fmt.Errorf("store: update membership: %w", err)
			}
		}
	}
	txn.Commit()
	return nil
}

// RemoveSession implements Store.
func (m *MemDB) RemoveSession(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txn := m.db().Txn(true)
	defer txn.Abort()
	existing, err := txn.First(tableSession, "id", id)
	if err != nil {
		return fmt.Errorf("store: lookup session: %w", err)
	}
	if existing == nil {
		return ErrNotFound
	}
	if err := txn.Delete(tableSession, existing); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	if _, err := txn.DeleteAll(tableMember, "session", id); err != nil {
		return fmt.Errorf("store: delete memberships: %w", err)
	}
	txn.Commit()
	return nil
}

// Join implements Store.
func (m *MemDB) Join(ctx context.Context, room, sessionID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validKey(room) {
		return fmt.Errorf("store: join room %q: %w", room, ErrInvalid)
	}
	txn := m.db().Txn(true)
	defer txn.Abort()
	raw, err := txn.First(tableSession, "id", sessionID)
	if err != nil {
		return fmt.Errorf("store: lookup session: %w", err)
	}
	if raw == nil {
		return ErrNotFound
	}
	s := raw.(*sessionRow)
	member, err := txn.First(tableMember, "id", room, s.UserID, sessionID)
	if err != nil {
		return fmt.Errorf("store: lookup membership: %w", err)
	}
	if member != nil {
		return nil // already joined; nothing to write
	}
	row := &memberRow{Room: room, SessionID: s.ID, UserID: s.UserID, Meta: s.Meta}
	if err := txn.Insert(tableMember, row); err != nil {
		return fmt.Errorf("store: insert membership: %w", err)
	}
	txn.Commit()
	return nil
}

// Leave implements Store.
func (m *MemDB) Leave(ctx context.Context, room, sessionID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txn := m.db().Txn(true)
	defer txn.Abort()
	sess, err := txn.First(tableSession, "id", sessionID)
	if err != nil {
		return fmt.Errorf("store: lookup session: %w", err)
	}
	if sess == nil {
		return ErrNotFound // its memberships went with it
	}
	existing, err := txn.First(tableMember, "id", room, sess.(*sessionRow).UserID, sessionID)
	if err != nil {
		return fmt.Errorf("store: lookup membership: %w", err)
	}
	if existing == nil {
		return ErrNotFound
	}
	if err := txn.Delete(tableMember, existing); err != nil {
		return fmt.Errorf("store: delete membership: %w", err)
	}
	txn.Commit()
	return nil
}

// Members implements Store.
func (m *MemDB) Members(ctx context.Context, room string) ([]Membership, error) {
	if err := ctx.Err(); err != nil || !validKey(room) {
		return nil, err
	}
	// Rows come grouped by user: sort them by session id.
	out, err := scan(m, "members", tableMember, "id_prefix", func(r *memberRow) Membership {
		return Membership{Room: r.Room, SessionID: r.SessionID, UserID: r.UserID}
	}, room, "")
	slices.SortFunc(out, func(a, b Membership) int { return strings.Compare(a.SessionID, b.SessionID) })
	return out, err
}

// RoomsOf implements Store.
func (m *MemDB) RoomsOf(ctx context.Context, sessionID string) ([]string, error) {
	if err := ctx.Err(); err != nil || !validKey(sessionID) {
		return nil, err
	}
	// Keys are session\0 + room\0user\0session\0, hence sorted by room.
	return scan(m, "rooms of session", tableMember, "session", func(r *memberRow) string { return r.Room }, sessionID)
}

// SessionsOf implements Store.
func (m *MemDB) SessionsOf(ctx context.Context, userID string) ([]string, error) {
	if err := ctx.Err(); err != nil || strings.ContainsRune(userID, 0) {
		return nil, err
	}
	// Keys are user\0id\0, hence sorted by session id.
	return scan(m, "sessions of user", tableSession, "user", func(r *sessionRow) string { return r.ID }, userID)
}

// scan runs one read-only index query and maps each row, in index order.
func scan[R, T any](m *MemDB, what, table, index string, fn func(R) T, args ...any) ([]T, error) {
	txn := m.db().Txn(false)
	defer txn.Abort()
	it, err := txn.Get(table, index, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	var out []T
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, fn(o.(R)))
	}
	return out, nil
}

// Presence implements Store. A user's Meta is taken from the user's session
// with the smallest id in the room.
func (m *MemDB) Presence(ctx context.Context, room string) ([]Presence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validKey(room) {
		return nil, nil
	}
	txn := m.db().Txn(false)
	defer txn.Abort()
	// Prefix room\0 (exact room, any user): rows come grouped by user id
	// and, within a user, ordered by session id.
	it, err := txn.Get(tableMember, "id_prefix", room, "")
	if err != nil {
		return nil, fmt.Errorf("store: presence: %w", err)
	}
	var out []Presence
	size := 0
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*memberRow)
		if n := len(out); n > 0 && out[n-1].UserID == r.UserID {
			out[n-1].Conns++
			continue
		}
		// Meta still aliases the stored row here; copied below.
		out = append(out, Presence{UserID: r.UserID, Meta: r.Meta, Conns: 1})
		size += len(r.Meta)
	}
	// Copy every Meta into one buffer (one allocation instead of one per
	// user). Full slice expressions cap each Meta so that appending to one
	// cannot overwrite the next.
	buf := make([]byte, 0, size)
	for i := range out {
		if m := out[i].Meta; m != nil {
			start := len(buf)
			buf = append(buf, m...)
			out[i].Meta = buf[start:len(buf):len(buf)]
		}
	}
	return out, nil
}

// Rooms implements Store.
func (m *MemDB) Rooms(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	txn := m.db().Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableMember, "id")
	if err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	var out []string
	for o := it.Next(); o != nil; o = it.Next() {
		room := o.(*memberRow).Room
		if n := len(out); n > 0 && out[n-1] == room {
			continue
		}
		out = append(out, room)
	}
	return out, nil
}
