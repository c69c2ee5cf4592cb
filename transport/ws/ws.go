// Package ws is hubbub's WebSocket transport: an http.Handler, built on
// github.com/olahol/melody, that turns WebSocket connections into engine
// sessions.
//
// Mount it on the application's mux:
//
//	e := engine.New(engine.Config{})
//	h := ws.New(e, ws.Config{})
//	mux.Handle("/ws", h)
//	…
//	e.Shutdown(ctx) // sends 1001 "server shutting down" to every client
//	h.Close()       // waits for the connections to end, stops melody
//
// # Before the upgrade
//
// A request is refused with an HTTP error and a JSON body
// {"error": code, "reason": text} before any upgrade when it is not a GET
// (405), not a WebSocket upgrade (400), comes from an Origin that is not
// allowed (403, see engine.Config.Origins), or is refused by the engine's
// connect hook (engine.HTTPStatus: 401, 403, or 503 while shutting down).
// Each refusal is logged once. The hello frame is the first message after
// the handshake.
//
// # Sending
//
// Every connection has a send queue bounded by Config.QueueBytes. Sending
// never blocks the engine: the Handler's writers (one goroutine per CPU)
// drain each connection's queue into one WebSocket message, a single frame
// as itself and several as a JSON array, so under a burst the CPU goes to
// fewer, larger writes. A client that reads too slowly never holds a
// writer; when its queue passes QueueBytes the engine closes it with 4008
// (slow consumer): the client reconnects and recovers from room history,
// and no other client waits for it.
//
// While more than a quarter of the connections have a backlog (28 frames
// or more waiting for a writer), the Handler tells the engine it is behind
// and publishers wait (engine.Config.MaxLagWait) until the writers catch
// up, so a burst published faster than the CPU can write stays with the
// publisher instead of growing in every queue. A client that stops reading
// does not hold publishers back. docs/BENCHMARKS.md has the figures.
//
// # Receiving
//
// Text messages go to engine.Session.Receive, which answers bad input with
// error frames. A text message larger than Config.MaxMessageBytes closes
// that connection with 1009 and a reason; binary messages close it with
// 1003 (engine.CloseUnsupported) and a reason, since the protocol is JSON
// text.
//
// # Memory per connection
//
// An idle connection costs melody's two goroutines (one reads, one never
// writes and keeps the smallest stack) and a small read buffer; net/http's
// buffers are freed at the upgrade and write buffers are pooled.
// docs/BENCHMARKS.md has the measured breakdown.
package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
	"github.com/hubbubhq/hubbub/internal/shardmap"
	"github.com/hubbubhq/hubbub/protocol"
)

// Defaults for zero Config fields.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultPingInterval    = 25 * time.Second
	DefaultPongTimeout     = 60 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultQueueBytes      = 1 << 20
)

// Config configures a Handler. The zero value is a working default:
// 64 KiB inbound messages,
// a 1 MiB send queue per connection, pings every 25 s.
type Config struct {
	// AllowedOrigins is added to the engine's origin policy
	// (engine.Config.Origins.Allowed), which decides for every transport.
	//
	// Deprecated: set engine.Config.Origins.
	AllowedOrigins []string
	// AllowAllOrigins sets engine.Config.Origins.AllowAll for this
	// transport.
	//
	// Deprecated: set engine.Config.Origins.
	AllowAllOrigins bool

	// MaxMessageBytes bounds one inbound message (a frame or a batch).
	// Default DefaultMaxMessageBytes (64 KiB). A message above it closes
	// that client with 1009 and the reason "message of N bytes exceeds the
	// M-byte limit"; other clients are not affected. Messages are read
	// whole up to twice MaxMessageBytes (the hard limit, so that the
	// reason can be sent); past the hard limit the WebSocket library
	// stops reading at the frame header, sends 1009 without a reason and
	// drops the connection, and the client may see only a reset. Either
	// way a connection buffers at most twice MaxMessageBytes. A message
	// within this limit but above the engine's Config.MaxFrameBytes gets a
	// "too_large" error frame from the engine and the connection stays.
	MaxMessageBytes int

	// PingInterval is how often the server pings each client. Default
	// DefaultPingInterval (25 s, under the idle timeouts of common
	// proxies). If it is not below PongTimeout it is lowered to 9/10 of
	// PongTimeout.
	PingInterval time.Duration
	// PongTimeout is how long the server waits for any pong before it
	// drops the connection as dead. Default DefaultPongTimeout (60 s).
	PongTimeout time.Duration
	// WriteTimeout bounds writing one message. A client that reads so
	// slowly that a write takes longer is dropped. Default
	// DefaultWriteTimeout (10 s).
	WriteTimeout time.Duration

	// QueueBytes bounds the frames queued for one connection while it
	// waits for its turn or its write, in bytes (plus a small per-frame
	// overhead).
	// Default DefaultQueueBytes (1 MiB). When a frame would pass it, the
	// engine closes the session with 4008 (slow consumer) and the frames
	// still queued are dropped; the client recovers them from history.
	QueueBytes int

	// MaxWritesPerSecond, if positive, bounds the WebSocket messages the
	// Handler writes per second across all its connections (plus a burst
	// of 1/100 of it): a connection whose turn comes when no write is left
	// waits, and its frames pile up into one larger message. Zero is the
	// default, which here is no bound (the SSE transport's default is a
	// bound); negative means no bound. Without a bound the writers write as
	// fast as the CPU lets them, and batch only when it is short. Frames waiting for a turn count against
	// QueueBytes like any others: a bound so low that more than QueueBytes
	// is published to a client during one wait closes it with 4008.
	MaxWritesPerSecond int

	// Logger receives one line per refused request, oversized or binary
	// message, and failed upgrade. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = DefaultPongTimeout
	}
	if c.PingInterval >= c.PongTimeout {
		c.PingInterval = c.PongTimeout * 9 / 10
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// hardLimit is the inbound size gorilla enforces itself (see
// Config.MaxMessageBytes).
func (c Config) hardLimit() int64 { return 2 * int64(c.MaxMessageBytes) }

// Handler is the WebSocket transport: an http.Handler that upgrades
// requests and runs each connection as an engine session. Create it with
// New; it is safe for concurrent use.
type Handler struct {
	e    *engine.Engine
	cfg  Config
	log  *slog.Logger
	m    *melody.Melody
	gate *admit.Gate

	mu     sync.Mutex
	closed bool
	conns  map[*conn]struct{} // requests being upgraded and open connections
	wg     sync.WaitGroup     // one per entry of conns

	// live maps melody's sessions to their conns from onConnect to
	// onDisconnect (a key map in every melody session would cost each
	// connection ~300 bytes more than an entry here).
	live shardmap.Map[*melody.Session, *conn]

	writers *writers
	pinger  *time.Timer

	backlog       backlog
	removeBacklog func()
}

// New returns a Handler that serves WebSocket connections for e. It starts
// melody's hub goroutine; Close stops it.
func New(e *engine.Engine, cfg Config) *Handler {
	cfg = cfg.withDefaults()
	h := &Handler{
		e:     e,
		cfg:   cfg,
		log:   cfg.Logger,
		gate:  admit.New(e, "hubbub/ws", cfg.AllowedOrigins, cfg.AllowAllOrigins, cfg.Logger),
		conns: make(map[*conn]struct{}),
	}
	h.writers = newWriters(runtime.GOMAXPROCS(0), cfg.MaxWritesPerSecond)
	h.mu.Lock() // pingAll may run before New returns and reads h.pinger under mu
	h.pinger = time.AfterFunc(cfg.PingInterval, h.pingAll)
	h.mu.Unlock()
	h.removeBacklog = e.AddBacklog(&h.backlog)

	h.m = h.newMelody()
	return h
}

// ServeHTTP refuses a request that may not connect with an HTTP error and
// a JSON reason, and otherwise takes the connection from net/http, upgrades
// it and serves it on a goroutine of its own: the call returns at once,
// while the connection lives on until it ends (Handler.Close waits for
// every one). After Close it answers 503.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.gate.Refuse(w, r, http.StatusMethodNotAllowed, protocol.CodeMethodNotAllowed, "a WebSocket connection starts with a GET request")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		h.gate.Refuse(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "expected a WebSocket upgrade request")
		return
	}
	if !h.gate.CheckOrigin(w, r) {
		return
	}
	c := newConn(h, r.RemoteAddr)
	// Open the engine session here, on net/http's goroutine, so that its
	// deep work (hooks, the store) never grows the stack of the goroutine
	// that then reads the WebSocket for as long as it lives. Frames for
	// the session wait in its queue until the handshake is done.
	s := h.gate.Admit(w, r, c, func(s *engine.Session) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			return false
		}
		c.sess.Store(s)
		h.conns[c] = struct{}{}
		h.wg.Add(1)
		return true
	})
	if s == nil {
		return
	}
	done := func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		h.wg.Done()
	}
	handedOff := false // the connection's goroutine calls done
	defer func() {
		if !handedOff {
			done()
		}
	}()

	// Take the connection from net/http and serve it on a goroutine of its
	// own, so that net/http's per-connection state (its 4 KiB read and
	// write buffers, the request, the serve goroutine's grown stack) is
	// freed now instead of living as long as the WebSocket.
	uw, taken, err := hijack(w, r, c)
	if err != nil {
		h.log.Info("hubbub/ws: upgrade failed", "remote", r.RemoteAddr, "err", err)
		if !taken {
			admit.WriteRefusal(w, http.StatusInternalServerError, engine.CodeInternal, "the connection cannot be upgraded")
		}
		s.Close(handshakeFailed)
		return
	}
	handedOff = true
	go h.serveConn(uw, c, s, done)
}

// serveConn runs melody on a hijacked connection until it ends. It
// contains a panic as net/http did for the request's goroutine: the engine
// already contains panics in application hooks, so one here is a bug in
// hubbub or melody; it is logged with its stack, and the connection and
// session are closed rather than the process brought down.
func (h *Handler) serveConn(uw *upgradeWriter, c *conn, s *engine.Session, done func()) {
	defer done()
	remote := uw.req.RemoteAddr
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("hubbub/ws: panic serving a connection", "remote", remote, "panic", p, "stack", string(debug.Stack()))
			c.mu.Lock()
			ms := c.ms
			c.mu.Unlock()
			if ms != nil {
				h.live.Delete(ms) // melody will not call onDisconnect
			}
			c.closeSocket()
			s.Close(engine.CloseReason{Code: engine.CloseInternal, Text: "internal error"})
		}
	}()
	req := uw.req.WithContext(context.WithValue(uw.req.Context(), connCtxKey{}, c))
	if err := h.m.HandleRequestWithKeys(uw, req, nil); err != nil {
		// The upgrader has answered with upgradeError (or dropped a
		// connection that sent data before the handshake completed).
		h.log.Info("hubbub/ws: upgrade failed", "remote", remote, "err", err)
		s.Close(handshakeFailed)
	}
	uw.finish()
}

// handshakeFailed ends a session whose WebSocket handshake did not complete;
// the client never saw it.
var handshakeFailed = engine.CloseReason{Code: engine.CloseAbnormal, Text: "WebSocket handshake failed"}

// Close closes every connection still open with 1001 "server shutting
// down" (normally engine.Shutdown has already done so), waits for the
// connections to end, and stops melody. A client that stopped reading
// delays Close until the write waiting for it times out
// (Config.WriteTimeout), after which it is dropped. Requests after Close get 503. Close is idempotent and returns
// nil.
func (h *Handler) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	for _, c := range conns {
		if s := c.sess.Load(); s != nil {
			s.Close(engine.ReasonGoingAway)
		} else {
			_ = c.Close(engine.ReasonGoingAway)
		}
	}
	// Stop melody only when no connection can register or unregister:
	// melody checks that its hub is open and then sends to it, so a hub
	// stopped in between would block that connection's goroutine forever.
	h.removeBacklog()
	h.wg.Wait()
	h.pinger.Stop()
	h.writers.stop()
	if err := h.m.Close(); err != nil && !errors.Is(err, melody.ErrClosed) {
		return err
	}
	return nil
}

// pingAll queues a ping for every connection and runs again after
// Config.PingInterval.
func (h *Handler) pingAll() {
	h.live.Range(func(_ *melody.Session, c *conn) bool {
		c.ping()
		return true
	})
	h.mu.Lock()
	if !h.closed {
		h.pinger.Reset(h.cfg.PingInterval)
	}
	h.mu.Unlock()
}

func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
