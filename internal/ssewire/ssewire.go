// Package ssewire reads and writes the text/event-stream format of
// Server-Sent Events, as the WHATWG HTML standard defines it ("9.2 Server-sent
// events", the "event stream interpretation" algorithm). hubbub's SSE
// transport writes with it; Go clients and tests read with it.
//
// The Reader follows the standard: lines end with CRLF, LF or a lone CR; a
// leading byte-order mark is skipped; lines starting with ':' are comments;
// a field's value loses one leading space; "data" lines accumulate, joined
// with LF; "id" sets the last event ID, which persists across events, and is
// ignored when it contains NUL; "retry" is honoured only when it is all
// ASCII digits; unknown fields are ignored; a blank line dispatches the
// event, unless it has no data; an event cut off by the end of the stream
// is discarded.
package ssewire

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// Event is one dispatched event.
type Event struct {
	// Type is the "event" field, or "message" when the event had none.
	Type string
	// Data is the event's data lines joined with LF, without a final LF.
	Data []byte
	// ID is the last event ID when the event was dispatched: the value of
	// the latest "id" field of this event or of an earlier one (as a
	// browser's MessageEvent.lastEventId).
	ID string
}

// ErrTooLong is returned by Reader.Next when one event exceeds
// Reader.MaxEventBytes.
var ErrTooLong = errors.New("ssewire: event too long")

// Reader parses an event stream. It is not safe for concurrent use.
type Reader struct {
	src io.Reader

	// MaxEventBytes, if positive, bounds the bytes of one event (its lines
	// up to the blank line, comments included); Next returns ErrTooLong past
	// it. Zero means no bound.
	MaxEventBytes int
	// OnComment, if set, is called with the text of each comment line
	// (after the colon, one leading space removed).
	OnComment func(text string)

	buf  []byte // buf[r:w] is read but not yet parsed
	r, w int
	err  error // the source's error, returned once buf is parsed

	started bool // the byte-order mark check was done
	skipLF  bool // the previous line ended with CR: a following LF belongs to it

	lastID string
	retry  time.Duration

	data  []byte // the data buffer
	typ   []byte // the event type buffer
	idBuf []byte // the id field of the event being read, if any
	hasID bool
	size  int // bytes of the event being read
}

// NewReader returns a Reader of r. It buffers 4 KiB at first and grows to
// hold the longest line.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r, buf: make([]byte, 4<<10)}
}

// LastEventID returns the last event ID seen so far (what a browser sends
// as Last-Event-ID when it reconnects), even from an event that had no data
// and was therefore not dispatched.
func (r *Reader) LastEventID() string { return r.lastID }

// Retry returns the reconnection time of the latest valid "retry" field,
// or 0 if there was none.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (an unfinished event is discarded) or the underlying reader's error. The
// returned Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	r.data, r.typ = r.data[:0], r.typ[:0]
	r.size = 0
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if r.hasID {
				r.lastID = string(r.idBuf)
				r.hasID = false
			}
			if len(r.data) == 0 {
				r.typ = r.typ[:0]
				r.size = 0
				continue
			}
			ev := Event{Type: "message", Data: r.data[:len(r.data)-1], ID: r.lastID}
			if len(r.typ) > 0 {
				ev.Type = string(r.typ)
			}
			return ev, nil
		}
		r.field(line)
	}
}

// field processes one non-blank line.
func (r *Reader) field(line []byte) {
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "":
		if r.OnComment != nil {
			r.OnComment(string(value))
		}
	case "data":
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "event":
		r.typ = append(r.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.idBuf = append(r.idBuf[:0], value...)
			r.hasID = true
		}
	case "retry":
		if ms, ok := digits(value); ok {
			r.retry = time.Duration(ms) * time.Millisecond
		}
	}
}

func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

var bom = []byte("\xEF\xBB\xBF")

// readLine returns the next line without its terminator (CRLF, LF or CR).
// The slice is valid until the next call. It reads from the source only
// when no whole line is buffered, so a line ended by a lone CR is returned
// without waiting for the byte after it.
func (r *Reader) readLine() ([]byte, error) {
	for {
		avail := r.buf[r.r:r.w]
		if !r.started && (len(avail) >= len(bom) || r.err != nil || !bytes.HasPrefix(bom, avail)) {
			r.started = true
			if bytes.HasPrefix(avail, bom) {
				r.r += len(bom)
				avail = avail[len(bom):]
			}
		}
		if r.skipLF && len(avail) > 0 {
			r.skipLF = false
			if avail[0] == '\n' {
				r.r++
				avail = avail[1:]
			}
		}
		if r.started && !r.skipLF {
			if i := lineEnd(avail); i >= 0 {
				if err := r.count(i + 1); err != nil {
					return nil, err
				}
				line := avail[:i]
				r.skipLF = avail[i] == '\r'
				r.r += i + 1
				return line, nil
			}
			if err := r.count(len(avail)); err != nil { // a line this long cannot fit
				return nil, err
			}
			r.size -= len(avail)
		}
		if r.err != nil {
			// A final line without terminator belongs to an unfinished
			// event, which is discarded.
			return nil, r.err
		}
		r.fill()
	}
}

// fill reads more from the source, compacting or growing the buffer.
func (r *Reader) fill() {
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
	n, err := r.src.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.err = err
	}
}

// lineEnd returns the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	search := b
	if i >= 0 {
		search = b[:i]
	}
	if j := bytes.IndexByte(search, '\r'); j >= 0 {
		return j
	}
	return i
}

// count adds n bytes to the event being read and enforces MaxEventBytes.
func (r *Reader) count(n int) error {
	r.size += n
	if r.MaxEventBytes > 0 && r.size > r.MaxEventBytes {
		return ErrTooLong
	}
	return nil
}

// AppendData appends the data of an event as "data:" lines, one per line
// of v (split at CRLF, LF or CR), so that a reader gets v back with its
// line breaks turned into LF. It does not end the event: append
// AppendEnd after it (or more fields).
func AppendData(b, v []byte) []byte {
	b = append(b, "data: "...)
	b = AppendDataContinued(b, v)
	return append(b, '\n')
}

// AppendDataContinued appends v inside a data field that is already open
// ("data: " written): each line break in v (CRLF, LF or CR) becomes
// "\ndata: ". It lets a writer stream one data value in pieces.
func AppendDataContinued(b, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\r':
			if i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			b = append(b, "\ndata: "...)
		case '\n':
			b = append(b, "\ndata: "...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendID appends an "id:" line. id must not contain CR, LF or NUL.
func AppendID(b []byte, id string) []byte {
	b = append(b, "id: "...)
	b = append(b, id...)
	return append(b, '\n')
}

// AppendRetry appends a "retry:" line with d in milliseconds.
func AppendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	return append(b, '\n')
}

// AppendComment appends a comment line and a blank line (so that a comment
// sent alone, such as a heartbeat, also ends any event framing). text must
// not contain CR or LF.
func AppendComment(b []byte, text string) []byte {
	b = append(b, ':')
	if text != "" {
		b = append(b, ' ')
		b = append(b, text...)
	}
	return append(b, "\n\n"...)
}

// AppendEnd ends an event (the blank line that dispatches it).
func AppendEnd(b []byte) []byte { return append(b, '\n') }

// AppendEvent appends a whole event: an optional type and id, the data,
// and the blank line. typ and id must not contain CR, LF (or NUL for id).
func AppendEvent(b []byte, typ, id string, data []byte) []byte {
	if typ != "" {
		b = append(b, "event: "...)
		b = append(b, typ...)
		b = append(b, '\n')
	}
	if id != "" {
		b = AppendID(b, id)
	}
	b = AppendData(b, data)
	return AppendEnd(b)
}
