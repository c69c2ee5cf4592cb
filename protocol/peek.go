package protocol

import (
	"bytes"
	"unicode/utf8"
)

// A server routes inbound frames by a shallow look at their top-level "t"
// and "id" members instead of a full decode: encoding/json needs several
// KiB of stack to decode a Frame, and a goroutine's stack never shrinks
// back below a quarter of what it once used. Decoding on a transport's
// reading goroutine, which lives as long as the connection, would cost
// every idle connection that ever sent a frame 4 KiB more.

// Header is what Peek reads of a frame: the members a server routes it by.
// The byte slices alias the frame.
type Header struct {
	Type, Room, Event []byte
	ID                uint64
}

// Peek reads raw's top-level "t", "room" and "ev" members (strings)
// and "id" (an unsigned integer; 0 when absent). ok is false when raw is
// not a JSON object that this shallow reader can route: a member name or
// one of those strings with escapes, an "id" that is not a plain unsigned
// integer, or malformed input. It does not validate the values it skips;
// the full decode does.
func Peek(raw []byte) (p Header, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return p, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return p, skipSpace(raw, i+1) == len(raw)
	}
	for {
		var key []byte
		if key, i, ok = plainString(raw, i); !ok {
			return p, false
		}
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] != ':' {
			return p, false
		}
		i = skipSpace(raw, i+1)
		// Member names match as encoding/json matches them to Frame's
		// fields: ignoring case, the last occurrence winning.
		switch {
		case bytes.EqualFold(key, keyType):
			p.Type, i, ok = plainString(raw, i)
		case bytes.EqualFold(key, keyRoom):
			p.Room, i, ok = plainString(raw, i)
		case bytes.EqualFold(key, keyEvent):
			p.Event, i, ok = plainString(raw, i)
		case bytes.EqualFold(key, keyID):
			p.ID, i, ok = plainUint(raw, i)
		default:
			i, ok = skipValue(raw, i)
		}
		if !ok {
			return p, false
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return p, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return p, skipSpace(raw, i+1) == len(raw)
		default:
			return p, false
		}
	}
}

var (
	keyType  = []byte("t")
	keyRoom  = []byte("room")
	keyEvent = []byte("ev")
	keyID    = []byte("id")
)

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string without escapes or invalid UTF-8 (which
// encoding/json would replace with U+FFFD) at b[i] and returns its contents
// (aliasing b) and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	j := bytes.IndexByte(b[i+1:], '"')
	if j < 0 {
		return nil, i, false
	}
	s := b[i+1 : i+1+j]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, i, false
	}
	return s, i + j + 2, true
}

// plainUint reads an unsigned decimal integer without sign, fraction or
// exponent that fits in a uint64.
func plainUint(b []byte, i int) (uint64, int, bool) {
	start := i
	var n uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := uint64(b[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, i, false
		}
		n = n*10 + d
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) {
		return 0, i, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, i, false
	}
	return n, i, true
}

// skipValue skips one JSON value at b[i], iteratively (objects and arrays
// nest by counting), and returns the index after it.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return i, false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, false
			}
			depth--
			i++
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i, false
			}
			i++
		default: // number or literal
			for i < len(b) && !isDelim(b[i]) {
				i++
			}
		}
		if depth == 0 {
			return i, true
		}
	}
	return i, false
}

func isDelim(c byte) bool {
	switch c {
	case ',', ':', '[', ']', '{', '}', '"', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
