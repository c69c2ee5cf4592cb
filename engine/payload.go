package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Errors returned by Emit, EmitWithAck and Target.Emit for a payload the
// engine refuses to send. Nothing is encoded, published or kept in history
// then.
var (
	// ErrInvalidPayload: the payload is not valid JSON, or not valid
	// UTF-8 (a json.RawMessage, or the output of a json.Marshaler, that
	// carries invalid bytes), which standards-following clients would
	// answer by dropping the connection.
	ErrInvalidPayload = errors.New("hubbub: payload is not valid UTF-8 JSON")
	// ErrEventTooLarge: the event's encoded payload passes
	// Config.MaxEventBytes.
	ErrEventTooLarge = errors.New("hubbub: event too large")
)

// encodePayload encodes an event's payload once and checks it: valid
// JSON, valid UTF-8, within Config.MaxEventBytes. A json.RawMessage is
// used as it is after validation; nil stays nil; anything else goes
// through json.Marshal (so a []byte becomes a base64 string, as
// encoding/json does). The checks cost O(payload) once per event, never
// per recipient.
func (e *Engine) encodePayload(v any) ([]byte, error) {
	d, err := marshalData(v)
	if err != nil {
		return nil, err
	}
	if len(d) > e.cfg.MaxEventBytes {
		return nil, fmt.Errorf("%w: the payload is %d bytes, over the %d-byte limit (Config.MaxEventBytes)", ErrEventTooLarge, len(d), e.cfg.MaxEventBytes)
	}
	return d, nil
}

// marshalData encodes a payload and checks that it is valid UTF-8 JSON.
func marshalData(v any) ([]byte, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, fmt.Errorf("%w: the json.RawMessage is not valid JSON", ErrInvalidPayload)
		}
		if !utf8.Valid(d) {
			return nil, fmt.Errorf("%w: the json.RawMessage is not valid UTF-8", ErrInvalidPayload)
		}
		return d, nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		// json.Marshal replaces invalid UTF-8 in strings, but copies what
		// a json.Marshaler returns after checking only its syntax.
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%w: the encoded payload is not valid UTF-8", ErrInvalidPayload)
		}
		return b, nil
	}
}
