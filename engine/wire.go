package engine

import "github.com/hubbubhq/hubbub/protocol"

// The wire vocabulary lives in package protocol, which clients import
// without the server. The names below keep the engine's API in one import
// for applications: each is the protocol's own.

// ProtocolVersion is the wire protocol version sent in the hello frame.
const ProtocolVersion = protocol.Version

// Frame types (the "t" field); see package protocol.
const (
	TypeHello    = protocol.TypeHello
	TypeEmit     = protocol.TypeEmit
	TypeAck      = protocol.TypeAck
	TypeJoin     = protocol.TypeJoin
	TypeLeave    = protocol.TypeLeave
	TypePresence = protocol.TypePresence
	TypeError    = protocol.TypeError
	TypeClose    = protocol.TypeClose
	TypePing     = protocol.TypePing
	TypePong     = protocol.TypePong
)

type (
	// Frame is one protocol frame as a client decodes it.
	Frame = protocol.Frame
	// Position is a place in a room's history: epoch and offset.
	Position = protocol.Position
	// JoinResult is the payload of the ack to a join frame.
	JoinResult = protocol.JoinResult
	// PresenceEntry is one user present in a room.
	PresenceEntry = protocol.PresenceEntry
)

// Error is an error with a machine-readable code, sent to clients as
// {"code": ..., "msg": ...}. Handlers and hooks return an *Error to choose
// what the client sees; any other error reaches the client as CodeInternal
// with a generic message, and its text only reaches the server log.
type Error = protocol.Error

// NewError returns an *Error with the given code and message.
func NewError(code, format string, args ...any) *Error {
	return protocol.NewError(code, format, args...)
}

// Error codes carried by error frames and error acknowledgements; see
// package protocol for what each means.
const (
	CodeMalformed    = protocol.CodeMalformed
	CodeUnknownType  = protocol.CodeUnknownType
	CodeUnknownEvent = protocol.CodeUnknownEvent
	CodeTooLarge     = protocol.CodeTooLarge // the frame exceeds Config.MaxFrameBytes
	CodeInvalidName  = protocol.CodeInvalidName
	CodeTooManyRooms = protocol.CodeTooManyRooms // joining would pass Config.MaxRoomsPerSession
	CodeUnknownAck   = protocol.CodeUnknownAck
	CodeBadPayload   = protocol.CodeBadPayload
	CodeForbidden    = protocol.CodeForbidden
	CodeUnauthorized = protocol.CodeUnauthorized
	CodeInternal     = protocol.CodeInternal
	CodeOverloaded   = protocol.CodeOverloaded
	CodeNotInRoom    = protocol.CodeNotInRoom
)

type (
	// CloseReason says why a session ended: a close code and a text.
	CloseReason = protocol.CloseReason
	// CloseCode is a close code; see package protocol.
	CloseCode = protocol.CloseCode
)

// Close codes used by the engine and its transports.
const (
	CloseNormal       = protocol.CloseNormal
	CloseGoingAway    = protocol.CloseGoingAway
	CloseProtocol     = protocol.CloseProtocol
	CloseUnsupported  = protocol.CloseUnsupported
	CloseAbnormal     = protocol.CloseAbnormal
	CloseInvalidData  = protocol.CloseInvalidData
	ClosePolicy       = protocol.ClosePolicy
	CloseTooBig       = protocol.CloseTooBig
	CloseInternal     = protocol.CloseInternal
	CloseSlowConsumer = protocol.CloseSlowConsumer
)

// Reasons the engine itself uses.
var (
	ReasonNormal    = protocol.ReasonNormal
	ReasonGoingAway = protocol.ReasonGoingAway
	ReasonSlow      = protocol.ReasonSlow
)

// AppendClose appends a close frame.
//
// Deprecated: use protocol.AppendClose.
func AppendClose(b []byte, r CloseReason) []byte { return protocol.AppendClose(b, r) }

// AppendBatch appends frames as one JSON array.
//
// Deprecated: use protocol.AppendBatch.
func AppendBatch(b []byte, frames [][]byte) []byte { return protocol.AppendBatch(b, frames) }

// SplitBatch calls fn for each frame in msg.
//
// Deprecated: use protocol.SplitBatch.
func SplitBatch(msg []byte, fn func(frame []byte)) error { return protocol.SplitBatch(msg, fn) }
