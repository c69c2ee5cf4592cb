package protocol

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Refusal is the JSON body of every request a transport refuses before a
// session starts or outside one: {"error": code, "reason": text}.
type Refusal struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// ParseRefusal turns a refused HTTP answer (a non-101 answer to a
// WebSocket upgrade, a non-2xx answer over SSE or long-poll) into an
// *Error: the code and reason of a Refusal body, or, without one, a code
// from the status: CodeUnauthorized (401), CodeForbidden (403),
// CodeUnavailable (503), else "http_<status>", with the status and body as
// the message.
func ParseRefusal(status int, body []byte) *Error {
	var r Refusal
	if json.Unmarshal(body, &r) == nil && r.Error != "" {
		return &Error{Code: r.Error, Message: r.Reason}
	}
	code := "http_" + strconv.Itoa(status)
	switch status {
	case http.StatusUnauthorized:
		code = CodeUnauthorized
	case http.StatusForbidden:
		code = CodeForbidden
	case http.StatusServiceUnavailable:
		code = CodeUnavailable
	}
	return &Error{Code: code, Message: fmt.Sprintf("HTTP %d: %s", status, body)}
}
