package protocol

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The Append functions encode outbound frames by appending to b, as
// strconv.Append* do: the server encodes a broadcast once and shares its
// bytes. Payloads (data, meta) must already be valid JSON; they are copied
// as they are.

// AppendString appends s as a JSON string.
func AppendString(b []byte, s string) []byte {
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

// AppendEmit appends an emit frame. room may be empty (no offset then);
// id 0 means no ack is wanted; data nil omits the payload.
func AppendEmit(b []byte, event, room string, off, id uint64, data []byte) []byte {
	b = append(b, `{"t":"emit","ev":`...)
	b = AppendString(b, event)
	if room != "" {
		b = append(b, `,"room":`...)
		b = AppendString(b, room)
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

// AppendVolatile appends a room event without an offset: one that is not
// kept in history.
func AppendVolatile(b []byte, event, room string, data []byte) []byte {
	b = append(b, `{"t":"emit","ev":`...)
	b = AppendString(b, event)
	b = append(b, `,"room":`...)
	b = AppendString(b, room)
	if data != nil {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// AppendAck appends an ack frame with a payload (nil omits it).
func AppendAck(b []byte, id uint64, data []byte) []byte {
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
	b = AppendString(b, e.Code)
	b = append(b, `,"msg":`...)
	b = AppendString(b, e.Message)
	return append(b, "}}"...)
}

// AppendAckError appends an error ack.
func AppendAckError(b []byte, id uint64, e *Error) []byte {
	b = append(b, `{"t":"ack","id":`...)
	b = strconv.AppendUint(b, id, 10)
	return appendErrorBody(b, e)
}

// AppendErrorFrame appends an error frame (bad input without an ack id).
func AppendErrorFrame(b []byte, e *Error) []byte {
	b = append(b, `{"t":"error"`...)
	return appendErrorBody(b, e)
}

// AppendTransportFrame appends a transport frame of type typ (TypeResync,
// TypeReplaced) carrying e.
func AppendTransportFrame(b []byte, typ string, e *Error) []byte {
	b = append(b, `{"t":`...)
	b = AppendString(b, typ)
	return appendErrorBody(b, e)
}

// AppendHello appends the first frame of a session.
func AppendHello(b []byte, sid, user string) []byte {
	b = append(b, `{"t":"hello","v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"sid":`...)
	b = AppendString(b, sid)
	b = append(b, `,"user":`...)
	b = AppendString(b, user)
	return append(b, '}')
}

// AppendPresence appends a presence notice; kind is PresenceJoin or
// PresenceLeave; meta may be empty.
func AppendPresence(b []byte, room, kind, user string, meta []byte) []byte {
	b = append(b, `{"t":"presence","ev":`...)
	b = AppendString(b, kind)
	b = append(b, `,"room":`...)
	b = AppendString(b, room)
	b = append(b, `,"user":`...)
	b = AppendString(b, user)
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
	b = AppendString(b, r.Text)
	return append(b, "}}"...)
}
