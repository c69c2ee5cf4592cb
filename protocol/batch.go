package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

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
// object or a JSON array of them. The slices passed to fn alias msg. A
// message that is not an array is passed to fn whole, unvalidated; an
// array that is not valid JSON returns an error before fn is called.
func SplitBatch(msg []byte, fn func(frame []byte)) error {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		fn(msg)
		return nil
	}
	return splitArray(trimmed, fn)
}

// errNotArray is returned by splitArray for input that is not a JSON array.
var errNotArray = errors.New("not a JSON array")

// splitArray calls fn with each element of the JSON array msg, without
// decoding them (and so without encoding/json's deep stack).
func splitArray(msg []byte, fn func(elem []byte)) error {
	if !json.Valid(msg) {
		return errors.New("invalid JSON")
	}
	i := skipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '[' {
		return errNotArray
	}
	i = skipSpace(msg, i+1)
	if i < len(msg) && msg[i] == ']' {
		return nil
	}
	for {
		start := i
		end, ok := skipValue(msg, i)
		if !ok {
			return errors.New("malformed array element")
		}
		fn(msg[start:end])
		i = skipSpace(msg, end)
		if i >= len(msg) {
			return errors.New("unterminated array")
		}
		if msg[i] == ']' {
			return nil
		}
		if msg[i] != ',' {
			return errors.New("malformed array")
		}
		i = skipSpace(msg, i+1)
	}
}
