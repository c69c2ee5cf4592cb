package engine

import (
	"errors"
	"net/http"
)

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
