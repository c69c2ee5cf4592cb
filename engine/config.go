package engine

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hubbubhq/hubbub/store"
)

// Identity is who a connection belongs to, as the connect hook decided.
type Identity struct {
	// UserID groups sessions: every tab of one user shares it, presence
	// counts users, and Engine.ToUser reaches all of them. Empty means an
	// anonymous user whose UserID is the session id.
	UserID string
	// Meta is metadata about the user (name, avatar, …), encoded as JSON
	// once at connect and shown in presence. May be nil.
	Meta any
}

// Config configures an Engine. The zero value is a working default: anyone
// may connect as an anonymous user and join any room, with the limits below.
type Config struct {
	// Authenticate runs on the request that opens a connection (the
	// WebSocket upgrade, the SSE stream request) and returns who it is.
	// Returning an error refuses the connection: an *Error with
	// CodeForbidden gives HTTP 403, anything else HTTP 401, and the error
	// text is the JSON reason. Nil accepts everyone anonymously.
	Authenticate func(r *http.Request) (Identity, error)

	// Origins decides which browser pages may connect, through any
	// transport. The zero value allows same-origin pages and non-browser
	// clients; see OriginPolicy.
	Origins OriginPolicy

	// AuthorizeJoin runs before a client's join frame takes effect. A
	// non-nil error refuses the join with an error ack: an *Error is sent
	// as it is; any other error is logged and the client sees CodeForbidden
	// "join refused". Joins made by the
	// server (Session.Join, Engine.JoinUser) do not run it. Nil allows all.
	AuthorizeJoin func(ctx context.Context, s *Session, room string) error

	// PresenceNotices reports whether a room pushes presence notices
	// (a user's first session joined, last session left) to its members
	// and lists present users in join acks. It is called once when the
	// room is created. Nil means no room does; presence can still be
	// queried with Engine.Presence.
	PresenceNotices func(room string) bool

	// OnConnect, if set, runs once a session is open, after its hello
	// frame was queued: the place to join rooms on the server's initiative
	// (Session.Join), which a reconnecting client needs again because a
	// reconnect is a new session. It runs on the transport's goroutine
	// before the client's first frame is read, so it should be quick.
	OnConnect func(s *Session)

	// OnJoin and OnLeave, if set, run after a session entered or left a
	// room, whoever asked (the client, the server, or the session's end).
	// They run on the goroutine that made the change with no engine lock
	// held, so they may emit; keep them quick.
	OnJoin, OnLeave func(s *Session, room string)

	// OnDisconnect, if set, runs after a session has left its rooms.
	//
	// A panic in any of these hooks is recovered, logged and counted
	// (Stats.HandlerPanics); it never reaches the transport. A panic in
	// OnConnect ends that session with 1011 and Engine.Open fails.
	OnDisconnect func(s *Session, reason CloseReason)

	// Store records sessions, memberships and presence. Nil uses an
	// embedded go-memdb store (store.NewMemDB).
	Store store.Store

	// Logger receives one line per bad input, refused connection or
	// recovered panic. Nil uses slog.Default().
	Logger *slog.Logger

	// MaxFrameBytes bounds one inbound frame (or batch). Default 64 KiB.
	MaxFrameBytes int
	// MaxEventBytes bounds the encoded payload of one outbound event
	// (Emit, EmitWithAck, Target.Emit): a larger one is refused with
	// ErrEventTooLarge, before it is sent or kept in history. Keep it well
	// below every transport's send-queue bound (QueueBytes, 1 MiB by
	// default), so that no single event can fill a client's queue by
	// itself. Default 256 KiB.
	MaxEventBytes int
	// MaxNameBytes bounds room and event names. Default 128.
	MaxNameBytes int
	// MaxRoomsPerSession bounds the rooms one session can be in. Default
	// 128. A join or leave looks the room up among the session's rooms one
	// by one, which costs less memory per session than a map and stays
	// fast up to a few hundred rooms.
	MaxRoomsPerSession int
	// MaxPendingFrames bounds the inbound frames of one session that wait
	// for its handlers (handlers run one at a time per session, in order).
	// Past it, further frames get CodeOverloaded. Default 256.
	MaxPendingFrames int

	// HistorySize is how many recent events each room keeps for recovery
	// and replay. Default 256; negative disables history.
	HistorySize int
	// HistoryTTL is how long an event stays in history, and how long an
	// empty room keeps its history for members who come back. Default 2m.
	HistoryTTL time.Duration

	// MaxLagWait bounds how long one Target.Emit waits while a transport
	// reports that its connections, taken together, are behind (see
	// Backlog): many of them hold frames the machine has not had the CPU
	// to write yet (transport/ws: over a quarter of its connections, with
	// 28 frames or more each). Waiting there keeps a burst's backlog with
	// the publisher, so queues stay short and delivery latency bounded;
	// the publisher resumes as soon as the writers have caught up.
	// Transports leave clients that stopped reading out of the count.
	// Default 100 ms; negative never waits.
	MaxLagWait time.Duration
}

// Defaults for zero Config fields.
const (
	DefaultMaxFrameBytes      = 64 << 10
	DefaultMaxEventBytes      = 256 << 10
	DefaultMaxNameBytes       = 128
	DefaultMaxRoomsPerSession = 128
	DefaultMaxPendingFrames   = 256
	DefaultHistorySize        = 256
	DefaultHistoryTTL         = 2 * time.Minute
	DefaultMaxLagWait         = 100 * time.Millisecond
)

func (c Config) withDefaults() Config {
	if c.Store == nil {
		c.Store = store.NewMemDB()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.MaxNameBytes <= 0 {
		c.MaxNameBytes = DefaultMaxNameBytes
	}
	if c.MaxRoomsPerSession <= 0 {
		c.MaxRoomsPerSession = DefaultMaxRoomsPerSession
	}
	if c.MaxPendingFrames <= 0 {
		c.MaxPendingFrames = DefaultMaxPendingFrames
	}
	if c.HistorySize == 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistorySize < 0 {
		c.HistorySize = 0
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.MaxLagWait == 0 {
		c.MaxLagWait = DefaultMaxLagWait
	}
	return c
}
