package engine

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ProtocolVersion is the wire protocol version sent in the hello frame.
const ProtocolVersion = 1

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

// Frame is one protocol frame as a client decodes it. The engine encodes
// outbound frames without this struct (once per broadcast, by appending);
// clients and tests decode into it. Several frames in one transport message
// are sent as a JSON array of frames.
type Frame struct {
	Type    string          `json:"t"`
	Event   string          `json:"ev,omitempty"`      // emit: event name; presence: "join" or "leave"
	Room    string          `json:"room,omitempty"`    // emit to a room, join, leave, presence
	Offset  uint64          `json:"off,omitempty"`     // emit to a room: the event's offset in the room's history
	ID      uint64          `json:"id,omitempty"`      // emit/join/leave: ack requested; ack: the request it answers
	Data    json.RawMessage `json:"d,omitempty"`       // emit/ack payload
	Err     *Error          `json:"err,omitempty"`     // error ack, error frame
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

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // rare: names are validated, payload strings go through json
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendEmit appends an emit frame. room may be empty (no offset then);
// id 0 means no ack is wanted; data nil omits the payload.
func appendEmit(b []byte, event, room string, off, id uint64, data []byte) []byte {
	b = append(b, `{"t":"emit","ev":`...)
	b = appendJSONString(b, event)
	if room != "" {
		b = append(b, `,"room":`...)
		b = appendJSONString(b, room)
		b = append(b, `,"off":`...)
		b = strconv.AppendUint(b, off, 10)
	}
	if id != 0 {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, id, 10)
	}
	if data != nil {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// appendVolatile appends a room event without an offset.
func appendVolatile(b []byte, event, room string, data []byte) []byte {
	b = append(b, `{"t":"emit","ev":`...)
	b = appendJSONString(b, event)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, room)
	if data != nil {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// appendAck appends an ack frame with a payload (nil omits it).
func appendAck(b []byte, id uint64, data []byte) []byte {
	b = append(b, `{"t":"ack","id":`...)
	b = strconv.AppendUint(b, id, 10)
	if data != nil {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// appendErrorBody appends ,"err":{...}}.
func appendErrorBody(b []byte, e *Error) []byte {
	b = append(b, `,"err":{"code":`...)
	b = appendJSONString(b, e.Code)
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, e.Message)
	return append(b, "}}"...)
}

// appendAckError appends an error ack.
func appendAckError(b []byte, id uint64, e *Error) []byte {
	b = append(b, `{"t":"ack","id":`...)
	b = strconv.AppendUint(b, id, 10)
	return appendErrorBody(b, e)
}

// appendErrorFrame appends an error frame (bad input without an ack id).
func appendErrorFrame(b []byte, e *Error) []byte {
	b = append(b, `{"t":"error"`...)
	return appendErrorBody(b, e)
}

// appendHello appends the first frame of a session.
func appendHello(b []byte, sid, user string) []byte {
	b = append(b, `{"t":"hello","v":`...)
	b = strconv.AppendInt(b, ProtocolVersion, 10)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, sid)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, user)
	return append(b, '}')
}

// appendPresence appends a presence notice; kind is "join" or "leave".
func appendPresence(b []byte, room, kind, user string, meta []byte) []byte {
	b = append(b, `{"t":"presence","ev":`...)
	b = appendJSONString(b, kind)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, room)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, user)
	if len(meta) > 0 {
		b = append(b, `,"meta":`...)
		b = append(b, meta...)
	}
	return append(b, '}')
}

// AppendClose appends a close frame, for transports whose connections
// have no close frame of their own (SSE, long-poll).
func AppendClose(b []byte, r CloseReason) []byte {
	b = append(b, `{"t":"close","close":{"code":`...)
	b = strconv.AppendInt(b, int64(r.Code), 10)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, r.Text)
	return append(b, "}}"...)
}

// AppendBatch appends frames as one JSON array, the form in which a
// transport carries several frames in one message. A single frame is
// appended as it is.
func AppendBatch(b []byte, frames [][]byte) []byte {
	if len(frames) == 1 {
		return append(b, frames[0]...)
	}
	n := len(frames) + 1 // brackets and commas
	for _, f := range frames {
		n += len(f)
	}
	b = slices.Grow(b, n) // one allocation at most, not a doubling chain
	b = append(b, '[')
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return append(b, ']')
}

// SplitBatch calls fn for each frame in msg, which is either one JSON
// object or a JSON array of them. The slices passed to fn alias msg.
func SplitBatch(msg []byte, fn func(frame []byte)) error {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		fn(msg)
		return nil
	}
	return splitArray(trimmed, fn)
}

// marshalData encodes a payload once. A json.RawMessage is used as it is
// after validation; nil stays nil; anything else goes through json.Marshal
// (so a []byte becomes a base64 string, as encoding/json does).
func marshalData(v any) ([]byte, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, NewError(CodeBadPayload, "payload is not valid JSON")
		}
		return d, nil
	default:
		return json.Marshal(v)
	}
}
