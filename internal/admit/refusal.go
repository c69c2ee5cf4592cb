package admit

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/protocol"
)

// WriteRefusal answers a request with status and a protocol.Refusal body
// ({"error": code, "reason": text}). Headers already set on w (CORS,
// Allow) are kept.
func WriteRefusal(w http.ResponseWriter, status int, code, reason string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(protocol.Refusal{Error: code, Reason: reason})
}

// AuthRefusal maps an error from engine.Engine.Authenticate to the HTTP
// status, code and reason of the refusal: engine.HTTPStatus for the
// status; an *engine.Error keeps its code and message; engine.ErrClosed is
// "unavailable" / "server shutting down"; anything else is "unauthorized"
// with the error's text.
func AuthRefusal(err error) (status int, code, reason string) {
	code, reason = protocol.CodeUnauthorized, err.Error()
	var we *engine.Error
	switch {
	case errors.Is(err, engine.ErrClosed):
		code, reason = protocol.CodeUnavailable, shuttingDown
	case errors.As(err, &we):
		code, reason = we.Code, we.Message
	}
	return engine.HTTPStatus(err), code, reason
}

// shuttingDown is the reason of every 503 answered while the server stops.
const shuttingDown = "server shutting down"
