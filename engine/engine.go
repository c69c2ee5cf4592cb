// Package engine is hubbub's transport-agnostic core: sessions, rooms,
// presence, named events with acknowledgements, and room history for
// recovery. Transports (transport/ws, transport/sse, transport/memory) turn
// connections into sessions with Engine.Open and feed them inbound frames
// with Session.Receive; the application registers handlers with On and
// pushes events with To, ToUser, Emit and Session.Emit.
//
// The wire protocol is documented in docs/PROTOCOL.md.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hubbubhq/hubbub/protocol"
	"github.com/hubbubhq/hubbub/store"
)

// Engine routes events between sessions and rooms. Create it with New; it is
// safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	store store.Store

	handlersMu sync.RWMutex
	handlers   map[string]Handler

	rooms    roomRegistry
	sessions sessionRegistry
	stats    counters
	backlogs backlogs

	lifeMu   sync.RWMutex // guards stopping against workers.Add
	stopping bool
	workers  sync.WaitGroup // handler goroutines and the sweeper
	stop     chan struct{}

	idleRunners chan *Session // handler goroutines waiting for work (runner.go)
}

// New returns a running engine. It starts one goroutine that expires room
// history; Shutdown stops it.
func New(cfg Config) *Engine {
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    cfg.Store,
		handlers: make(map[string]Handler),
		stop:     make(chan struct{}),

		idleRunners: make(chan *Session),
	}
	e.workers.Add(1)
	go e.sweep()
	return e
}

// Authenticate runs the connect hook on the request that opens a
// connection. Transports call it before upgrading, so that a refusal is an
// HTTP error with a reason (see HTTPStatus) rather than a dropped socket.
func (e *Engine) Authenticate(r *http.Request) (Identity, error) {
	if e.isStopping() {
		e.log.Info("hubbub: connection refused", "remote", r.RemoteAddr, "err", ErrClosed)
		return Identity{}, ErrClosed
	}
	if e.cfg.Authenticate == nil {
		return Identity{}, nil
	}
	id, err := e.cfg.Authenticate(r)
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			err = &Error{Code: CodeUnauthorized, Message: err.Error()}
		}
		e.log.Info("hubbub: connection refused", "remote", r.RemoteAddr, "err", err)
		return Identity{}, err
	}
	return id, nil
}

// Open turns a transport connection into a session for an identity from
// Authenticate. It queues the hello frame on conn before it returns, so the
// hello is always the client's first frame. It returns ErrClosed once
// Shutdown has begun.
func (e *Engine) Open(conn Conn, id Identity) (*Session, error) {
	if e.isStopping() {
		return nil, ErrClosed
	}
	meta, err := marshalData(id.Meta)
	if err != nil {
		return nil, err
	}
	s := &Session{e: e, id: newID(), user: id.UserID, meta: meta, conn: conn}
	s.bounded, _ = conn.(BoundedConn)
	if s.user == "" {
		s.user = s.id
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := e.store.AddSession(s.ctx, store.Session{ID: s.id, UserID: s.user, Meta: meta}); err != nil {
		s.cancel()
		return nil, err
	}
	// The hello goes out before the session is reachable by ToAll or
	// ToUser, so it is always the client's first frame.
	if err := conn.Send(protocol.AppendHello(nil, s.id, s.user)); err != nil {
		s.Close(CloseReason{Code: CloseInternal, Text: "connection refused the hello frame"})
		return nil, ErrSessionClosed
	}
	e.sessions.add(s)
	if hook := e.cfg.OnConnect; hook != nil && !s.notify(func() { hook(s) }) {
		s.Close(CloseReason{Code: CloseInternal, Text: "internal error"})
		return nil, ErrSessionClosed
	}
	return s, nil
}

// Session returns the open session with the given id, or nil.
func (e *Engine) Session(id string) *Session { return e.sessions.get(id) }

// Shutdown closes every session with ReasonGoingAway (so clients reconnect
// and recover), refuses new ones, and waits for running
// handlers to return or ctx to end, whichever is first. It returns ctx's
// error if handlers were still running.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.lifeMu.Lock()
	already := e.stopping
	e.stopping = true
	e.lifeMu.Unlock()
	if !already {
		close(e.stop)
	}
	var open []*Session
	e.sessions.each(func(s *Session) { open = append(open, s) })
	for _, s := range open {
		s.Close(ReasonGoingAway)
	}
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) isStopping() bool {
	e.lifeMu.RLock()
	defer e.lifeMu.RUnlock()
	return e.stopping
}

// startWorker registers a goroutine that Shutdown waits for; false once
// the engine is stopping.
func (e *Engine) startWorker() bool {
	e.lifeMu.RLock()
	defer e.lifeMu.RUnlock()
	if e.stopping {
		return false
	}
	e.workers.Add(1)
	return true
}

// sweep expires history and drops rooms that are empty and have no history
// left, every quarter of HistoryTTL (at most every 30 s).
func (e *Engine) sweep() {
	defer e.workers.Done()
	every := min(e.cfg.HistoryTTL/4, 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			now := time.Now().UnixNano()
			for _, r := range e.rooms.all() {
				r.mu.Lock()
				idle := r.idle(now)
				r.mu.Unlock()
				if idle {
					e.rooms.dropIfIdle(r, now)
				}
			}
		}
	}
}

// checkName validates a room or event name.
func (e *Engine) checkName(name string) error {
	if name == "" || len(name) > e.cfg.MaxNameBytes || !utf8.ValidString(name) {
		return NewError(CodeInvalidName, "name must be 1 to %d bytes of UTF-8", e.cfg.MaxNameBytes)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return NewError(CodeInvalidName, "name must not contain control characters")
		}
	}
	return nil
}

// newID returns 128 random bits, base64url-encoded.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Stats are running totals and current sizes, for metrics and dashboards.
type Stats struct {
	Sessions        int    `json:"sessions"`         // open sessions
	Rooms           int    `json:"rooms"`            // rooms with members or retained history
	Published       uint64 `json:"published"`        // events emitted by the application
	Delivered       uint64 `json:"delivered"`        // frames handed to transports for those events
	Received        uint64 `json:"received"`         // inbound frames
	BadFrames       uint64 `json:"bad_frames"`       // inbound frames answered with an error
	SlowDisconnects uint64 `json:"slow_disconnects"` // sessions closed because their queue overflowed
	HandlerPanics   uint64 `json:"handler_panics"`   // recovered handler panics
	LagWaits        uint64 `json:"lag_waits"`        // Emit calls that waited for transports that were behind (Config.MaxLagWait)
	VolatileDropped uint64 `json:"volatile_dropped"` // volatile frames dropped for a recipient whose queue could not take them
}

type counters struct {
	published, delivered, received, badFrames, slowDisconnects, panics, lagWaits, volatileDropped atomic.Uint64
}

// Stats returns current figures. Counting sessions and rooms takes each
// registry shard's read lock briefly.
func (e *Engine) Stats() Stats {
	return Stats{
		Sessions:        e.sessions.count(),
		Rooms:           e.rooms.count(),
		Published:       e.stats.published.Load(),
		Delivered:       e.stats.delivered.Load(),
		Received:        e.stats.received.Load(),
		BadFrames:       e.stats.badFrames.Load(),
		SlowDisconnects: e.stats.slowDisconnects.Load(),
		HandlerPanics:   e.stats.panics.Load(),
		LagWaits:        e.stats.lagWaits.Load(),
		VolatileDropped: e.stats.volatileDropped.Load(),
	}
}

// Store returns the store the engine records sessions, memberships and
// presence in.
func (e *Engine) Store() store.Store { return e.store }
