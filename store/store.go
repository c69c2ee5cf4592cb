// Package store defines the state of a hubbub engine that must be
// queryable: which sessions exist, which rooms they are in, and who is
// present in a room. It is the state of one node; nothing in it is shared
// with other processes. The engine writes to a Store on connect, join,
// leave and disconnect, never on publish: fan-out reads the engine's own
// in-memory member snapshots.
//
// MemDB, backed by github.com/hashicorp/go-memdb, is the embedded default.
package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hubbubhq/hubbub/protocol"
)

// ErrNotFound is returned when a session or membership does not exist.
var ErrNotFound = errors.New("store: not found")

// Session is one connection of a user (one browser tab, one service client).
type Session struct {
	ID     string          // unique, unguessable session id
	UserID string          // the authenticated user; several sessions may share it
	Meta   json.RawMessage // user metadata from the connect hook; may be nil
}

// Membership records that a session is in a room.
type Membership struct {
	Room      string
	SessionID string
	UserID    string
}

// Presence is one user present in a room, however many sessions (tabs) the
// user has there: the protocol's presence entry, as clients get it.
type Presence = protocol.PresenceEntry

// Store persists and queries sessions, memberships and presence.
//
// Implementations must be safe for concurrent use. Objects returned by
// queries are copies the caller may keep.
type Store interface {
	// AddSession records a session. Adding an existing id replaces it.
	AddSession(ctx context.Context, s Session) error
	// RemoveSession deletes a session and every membership it has.
	// Removing an unknown session returns ErrNotFound.
	RemoveSession(ctx context.Context, id string) error
	// Join records that a session is in a room. Joining twice is not an error.
	// The session must have been added, else ErrNotFound.
	Join(ctx context.Context, room, sessionID string) error
	// Leave deletes a membership; ErrNotFound if there was none.
	Leave(ctx context.Context, room, sessionID string) error
	// Members lists the memberships of a room, ordered by session id.
	Members(ctx context.Context, room string) ([]Membership, error)
	// RoomsOf lists the rooms a session is in, sorted.
	RoomsOf(ctx context.Context, sessionID string) ([]string, error)
	// SessionsOf lists the session ids of a user, sorted.
	SessionsOf(ctx context.Context, userID string) ([]string, error)
	// Presence lists the users in a room, one entry per user with the
	// number of that user's sessions in the room, ordered by user id.
	Presence(ctx context.Context, room string) ([]Presence, error)
	// Rooms lists every room with at least one member, sorted.
	Rooms(ctx context.Context) ([]string, error)
}
