package engine

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes carried by error frames and error acknowledgements. Clients
// switch on the code; the message is for people.
const (
	CodeMalformed    = "malformed"      // the message is not valid JSON, not a frame object or batch, or has no "t"
	CodeUnknownType  = "unknown_type"   // the frame's "t" is not a known frame type
	CodeUnknownEvent = "unknown_event"  // no handler is registered for the event
	CodeTooLarge     = "too_large"      // the frame exceeds Config.MaxFrameBytes
	CodeInvalidName  = "invalid_name"   // a room or event name is empty, too long or has control characters
	CodeTooManyRooms = "too_many_rooms" // joining would pass Config.MaxRoomsPerSession
	CodeUnknownAck   = "unknown_ack"    // an ack refers to no pending request
	CodeBadPayload   = "bad_payload"    // the payload does not decode into the handler's type
	CodeForbidden    = "forbidden"      // a hook refused the join or the connection
	CodeUnauthorized = "unauthorized"   // the connect hook refused the credentials
	CodeInternal     = "internal"       // the handler failed or panicked; details are in the server log
	CodeOverloaded   = "overloaded"     // the session has too many frames waiting for its handlers
	CodeNotInRoom    = "not_in_room"    // leave of a room the session is not in
)

// Error is an error with a machine-readable code, sent to clients as
// {"code": ..., "msg": ...}. Handlers and hooks return an *Error to choose
// what the client sees; any other error reaches the client as CodeInternal
// with a generic message, and its text only reaches the server log.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"msg"`
}

// NewError returns an *Error with the given code and message.
func NewError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &engine.Error{Code: engine.CodeForbidden}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Errors returned by the engine's own API.
var (
	// ErrClosed is returned when the engine is shut down or shutting down.
	ErrClosed = errors.New("hubbub: engine closed")
	// ErrSessionClosed is returned for operations on a closed session,
	// including EmitWithAck requests still waiting when the session ends.
	ErrSessionClosed = errors.New("hubbub: session closed")
)

// HTTPStatus maps an error from the connect hook to the HTTP status a
// transport answers with before any upgrade: 401 for CodeUnauthorized and
// errors without a code, 403 for CodeForbidden, 503 for ErrClosed.
func HTTPStatus(err error) int {
	if errors.Is(err, ErrClosed) {
		return http.StatusServiceUnavailable
	}
	var e *Error
	if errors.As(err, &e) && e.Code == CodeForbidden {
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// toWireError turns any error into the *Error a client may see.
func toWireError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return &Error{Code: CodeInternal, Message: "internal error"}, false
}
