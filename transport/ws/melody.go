package ws

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
)

// melody.go holds everything melody sees of the Handler: its
// configuration and its callbacks. melody upgrades, reads, and answers the
// client's pings and close frame; the Handler writes every data frame and
// ping itself (writers.go, conn.go), so melody's write goroutine never
// writes and keeps its smallest stack.

// melodyBufferSize is the capacity of melody's per-session channel. hubbub
// never writes through it; only melody's own hub would put a close message
// there, and Handler.Close stops melody after every connection has ended.
const melodyBufferSize = 4

// Buffer sizes for gorilla. Reads go through a small per-connection
// bufio.Reader (a message is then read into its own slice; bigger frames
// are read past the buffer): 288 bytes is the smallest allocation size
// class above the 256 bytes gorilla needs to keep the reader Hijack hands
// over. Writes borrow a pooled buffer only while a message is written
// (server writes are one writev of that buffer plus the rest of the
// message).
const (
	readBufferSize  = 288
	writeBufferSize = 4 << 10
)

// connCtxKey is the context key under which serveConn hands the *conn to
// onConnect through the request melody passes on.
type connCtxKey struct{}

// noPings is melody's ping period: never, as the Handler pings every
// connection itself (pingAll) through the writers, so that melody's write
// goroutine never writes and keeps its smallest stack.
const noPings = 1 << 62

// newMelody returns the melody instance of h, configured from h.cfg, with
// h's callbacks.
func (h *Handler) newMelody() *melody.Melody {
	m := melody.New()
	m.Upgrader.CheckOrigin = h.gate.OriginAllowed // already checked; never melody's allow-all default
	m.Upgrader.ReadBufferSize = 0                 // keep the reader Hijack hands over (readBufferSize)
	m.Upgrader.WriteBufferSize = writeBufferSize
	m.Upgrader.WriteBufferPool = new(sync.Pool)
	m.Upgrader.Error = h.upgradeError
	m.Config.MaxMessageSize = h.cfg.hardLimit()
	m.Config.PingPeriod = noPings // the Handler pings (pingAll)
	m.Config.PongWait = h.cfg.PongTimeout
	m.Config.WriteWait = h.cfg.WriteTimeout
	m.Config.MessageBufferSize = melodyBufferSize

	m.HandleConnect(h.onConnect)
	m.HandleMessage(h.onMessage)
	m.HandleMessageBinary(h.onBinary)
	m.HandleError(h.onError)
	m.HandleDisconnect(h.onDisconnect)
	return m
}

// connOf returns the conn of a melody session between onConnect and
// onDisconnect, and nil outside.
func (h *Handler) connOf(ms *melody.Session) *conn {
	c, _ := h.live.Get(ms)
	return c
}

// onConnect runs on the connection's goroutine once the handshake is done
// and melody registered the session, before its write goroutine starts:
// the hello frame queued by Open waits in the conn's queue until attach. The request is
// dropped here: nothing reads it after the handshake, and its headers would
// otherwise stay in memory as long as the connection.
func (h *Handler) onConnect(ms *melody.Session) {
	c := ms.Request.Context().Value(connCtxKey{}).(*conn)
	ms.Request = nil
	h.live.Put(ms, c)
	c.attach(ms)
	if h.isClosed() {
		c.sess.Load().Close(engine.ReasonGoingAway)
	}
}

// sessionOf returns the conn and engine session of a melody session, or a
// nil session outside onConnect…onDisconnect.
func (h *Handler) sessionOf(ms *melody.Session) (*conn, *engine.Session) {
	c := h.connOf(ms)
	if c == nil {
		return nil, nil
	}
	return c, c.sess.Load()
}

// onMessage runs in the request's goroutine for each text message.
func (h *Handler) onMessage(ms *melody.Session, msg []byte) {
	c, s := h.sessionOf(ms)
	if s == nil {
		return
	}
	if len(msg) > h.cfg.MaxMessageBytes {
		h.log.Info("hubbub/ws: message too big", "session", s.ID(), "user", s.UserID(), "remote", c.remote,
			"bytes", len(msg), "limit", h.cfg.MaxMessageBytes)
		s.Close(engine.CloseReason{Code: engine.CloseTooBig,
			Text: fmt.Sprintf("message of %d bytes exceeds the %d-byte limit", len(msg), h.cfg.MaxMessageBytes)})
		return
	}
	if !utf8.Valid(msg) {
		// RFC 6455 §8.1: an endpoint fails the connection on a text
		// message that is not UTF-8.
		h.log.Info("hubbub/ws: message is not valid UTF-8", "session", s.ID(), "user", s.UserID(), "remote", c.remote, "bytes", len(msg))
		s.Close(engine.CloseReason{Code: engine.CloseInvalidData, Text: "text message is not valid UTF-8"})
		return
	}
	_ = s.Receive(msg) // ErrSessionClosed: the rest of the connection is ignored
}

// onBinary closes the connection: the protocol is JSON text.
func (h *Handler) onBinary(ms *melody.Session, msg []byte) {
	c, s := h.sessionOf(ms)
	if s == nil {
		return
	}
	h.log.Info("hubbub/ws: binary message", "session", s.ID(), "user", s.UserID(), "remote", c.remote, "bytes", len(msg))
	s.Close(engine.CloseReason{Code: engine.CloseUnsupported, Text: "binary messages are not supported: send JSON text messages"})
}

// onError records why the connection is ending: melody reports the error
// that ended its read loop. It must not call melody's Close or Broadcast
// (melody's known pitfalls: Close from here re-enters the same error, and a
// Broadcast wedges its hub).
func (h *Handler) onError(ms *melody.Session, err error) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, melody.ErrWriteClosed):
		// A write raced the end of the connection; nothing to report.
	case errors.Is(err, melody.ErrMessageBufferFull):
		// Cannot happen: hubbub never writes through melody's channel. If
		// it does, a message was lost: end the session, from another
		// goroutine as melody may be calling from its write path.
		h.log.Error("hubbub/ws: melody dropped a message", "remote", c.remote)
		r := engine.CloseReason{Code: engine.CloseInternal, Text: "internal error: message dropped"}
		c.setCause(r)
		go func() {
			if s := c.sess.Load(); s != nil {
				s.Close(r)
			} else {
				_ = c.Close(r)
			}
		}()
	case errors.Is(err, websocket.ErrReadLimit):
		r := engine.CloseReason{Code: engine.CloseTooBig,
			Text: fmt.Sprintf("message exceeds the %d-byte hard limit", h.cfg.hardLimit())}
		c.setCause(r)
		h.log.Info("hubbub/ws: message too big", "remote", c.remote, "limit", h.cfg.hardLimit())
	case errors.As(err, &ce):
		c.setCause(engine.CloseReason{Code: engine.CloseCode(ce.Code), Text: ce.Text})
	default:
		c.setCause(engine.CloseReason{Code: engine.CloseAbnormal, Text: "connection lost"})
		h.log.Debug("hubbub/ws: connection error", "remote", c.remote, "err", err)
	}
}

// onDisconnect runs in the request's goroutine after melody closed the
// connection: the session ends with the reason it was closed with, or the
// peer's close code, or 1006.
func (h *Handler) onDisconnect(ms *melody.Session) {
	c := h.connOf(ms)
	if c == nil {
		return
	}
	h.live.Delete(ms)
	if s := c.sess.Load(); s != nil {
		s.Close(c.disconnectReason())
	}
}

// upgradeError is the gorilla Upgrader's error reply: the same JSON shape
// as the other refusals. ServeHTTP logs the error.
func (h *Handler) upgradeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	switch status {
	case http.StatusForbidden:
		code = engine.CodeForbidden
	case http.StatusInternalServerError:
		code = engine.CodeInternal
	}
	w.Header().Set("Sec-Websocket-Version", "13")
	admit.WriteRefusal(w, status, code, reason.Error())
}
