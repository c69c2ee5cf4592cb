package sse

import (
	"context"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hubbubhq/hubbub/engine"
)

// canHijack reports whether w (or a writer it wraps, as
// http.ResponseController looks for) can hand over its connection: an
// HTTP/1.x response. HTTP/2 responses cannot.
func canHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// hijackStream takes the connection of a stream request from net/http,
// answers it itself and runs the stream on a goroutine of its own, so that
// net/http's per-connection state (its 4 KiB read and write buffers, the
// response's chunking buffer, the request, the serving goroutine's grown
// stack) is freed now instead of living as long as the stream. It returns
// false, having written nothing, when the connection cannot be taken; the
// request then serves the stream itself.
func (h *Handler) hijackStream(w http.ResponseWriter, rc *http.ResponseController, remote string, s *session, rd *reader, cursor uint64, opening []byte) bool {
	if !canHijack(w) || !h.enter() {
		return false // after Close the request path ends the stream at once
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		h.wg.Done()
		return false
	}
	// net/http's buffered reader is dropped with the request: a stream's
	// client sends nothing after its request.
	head := appendHead(nil, w.Header(), time.Now())
	go h.runHijacked(conn, append(head, opening...), remote, s, rd, cursor)
	return true
}

// runHijacked runs a stream on a connection taken from net/http: the
// response head and the opening, then the frames, until the stream ends or
// the client closes the connection. It contains a panic as net/http did
// for the request's goroutine: it is logged with its stack and the
// connection and session are closed rather than the process brought down.
func (h *Handler) runHijacked(conn net.Conn, opening []byte, remote string, s *session, rd *reader, cursor uint64) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	started := false
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("hubbub/sse: panic serving a stream", "remote", remote, "panic", p, "stack", string(debug.Stack()))
			s.es.Close(engine.CloseReason{Code: engine.CloseInternal, Text: "internal error"})
		}
		s.detach(rd)
		conn.Close() // ends watchPeer's read
		cancel()
		if started {
			<-watched
		}
	}()
	out := &connWriter{conn: conn, timeout: h.cfg.WriteTimeout}
	if out.write(opening) != nil {
		return
	}
	started = true
	go func() {
		defer close(watched)
		watchPeer(conn, cancel)
	}()
	h.stream(ctx, out, s, rd, cursor)
}

// watchPeer reads conn until the read fails — the client closed the
// connection, or the stream ended and closed it — or the client sends
// anything, and then calls gone. A stream's client sends nothing after its
// request (EventSource does not pipeline); one that does would otherwise
// have the server read and drop its bytes as fast as it sends them, so its
// stream ends instead.
func watchPeer(conn net.Conn, gone func()) {
	var b [1]byte
	for {
		n, err := conn.Read(b[:])
		if err != nil || n > 0 {
			gone()
			return
		}
	}
}

// connWriter writes to a connection taken from net/http, with a fresh
// write deadline for each write.
type connWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (o *connWriter) write(b []byte) error {
	if err := o.conn.SetWriteDeadline(time.Now().Add(o.timeout)); err != nil {
		return err
	}
	_, err := o.conn.Write(b)
	return err
}

// appendHead appends an HTTP/1.1 200 response head with a Date and hdr's
// fields, except those that describe the body's framing or encoding (a
// stream's body is its events as they are, and it ends when the connection
// closes) and those net/http would not send either: invalid names, and
// trailers.
func appendHead(b []byte, hdr http.Header, now time.Time) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nDate: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding", "Content-Encoding", "Connection", "Trailer", "Date":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range hdr[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, strings.TrimSpace(headerValue.Replace(v))...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "Connection: close\r\n\r\n"...)
}

// headerValue makes a field value safe to write as it is, as net/http does.
var headerValue = strings.NewReplacer("\r", " ", "\n", " ")
