package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// Handler handles a named event from a client. Its return value is
// encoded as JSON and sent back as the acknowledgement when the client asked
// for one; a returned error becomes an error acknowledgement (an *Error keeps
// its code and message; any other error is logged and reaches the client as
// CodeInternal). A panic is recovered, logged with its stack, and answered
// like an error; the session and the engine go on.
//
// Handlers of one session run one at a time, in the order the frames
// arrived, in a goroutine that exists only while the session has frames to
// handle. ctx is cancelled when the session ends. A handler may call
// Session.EmitWithAck and wait for the client's reply.
type Handler func(ctx context.Context, s *Session, data json.RawMessage) (any, error)

// On registers the handler for an event, replacing any earlier one. It
// panics if the name is invalid (empty, too long, control characters).
func (e *Engine) On(event string, h Handler) {
	if err := e.checkName(event); err != nil {
		panic(fmt.Sprintf("hubbub: On(%q): %v", event, err))
	}
	e.handlersMu.Lock()
	e.handlers[event] = h
	e.handlersMu.Unlock()
}

func (e *Engine) handler(event string) Handler {
	e.handlersMu.RLock()
	defer e.handlersMu.RUnlock()
	return e.handlers[event]
}

// Typed adapts a function that takes a decoded payload into a Handler. The
// event's JSON payload is decoded into a T; when it does not decode (wrong
// shape, wrong types, unknown fields are allowed), the client gets an error
// acknowledgement with CodeBadPayload and fn is not called. A missing
// payload decodes as JSON null (the zero T).
func Typed[T any](fn func(ctx context.Context, s *Session, in T) (any, error)) Handler {
	return func(ctx context.Context, s *Session, data json.RawMessage) (any, error) {
		var in T
		if len(data) > 0 {
			if err := json.Unmarshal(data, &in); err != nil {
				return nil, NewError(CodeBadPayload, "payload does not decode into %s: %v", reflect.TypeFor[T](), err)
			}
		}
		return fn(ctx, s, in)
	}
}
