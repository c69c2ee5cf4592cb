package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
	"github.com/hubbubhq/hubbub/internal/ssewire"
	"github.com/hubbubhq/hubbub/protocol"
)

// serveStream attaches a stream to s, owed the frames after cursor, and
// writes until the stream ends.
//
// Over HTTP/1.x the connection is taken from net/http once the stream is
// attached (see hijackStream): the stream then runs on a goroutine of its
// own, and net/http's per-connection buffers, the request and its serving
// goroutine are freed for as long as the stream lasts. Where the
// connection cannot be taken (HTTP/2, a ResponseWriter that does not allow
// it) the stream runs in the request, through the ResponseWriter.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, s *session, cursor uint64) {
	rc := http.NewResponseController(w)
	// Checked before the stream is attached (which replaces the session's
	// current reader), and whether or not the connection can be taken:
	// if taking it fails, the stream must still work.
	if !canFlush(w) {
		// Without flushes nothing reaches the client until the stream
		// ends, and EventSource would reconnect to it forever.
		h.log.Error("hubbub/sse: the ResponseWriter cannot flush (compression or buffering middleware?); streams cannot work, polls can",
			"remote", r.RemoteAddr)
		admit.WriteRefusal(w, http.StatusInternalServerError, engine.CodeInternal, "streaming is not possible on this server; use mode=poll")
		return
	}
	rd := newReader()
	if !h.attach(w, r, s, rd, cursor) {
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// The retry hint opens the stream and sends the headers at once, so
	// the client knows the stream is up even when no frame is waiting.
	opening := ssewire.AppendEnd(ssewire.AppendRetry(nil, h.cfg.Retry))

	if h.hijackStream(w, rc, r.RemoteAddr, s, rd, cursor, opening) {
		return // the stream goes on without the request
	}
	defer s.detach(rd)
	w.WriteHeader(http.StatusOK)
	out := &writer{w: w, rc: rc, timeout: h.cfg.WriteTimeout}
	if out.write(opening) != nil {
		return
	}
	h.stream(r.Context(), out, s, rd, cursor)
}

// stream writes s's frames to out until the stream ends: the session
// ended, a newer reader replaced this one, a write failed, or ctx ended
// (the client went away).
func (h *Handler) stream(ctx context.Context, out streamWriter, s *session, rd *reader, cursor uint64) {
	// The heartbeat goes out when nothing was written for a whole
	// interval: every write resets the ticker.
	tick := time.NewTicker(h.cfg.PingInterval)
	defer tick.Stop()
	for {
		t := s.take(rd)
		if t.replaced {
			_ = out.write(appendTransportFrame(nil, replacedFrame))
			return
		}
		if len(t.frames) > 0 || t.gap {
			b := bufPool.Get().(*buffer)
			if t.gap {
				b.b = appendTransportFrame(b.b, resyncFrame(cursor, t.lost))
			}
			if len(t.frames) > 0 {
				b.b = appendFrameEvent(b.b, s.token, t.last, t.frames)
			}
			err := out.write(b.b)
			clear(t.frames)
			putBuffer(b)
			if err != nil {
				return
			}
			tick.Reset(h.cfg.PingInterval)
		}
		if t.done {
			return
		}
		if t.gap {
			s.notRecovered(t.lost) // then the close frame comes
			continue
		}
		select {
		case <-s.q.Ready():
			// Frames wait: take a turn of the write budget first (see
			// Config.MaxWritesPerSecond); more pile up meanwhile.
			if h.writes != nil && h.writes.Wait(ctx) != nil {
				return
			}
		case <-rd.wake:
		case <-tick.C:
			if out.write(heartbeat) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// servePoll attaches a poll to s, owed the frames after cursor, and
// answers with them as soon as there are any, or with an empty batch after
// Config.PollTimeout. opening adds the session token to the answer.
func (h *Handler) servePoll(w http.ResponseWriter, r *http.Request, s *session, cursor uint64, opening bool) {
	rd := newReader()
	if !h.attach(w, r, s, rd, cursor) {
		return
	}
	defer s.detach(rd)

	var (
		timer *time.Timer
		pre   [][]byte // transport frames before the numbered ones
		last  = cursor
	)
	for {
		t := s.take(rd)
		if t.replaced {
			h.answerPoll(w, s, opening, last, append(pre, replacedFrame), nil)
			return
		}
		if t.gap {
			pre = append(pre, resyncFrame(cursor, t.lost))
			s.notRecovered(t.lost)
		}
		if len(t.frames) > 0 {
			last = t.last
		}
		if len(t.frames) > 0 || opening {
			h.answerPoll(w, s, opening, last, pre, t.frames)
			clear(t.frames)
			return
		}
		if t.gap {
			continue // the close frame comes, at once or when the close in progress ends
		}
		if timer == nil {
			timer = time.NewTimer(h.cfg.PollTimeout)
			defer timer.Stop()
		}
		select {
		case <-s.q.Ready():
		case <-rd.wake:
		case <-timer.C:
			h.answerPoll(w, s, opening, last, pre, nil)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// attach attaches rd or refuses the request.
func (h *Handler) attach(w http.ResponseWriter, r *http.Request, s *session, rd *reader, cursor uint64) bool {
	replaced, err := s.attach(rd, cursor)
	switch {
	case errors.Is(err, errCursorAhead):
		h.gate.Refuse(w, r, http.StatusBadRequest, CodeBadRequest,
			"cursor "+strconv.FormatUint(cursor, 10)+" is ahead of the last frame this session sent")
		return false
	case errors.Is(err, errEnded):
		h.refuseClosed(w, r, s)
		return false
	}
	if replaced != nil {
		h.log.Info("hubbub/sse: reader replaced", "session", s.es.ID(), "user", s.es.UserID(), "remote", r.RemoteAddr)
		replaced.signal()
	}
	return true
}

// answerPoll writes a poll's answer: {"cursor":n,"frames":[…]}, with
// "session" first when the poll opened the session.
func (h *Handler) answerPoll(w http.ResponseWriter, s *session, opening bool, cursor uint64, pre, frames [][]byte) {
	b := bufPool.Get().(*buffer)
	defer putBuffer(b)
	b.b = append(b.b, '{')
	if opening {
		b.b = append(b.b, `"session":"`...)
		b.b = append(b.b, s.token...)
		b.b = append(b.b, `",`...)
	}
	b.b = append(b.b, `"cursor":`...)
	b.b = strconv.AppendUint(b.b, cursor, 10)
	b.b = append(b.b, `,"frames":[`...)
	n := 0
	for _, list := range [2][][]byte{pre, frames} {
		for _, f := range list {
			if n > 0 {
				b.b = append(b.b, ',')
			}
			b.b = append(b.b, f...)
			n++
		}
	}
	b.b = append(b.b, "]}\n"...)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(b.b)))
	out := &writer{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	_ = out.deadline()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.b)
}

// canFlush reports whether w (or a writer it wraps, as
// http.ResponseController looks for) can flush.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// streamWriter is where a stream writes: the response (writer) or the
// connection taken from net/http (connWriter).
type streamWriter interface {
	write(b []byte) error
}

// writer writes to a response with a fresh write deadline for each write,
// which overrides http.Server.WriteTimeout, and flushes.
type writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (o *writer) deadline() error {
	err := o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
	if errors.Is(err, http.ErrNotSupported) {
		return nil // a ResponseWriter without deadlines (a test recorder, some middleware)
	}
	return err
}

func (o *writer) write(b []byte) error {
	if err := o.deadline(); err != nil {
		return err
	}
	if _, err := o.w.Write(b); err != nil {
		return err
	}
	return o.rc.Flush()
}

// heartbeat is the comment an idle stream gets every Config.PingInterval.
var heartbeat = ssewire.AppendComment(nil, "ping")

// appendFrameEvent appends one SSE event carrying frames (one frame, or a
// JSON array of several) with the id "<token>.<last>".
func appendFrameEvent(b []byte, token string, last uint64, frames [][]byte) []byte {
	b = append(b, "id: "...)
	b = appendEventID(b, token, last)
	b = append(b, "\ndata: "...)
	if len(frames) == 1 {
		b = ssewire.AppendDataContinued(b, frames[0])
	} else {
		b = append(b, '[')
		for i, f := range frames {
			if i > 0 {
				b = append(b, ',')
			}
			b = ssewire.AppendDataContinued(b, f)
		}
		b = append(b, ']')
	}
	return append(b, "\n\n"...)
}

// appendTransportFrame appends an event without id carrying a transport
// frame (resync, replaced), which does not move the client's position.
func appendTransportFrame(b, frame []byte) []byte {
	return ssewire.AppendEnd(ssewire.AppendData(b, frame))
}

var replacedFrame = transportFrame(TypeReplaced, CodeReplaced, "another stream or poll was opened for this session")

func resyncFrame(cursor, lost uint64) []byte {
	return transportFrame(TypeResync, CodeNotRecovered,
		"frames "+strconv.FormatUint(lost, 10)+" and later (after cursor "+strconv.FormatUint(cursor, 10)+") are no longer buffered; "+
			"the session is closed: open a new one and join rooms with since")
}

func transportFrame(typ, code, msg string) []byte {
	return protocol.AppendTransportFrame(nil, typ, &protocol.Error{Code: code, Message: msg})
}

// buffer is a pooled write buffer, held only while a write is built and
// written.
type buffer struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 4<<10)} }}

// maxPooledBytes: larger buffers are left to the garbage collector, so one
// burst does not pin a large buffer in the pool.
const maxPooledBytes = 256 << 10

func putBuffer(b *buffer) {
	if cap(b.b) > maxPooledBytes {
		return
	}
	b.b = b.b[:0]
	bufPool.Put(b)
}

// readBody reads a POST body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, int64(limit))
	if r.ContentLength > int64(limit) {
		return nil, &http.MaxBytesError{Limit: int64(limit)}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := io.Copy(&buf, body)
	return buf.Bytes(), err
}

// checkJSON returns the syntax error of a body that is not JSON.
func checkJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body: send a frame or a JSON array of frames")
	}
	if json.Valid(body) {
		if !utf8.Valid(body) {
			return errors.New("body is not valid UTF-8")
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return errors.New("body is not JSON: " + err.Error())
	}
	return errors.New("body is not JSON")
}
