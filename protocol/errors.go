package protocol

import (
	"errors"
	"fmt"
)

// Error codes carried by error frames and error acknowledgements. Clients
// switch on the code; the message is for people.
const (
	CodeMalformed    = "malformed"      // the message is not valid JSON, not a frame object or batch, or has no "t"
	CodeUnknownType  = "unknown_type"   // the frame's "t" is not a known frame type
	CodeUnknownEvent = "unknown_event"  // no handler is registered for the event
	CodeTooLarge     = "too_large"      // the frame exceeds the server's frame size limit
	CodeInvalidName  = "invalid_name"   // a room or event name is empty, too long or has control characters
	CodeTooManyRooms = "too_many_rooms" // joining would pass the server's limit of rooms per session
	CodeUnknownAck   = "unknown_ack"    // an ack refers to no pending request
	CodeBadPayload   = "bad_payload"    // the payload does not decode into the handler's type
	CodeForbidden    = "forbidden"      // a hook refused the join or the connection
	CodeUnauthorized = "unauthorized"   // the connect hook refused the credentials
	CodeInternal     = "internal"       // the handler failed or panicked; details are in the server log
	CodeOverloaded   = "overloaded"     // the session has too many frames waiting for its handlers
	CodeNotInRoom    = "not_in_room"    // leave of a room the session is not in
)

// Codes of transport frames and of refused HTTP requests (see Refusal).
const (
	CodeUnavailable      = "unavailable"        // 503: the server is shutting down
	CodeBadRequest       = "bad_request"        // 400: a parameter is missing or malformed
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeNotRecovered     = "not_recovered"      // resync: the frames after the cursor are gone
	CodeReplaced         = "replaced"           // replaced: a newer reader took the session
	CodeUnknownSession   = "unknown_session"    // 404: no session has this token (or it ended long ago)
	CodeSessionClosed    = "session_closed"     // 410: the session has ended; the reason says why
)

// Error is an error with a machine-readable code, sent as
// {"code": ..., "msg": ...}.
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
// errors.Is(err, &protocol.Error{Code: protocol.CodeForbidden}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}
