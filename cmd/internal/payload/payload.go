// Package payload is the benchmark message body that hubbub's bench server
// publishes and its load tool checks: "m<seq>.<unix-nanos>." padded with 'x'
// to the requested size. It is the format of the peer benchmarks in
// ../shared/peers (package internal/payload there), so latency is measured
// the same way: the client's receive time minus the server's timestamp,
// taken just before each publish call.
//
// A body holds only letters, digits and dots, so it goes into a JSON string
// without escaping.
package payload

import (
	"errors"
	"strconv"
)

// Append appends the body for seq stamped with ts (unix nanoseconds),
// padded with 'x' to size bytes. A body is never shorter than its header,
// so size below about 25 bytes gives a longer body.
func Append(dst []byte, seq int, ts int64, size int) []byte {
	start := len(dst)
	dst = append(dst, 'm')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, '.')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// AppendJSON appends the body as a JSON string (in double quotes), the form
// in which it is published as an event's payload.
func AppendJSON(dst []byte, seq int, ts int64, size int) []byte {
	dst = append(dst, '"')
	dst = Append(dst, seq, ts, size)
	return append(dst, '"')
}

// ErrMalformed is returned by Parse for bytes that are not a body.
var ErrMalformed = errors.New("payload: malformed")

// Parse returns the sequence number and timestamp of a body. Anything after
// the timestamp's closing dot is ignored.
func Parse(b []byte) (seq int, ts int64, err error) {
	if len(b) < 4 || b[0] != 'm' {
		return 0, 0, ErrMalformed
	}
	s, i, ok := digits(b, 1)
	if !ok {
		return 0, 0, ErrMalformed
	}
	t, _, ok := digits(b, i)
	if !ok {
		return 0, 0, ErrMalformed
	}
	return int(s), t, nil
}

// digits reads a non-empty run of decimal digits at b[i:] followed by a dot
// and returns its value and the index after the dot.
func digits(b []byte, i int) (v int64, next int, ok bool) {
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		if j-i >= 19 {
			return 0, 0, false // would overflow int64
		}
		v = v*10 + int64(b[j]-'0')
	}
	if j == i || j >= len(b) || b[j] != '.' {
		return 0, 0, false
	}
	return v, j + 1, true
}
