// Package sse is hubbub's Server-Sent Events transport, with a long-poll
// mode for networks where streaming does not get through: an http.Handler
// that carries engine sessions over plain HTTP requests.
//
// Mount it on the application's mux:
//
//	e := engine.New(engine.Config{})
//	h := sse.New(e, sse.Config{})
//	mux.Handle("/sse", h)
//	…
//	e.Shutdown(ctx) // a final close frame (1001) on every stream
//	h.Close()       // ends streams, polls and timers
//
// # Routes
//
// Every route is the mount path itself; the method and the query select
// what a request does. docs/TRANSPORTS.md has the full reference.
//
//	GET     <mount>                              open a session; the response is its event stream
//	GET     <mount>  + Last-Event-ID: <token>.<n> resume the stream after event n (what EventSource sends)
//	GET     <mount>?session=<token>&cursor=<n>    resume the stream after event n (explicit form)
//	GET     <mount>?mode=poll                     open a session in long-poll mode
//	GET     <mount>?mode=poll&session=<token>&cursor=<n>  long-poll for the events after n
//	POST    <mount>?session=<token>               send frames up: one frame or a JSON array of frames
//	DELETE  <mount>?session=<token>               end the session now (no grace period)
//	OPTIONS <mount>                               CORS preflight
//
// The connect hook (engine.Config.Authenticate) runs on the two requests
// that open a session; cookies work, and since EventSource cannot set
// headers, so does a token in the query. Every other request is authorised
// by the session token alone.
//
// # The session token and event ids
//
// Each session gets a token of 128 random bits (22 characters of base64url),
// separate from the engine's session id, which the application and, for
// anonymous users, other room members may see. The token is the only
// credential of POST, poll, resume and DELETE requests: keep it like a
// cookie.
//
// Every frame the server sends is numbered per session: 1 is the hello
// frame, and so on without gaps. On a stream each SSE event carries the
// frames written in one flush (one frame, or several as a JSON array: the
// same transport message as over WebSocket) and has the id
// "<token>.<n>", n being the number of its last frame. A browser's
// EventSource reconnects by itself with that id in Last-Event-ID, so it
// resumes the same session without any script. A long-poll response is
// {"cursor":n,"frames":[…]}, n being the number of its last frame; the next
// poll passes it back.
//
// # Resume and the grace period
//
// A session outlives its stream: when the stream drops, the session keeps
// its rooms and presence for Config.Grace, and frames keep queueing for it
// (bounded by Config.QueueBytes; past it the engine closes the session as a
// slow consumer, 4008). A stream or poll that comes back within the grace
// period with the number of the last frame it received gets exactly the
// frames after it, in order, with no duplicate and no leave/join flapping:
// frames already written are kept in a replay buffer (Config.ReplayBytes)
// for that purpose. When the client asks for frames that have left the
// replay buffer, it gets a {"t":"resync"} frame (TypeResync) and the
// session is closed with 4008: the client opens a new session and recovers
// each room from history (join with "since"). After the grace period the
// session is closed with 1006 (ReasonGone), its rooms left.
//
// A session has one reader at a time: a new stream or poll for it replaces
// the older one, which gets a {"t":"replaced"} frame (TypeReplaced) and
// ends.
//
// # Costs
//
// Over HTTP/1.x a stream takes its connection from net/http once attached
// and costs two small goroutines (one writes, one notices the client
// closing) and a pooled write buffer only while it writes; over HTTP/2 it
// costs its request. A session without a stream costs one stopped timer
// and its buffers, no goroutine.
package sse

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
	"github.com/hubbubhq/hubbub/protocol"
)

// Defaults for zero Config fields.
const (
	DefaultPingInterval    = 15 * time.Second
	DefaultRetry           = 2 * time.Second
	DefaultGrace           = 30 * time.Second
	DefaultPollTimeout     = 25 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultQueueBytes      = 1 << 20
	DefaultReplayBytes     = 64 << 10
	DefaultMaxMessageBytes = 64 << 10
)

// Former names of defaults.
const (
	// Deprecated: use DefaultPingInterval.
	DefaultHeartbeat = DefaultPingInterval
	// Deprecated: use DefaultMaxMessageBytes.
	DefaultMaxBodyBytes = DefaultMaxMessageBytes
)

// Frame types the SSE transport adds to the protocol (docs/TRANSPORTS.md):
// transport frames, which carry no event id and are not numbered.
const (
	TypeResync   = protocol.TypeResync   // the frames a resuming client asked for are gone
	TypeReplaced = protocol.TypeReplaced // a newer stream or poll took the session
)

// Codes in TypeResync and TypeReplaced frames and in refusals
// ({"error": code, "reason": text}) that are not engine codes; see
// package protocol.
const (
	CodeNotRecovered     = protocol.CodeNotRecovered
	CodeReplaced         = protocol.CodeReplaced
	CodeUnknownSession   = protocol.CodeUnknownSession
	CodeSessionClosed    = protocol.CodeSessionClosed
	CodeBadRequest       = protocol.CodeBadRequest
	CodeMethodNotAllowed = protocol.CodeMethodNotAllowed
	CodeUnavailable      = protocol.CodeUnavailable
)

// ReasonGone closes a session whose client did not come back within
// Config.Grace. Its code is 1006 (protocol.CloseAbnormal), as for a
// WebSocket connection lost without a close frame.
var ReasonGone = engine.CloseReason{Code: protocol.CloseAbnormal, Text: "connection lost: no stream or poll within the grace period"}

// Config configures a Handler. The zero value is a working default:
// same-origin pages and non-browser clients, heartbeats every 15 s, a 30 s
// grace period, 25 s polls, a 1 MiB send queue and a 64 KiB replay buffer
// per session, 64 KiB request bodies.
type Config struct {
	// AllowedOrigins is added to the engine's origin policy
	// (engine.Config.Origins.Allowed), which decides for every transport.
	// Allowed cross-origin requests get CORS headers that allow credentials
	// (EventSource withCredentials, fetch with credentials: "include"), and
	// preflight requests are answered.
	//
	// Deprecated: set engine.Config.Origins.
	AllowedOrigins []string
	// AllowAllOrigins sets engine.Config.Origins.AllowAll for this
	// transport.
	//
	// Deprecated: set engine.Config.Origins.
	AllowAllOrigins bool

	// PingInterval is how often an idle stream gets a heartbeat comment
	// line, which keeps proxies from closing it and lets the server notice
	// a dead client (the WebSocket transport's setting of the same name
	// pings). Default DefaultPingInterval (15 s).
	PingInterval time.Duration
	// Retry is the reconnection delay suggested to EventSource with a
	// "retry:" line at the start of each stream. Default DefaultRetry (2 s).
	Retry time.Duration
	// Grace is how long a session whose stream or poll ended waits for its
	// client to come back before it is closed with ReasonGone (rooms left,
	// presence updated). It is also how long a closed session's last
	// frames and close reason stay available to a returning client.
	// Default DefaultGrace (30 s).
	Grace time.Duration
	// PollTimeout is how long a poll waits for frames before it returns an
	// empty batch. Keep it below Grace and below the idle timeouts of
	// proxies. Default DefaultPollTimeout (25 s).
	PollTimeout time.Duration
	// WriteTimeout bounds each write of a stream or poll response. It
	// replaces http.Server.WriteTimeout for these responses (a deadline on
	// the connection a stream took, or through http.ResponseController),
	// so a server may set a short WriteTimeout and still keep streams
	// open. A client that reads so slowly that a
	// write takes longer loses its stream; its session waits out the grace
	// period. Default DefaultWriteTimeout (10 s).
	WriteTimeout time.Duration

	// QueueBytes bounds the frames waiting for a session's stream or next
	// poll, in bytes (plus a small per-frame overhead). When a frame would
	// pass it, the engine closes the session with 4008 (slow consumer);
	// frames queued then are dropped and the client recovers them from
	// room history. Default DefaultQueueBytes (1 MiB).
	QueueBytes int
	// ReplayBytes bounds the frames already sent that a session keeps to
	// replay to a client that resumes (their bytes plus a small overhead
	// each; the latest frame is always kept). Resuming from a frame older
	// than that gives a TypeResync frame. Negative keeps only the latest
	// frame. Default DefaultReplayBytes (64 KiB): it only has to cover
	// frames lost in flight when a connection drops, since frames for a
	// client that is away wait in the send queue. Broadcast frames are
	// shared, so a session's own cost is about 24 bytes per retained frame.
	ReplayBytes int
	// MaxMessageBytes bounds one inbound message, the body of a POST (a
	// frame or a batch); larger bodies get 413 "too_large". A body within
	// it but above the engine's MaxFrameBytes gets a "too_large" error
	// frame down the stream instead. Default DefaultMaxMessageBytes
	// (64 KiB).
	MaxMessageBytes int

	// Logger receives one line per refused request, replaced reader,
	// unrecoverable resume and expired session. Default slog.Default().
	Logger *slog.Logger

	// MaxWritesPerSecond bounds the stream writes (each one write and one
	// flush of everything queued for that stream) the Handler makes per
	// second across all its streams, plus a burst of 1/100 of it. Zero is
	// the default, DefaultWritesPerCPU × GOMAXPROCS (25,000 on 2 CPUs);
	// negative means no bound (as in the WebSocket transport, whose
	// default is no bound). As for the WebSocket transport's budget: every write costs a
	// system call and a wakeup whatever its size, so under a broadcast
	// burst to thousands of streams each stream waits its turn while its
	// frames pile up, and then writes them all at once. Under light load
	// nothing waits. Polls are not counted: each answer already carries
	// everything queued.
	MaxWritesPerSecond int

	// Heartbeat is the former name of PingInterval, used when
	// PingInterval is zero.
	//
	// Deprecated: use PingInterval.
	Heartbeat time.Duration
	// MaxBodyBytes is the former name of MaxMessageBytes, used when
	// MaxMessageBytes is zero.
	//
	// Deprecated: use MaxMessageBytes.
	MaxBodyBytes int
}

func (c Config) withDefaults() Config {
	if c.MaxWritesPerSecond == 0 {
		c.MaxWritesPerSecond = DefaultWritesPerCPU * runtime.GOMAXPROCS(0)
	}
	if c.PingInterval <= 0 {
		c.PingInterval = c.Heartbeat
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.ReplayBytes == 0 {
		c.ReplayBytes = DefaultReplayBytes
	}
	if c.ReplayBytes < 0 {
		c.ReplayBytes = 0
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = c.MaxBodyBytes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Handler is the SSE and long-poll transport: an http.Handler that runs
// engine sessions over HTTP requests. Create it with New; it is safe for
// concurrent use.
type Handler struct {
	e    *engine.Engine
	cfg  Config
	log  *slog.Logger
	gate *admit.Gate

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session // by token; closed sessions stay for Grace
	wg       sync.WaitGroup      // requests being served and timer callbacks running

	writes *rate.Limiter // the write budget of streams; nil: none
}

// DefaultWritesPerCPU × GOMAXPROCS is the default Config.MaxWritesPerSecond.
const DefaultWritesPerCPU = 12500

func newWriteLimiter(perSecond int) *rate.Limiter {
	if perSecond < 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, perSecond/100))
}

// New returns a Handler that serves SSE and long-poll sessions for e. It
// starts no goroutine.
func New(e *engine.Engine, cfg Config) *Handler {
	cfg = cfg.withDefaults()
	return &Handler{
		e:        e,
		cfg:      cfg,
		log:      cfg.Logger,
		gate:     admit.New(e, "hubbub/sse", cfg.AllowedOrigins, cfg.AllowAllOrigins, cfg.Logger),
		sessions: make(map[string]*session),
		writes:   newWriteLimiter(cfg.MaxWritesPerSecond),
	}
}

const allowedMethods = "GET, POST, DELETE, OPTIONS"

// ServeHTTP serves the routes in the package documentation. A stream
// request over HTTP/1.x returns once the stream is attached: the
// connection is taken from net/http (http.Hijacker) and the stream goes on
// on a goroutine of its own until it ends (client gone, write timeout,
// session closed, replaced by a newer reader, or Close); over HTTP/2 the
// request lasts as long as the stream. A poll returns after at most
// Config.PollTimeout. Refusals are JSON ({"error": code, "reason":
// text}), logged once, and touch no other session. After Close every
// request gets 503.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.enter() {
		h.gate.RefuseShutdown(w, r)
		return
	}
	defer h.wg.Done()

	if !h.gate.CheckOrigin(w, r) {
		return
	}
	if admit.CrossOrigin(r) {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		hdr.Set("Access-Control-Allow-Credentials", "true")
		hdr.Add("Vary", "Origin")
	}

	switch r.Method {
	case http.MethodGet:
		h.serveGet(w, r)
	case http.MethodPost:
		h.servePost(w, r)
	case http.MethodDelete:
		h.serveDelete(w, r)
	case http.MethodOptions:
		h.servePreflight(w, r)
	default:
		w.Header().Set("Allow", allowedMethods)
		h.gate.Refuse(w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" not allowed; use "+allowedMethods)
	}
}

// servePreflight answers CORS preflight requests (the origin was checked).
func (h *Handler) servePreflight(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Allow", allowedMethods)
	if r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			hdr.Set("Access-Control-Allow-Headers", req)
		} else {
			hdr.Set("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID")
		}
		hdr.Set("Access-Control-Max-Age", "600")
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveGet opens, resumes or polls.
func (h *Handler) serveGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	poll := false
	switch mode := q.Get("mode"); mode {
	case "", "stream":
	case "poll":
		poll = true
	default:
		h.gate.Refuse(w, r, http.StatusBadRequest, CodeBadRequest, `mode must be "stream" or "poll", not `+strconv.Quote(mode))
		return
	}
	token, cursor, resume, err := resumePoint(r, q.Get("session"), q.Get("cursor"), !poll)
	if err != nil {
		h.gate.Refuse(w, r, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	var s *session
	if resume {
		if s = h.lookup(w, r, token); s == nil {
			return
		}
	} else {
		if s = h.open(w, r); s == nil {
			return
		}
	}
	if poll {
		h.servePoll(w, r, s, cursor, !resume)
	} else {
		h.serveStream(w, r, s, cursor)
	}
}

// resumePoint reads which session and frame a GET resumes from: the
// Last-Event-ID header (streams only, as EventSource sends it; it wins over
// the query, which a reconnecting EventSource repeats unchanged) or the
// session and cursor parameters.
func resumePoint(r *http.Request, token, cursorParam string, stream bool) (string, uint64, bool, error) {
	if last := r.Header.Get("Last-Event-ID"); stream && last != "" {
		tok, seq, ok := parseEventID(last)
		if !ok {
			return "", 0, false, errors.New("Last-Event-ID " + strconv.Quote(last) + " is not an id this server sent")
		}
		if token != "" && token != tok {
			return "", 0, false, errors.New("Last-Event-ID and the session parameter name different sessions")
		}
		return tok, seq, true, nil
	}
	if token == "" {
		if cursorParam != "" {
			return "", 0, false, errors.New("cursor without a session parameter")
		}
		return "", 0, false, nil
	}
	if cursorParam == "" {
		return "", 0, false, errors.New("the session parameter needs a cursor: the number of the last frame received (0 for none)")
	}
	seq, err := strconv.ParseUint(cursorParam, 10, 64)
	if err != nil {
		return "", 0, false, errors.New("cursor must be an unsigned integer, not " + strconv.Quote(cursorParam))
	}
	return token, seq, true, nil
}

// eventID formats the id of an event whose last frame is seq.
func appendEventID(b []byte, token string, seq uint64) []byte {
	b = append(b, token...)
	b = append(b, '.')
	return strconv.AppendUint(b, seq, 10)
}

func parseEventID(id string) (token string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], seq, true
}

// servePost feeds a POST body to the session.
func (h *Handler) servePost(w http.ResponseWriter, r *http.Request) {
	s := h.lookupParam(w, r)
	if s == nil {
		return
	}
	body, err := readBody(w, r, h.cfg.MaxMessageBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.gate.Refuse(w, r, http.StatusRequestEntityTooLarge, engine.CodeTooLarge,
				"body exceeds the "+strconv.Itoa(h.cfg.MaxMessageBytes)+"-byte limit")
			return
		}
		h.gate.Refuse(w, r, http.StatusBadRequest, CodeBadRequest, "reading the body: "+err.Error())
		return
	}
	if err := checkJSON(body); err != nil {
		h.gate.Refuse(w, r, http.StatusBadRequest, engine.CodeMalformed, err.Error())
		return
	}
	// Protocol errors (unknown type, bad names, too large for the engine)
	// come down the stream as error frames, as over WebSocket.
	if err := s.es.Receive(body); err != nil {
		h.refuseClosed(w, r, s)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveDelete closes the session at the client's request.
func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request) {
	s := h.lookupParam(w, r)
	if s == nil {
		return
	}
	s.es.Close(engine.ReasonNormal)
	w.WriteHeader(http.StatusNoContent)
}

// lookupParam finds the session named by the session parameter, or
// answers the request.
func (h *Handler) lookupParam(w http.ResponseWriter, r *http.Request) *session {
	token := r.URL.Query().Get("session")
	if token == "" {
		h.gate.Refuse(w, r, http.StatusBadRequest, CodeBadRequest, "missing the session parameter")
		return nil
	}
	s := h.lookup(w, r, token)
	if s == nil {
		return nil
	}
	if s.isClosed() {
		h.refuseClosed(w, r, s)
		return nil
	}
	return s
}

// lookup finds a session by token, or answers 404.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, token string) *session {
	h.mu.Lock()
	s := h.sessions[token]
	h.mu.Unlock()
	if s == nil {
		h.gate.Refuse(w, r, http.StatusNotFound, CodeUnknownSession, "no session with this token: it never existed or ended more than the grace period ago; open a new session")
		return nil
	}
	return s
}

func (h *Handler) refuseClosed(w http.ResponseWriter, r *http.Request, s *session) {
	reason := s.closeReason()
	h.gate.Refuse(w, r, http.StatusGone, CodeSessionClosed,
		"the session has ended ("+strconv.Itoa(int(reason.Code))+" "+reason.Text+"); open a new session")
}

// open authenticates r and opens a new session, or answers the request.
func (h *Handler) open(w http.ResponseWriter, r *http.Request) *session {
	s := newSession(h)
	es := h.gate.Admit(w, r, s, func(es *engine.Session) bool {
		s.es = es
		// The token has not been sent yet, so no request can be looking
		// for it; the mutex publishes s.es to those that will.
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			return false
		}
		h.sessions[s.token] = s
		return true
	})
	if es == nil {
		return nil
	}
	return s
}

// Close closes every session still open with 1001 "server shutting down"
// (normally engine.Shutdown has already done so), lets each stream and poll
// write its last frames, waits for them to end and stops every timer. A
// client that stopped reading delays Close by up to Config.WriteTimeout.
// Requests after Close get 503. Close is idempotent and returns nil.
func (h *Handler) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()

	for _, s := range all {
		s.es.Close(engine.ReasonGoingAway)
	}
	h.wg.Wait()
	for _, s := range all {
		s.stopTimer()
	}
	h.mu.Lock()
	clear(h.sessions)
	h.mu.Unlock()
	return nil
}

// enter registers a request or timer callback that Close waits for; false
// after Close.
func (h *Handler) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Handler) remove(s *session) {
	h.mu.Lock()
	if h.sessions[s.token] == s {
		delete(h.sessions, s.token)
	}
	h.mu.Unlock()
}
