package protocol

import "encoding/json"

// Version is the wire protocol version sent in the hello frame.
const Version = 1

// Frame types (the "t" field). docs/PROTOCOL.md has an example of each.
const (
	TypeHello    = "hello"    // server → client, first frame of a session
	TypeEmit     = "emit"     // either way: a named event, with an ack id when a reply is wanted
	TypeAck      = "ack"      // either way: the reply to an emit, join or leave with an id
	TypeJoin     = "join"     // client → server: enter a room
	TypeLeave    = "leave"    // client → server: leave a room
	TypePresence = "presence" // server → client: a user joined or left a room
	TypeError    = "error"    // server → client: a failure (bad input, handler error) of a frame without an ack id
	TypeClose    = "close"    // server → client: the session ends (transports without close frames)
	TypePing     = "ping"     // client → server: a liveness check the server answers with pong at once
	TypePong     = "pong"     // server → client: the answer to ping
)

// Transport frames, sent by the SSE and long-poll transports outside a
// session's numbered frames (docs/TRANSPORTS.md). Both carry an Error.
const (
	// TypeResync tells a resuming client that frames it asked for are no
	// longer buffered: {"t":"resync","err":{"code":"not_recovered","msg":…}}.
	// The session's close frame (4008) follows; the client opens a new
	// session and joins its rooms with "since".
	TypeResync = "resync"
	// TypeReplaced ends a stream or poll because a newer one was opened
	// for the same session: {"t":"replaced","err":{"code":"replaced","msg":…}}.
	// The session goes on with the newer reader; the client must drop this
	// one without reconnecting it.
	TypeReplaced = "replaced"
)

// Presence notice kinds, in the "ev" member of a presence frame.
const (
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// Frame is one protocol frame as a client decodes it. Several frames in
// one transport message are sent as a JSON array of frames (see
// SplitBatch).
type Frame struct {
	Type    string          `json:"t"`
	Event   string          `json:"ev,omitempty"`      // emit: event name; presence: "join" or "leave"
	Room    string          `json:"room,omitempty"`    // emit to a room, join, leave, presence
	Offset  uint64          `json:"off,omitempty"`     // emit to a room: the event's offset in the room's history
	ID      uint64          `json:"id,omitempty"`      // emit/join/leave: ack requested; ack: the request it answers
	Data    json.RawMessage `json:"d,omitempty"`       // emit/ack payload
	Err     *Error          `json:"err,omitempty"`     // error ack, error frame, transport frames
	Version int             `json:"v,omitempty"`       // hello
	Session string          `json:"sid,omitempty"`     // hello
	User    string          `json:"user,omitempty"`    // hello, presence
	Meta    json.RawMessage `json:"meta,omitempty"`    // presence: the user's metadata
	Since   *Position       `json:"since,omitempty"`   // join: recover events after this position
	History int             `json:"history,omitempty"` // join: replay up to this many recent events
	Close   *CloseReason    `json:"close,omitempty"`   // close
}

// Position is a place in a room's history: the room's epoch (which changes
// when a room is recreated and its offsets restart) and an offset.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"off"`
}

// JoinResult is the payload of the ack to a join frame.
type JoinResult struct {
	Room string `json:"room"`
	// Position is the room's latest position; events after it will arrive.
	Position Position `json:"pos"`
	// Recovered is true when the join asked for events since a position
	// and every one of them was replayed before this ack. When false the
	// gap is not covered by history and the client must resync.
	Recovered bool `json:"recovered"`
	// Replayed counts the events sent before this ack.
	Replayed int `json:"replayed"`
	// Presence lists the users in the room, for rooms with presence
	// notices.
	Presence []PresenceEntry `json:"presence,omitempty"`
}

// PresenceEntry is one user present in a room, however many sessions
// (tabs) the user has there.
type PresenceEntry struct {
	UserID string          `json:"user"`
	Meta   json.RawMessage `json:"meta,omitempty"`
	Conns  int             `json:"conns"` // sessions of this user in the room, ≥ 1
}
