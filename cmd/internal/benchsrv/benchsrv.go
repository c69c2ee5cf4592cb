// Package benchsrv is hubbub's benchmark server: an engine with every
// transport mounted and the control endpoints of the peer benchmarks in
// ../shared/peers (their internal/ctl), so that hubbub is measured the same
// way as melody, centrifuge and socket.io:
//
//	GET  /pid                   the server's process id
//	GET  /subscribers           sessions in room "bench"
//	GET  /stats                 engine.Stats and runtime figures, as JSON
//	POST /burst?count=K&size=S  publish K payloads of S bytes to room "bench"
//
// Clients connect to a transport (GET /ws for WebSocket, GET /sse for
// Server-Sent Events and /sse?mode=poll for long-poll), wait for the hello
// frame and join room "bench" with a join frame; the join's ack tells
// them that every later event reaches them.
package benchsrv

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/hubbubhq/hubbub/cmd/internal/payload"
	"github.com/hubbubhq/hubbub/cmd/internal/proc"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// Room is the room clients join and /burst publishes to; Event is the
// event name of the published messages.
const (
	Room  = "bench"
	Event = "msg"
)

// Config configures a Server. The zero value serves every transport with
// its defaults and logs warnings and errors to slog.Default().
type Config struct {
	Logger *slog.Logger
	Engine engine.Config // Logger is set from Logger when nil; Origins.AllowAll is always set
	WS     ws.Config     // Logger as above
	SSE    sse.Config    // the same
}

// transport is one transport the server mounts.
type transport struct {
	name, path string
	mount      func(e *engine.Engine, cfg Config) (h http.Handler, closeFn func() error)
}

// transports lists what the bench server serves. Adding a transport is one
// line here (and its client in cmd/internal/load).
var transports = []transport{
	{"ws", "/ws", func(e *engine.Engine, cfg Config) (http.Handler, func() error) {
		cfg.WS.Logger = cmp.Or(cfg.WS.Logger, cfg.Logger)
		h := ws.New(e, cfg.WS)
		return h, h.Close
	}},
	{"sse", "/sse", func(e *engine.Engine, cfg Config) (http.Handler, func() error) { // SSE and long-poll
		cfg.SSE.Logger = cmp.Or(cfg.SSE.Logger, cfg.Logger)
		h := sse.New(e, cfg.SSE)
		return h, h.Close
	}},
}

// Transports returns the names and paths of the mounted transports.
func Transports() map[string]string {
	m := make(map[string]string, len(transports))
	for _, t := range transports {
		m[t.name] = t.path
	}
	return m
}

// Server is an engine with its transports and the control endpoints. It is
// an http.Handler.
type Server struct {
	e       *engine.Engine
	mux     *http.ServeMux
	closers []func() error
}

// New starts an engine and mounts every transport and the control
// endpoints. Close stops them.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Engine.Logger = cmp.Or(cfg.Engine.Logger, cfg.Logger)
	cfg.Engine.Origins.AllowAll = true // load tools send any Origin
	s := &Server{e: engine.New(cfg.Engine), mux: http.NewServeMux()}
	for _, t := range transports {
		h, closeFn := t.mount(s.e, cfg)
		s.mux.Handle(t.path, h)
		s.closers = append(s.closers, closeFn)
	}
	s.mux.HandleFunc("GET /pid", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", os.Getpid())
	})
	s.mux.HandleFunc("GET /subscribers", func(w http.ResponseWriter, _ *http.Request) {
		// Bench clients are anonymous: one user per session, so the
		// room's user count is its session count.
		fmt.Fprintf(w, "%d\n", s.e.PresenceCount(Room))
	})
	s.mux.HandleFunc("GET /stats", s.stats)
	s.mux.HandleFunc("POST /burst", s.burst)
	return s
}

// Engine returns the server's engine.
func (s *Server) Engine() *engine.Engine { return s.e }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close shuts the engine down (clients get 1001) and closes the
// transports, waiting for their connections to end or ctx to pass.
func (s *Server) Close(ctx context.Context) error {
	err := s.e.Shutdown(ctx)
	for _, c := range s.closers {
		err = errors.Join(err, c())
	}
	return err
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeJSON(w, struct {
		engine.Stats
		Goroutines int     `json:"goroutines"`
		HeapAlloc  uint64  `json:"heap_alloc"`
		HeapInuse  uint64  `json:"heap_inuse"`
		StackInuse uint64  `json:"stack_inuse"`
		Sys        uint64  `json:"sys"`
		NumGC      uint32  `json:"num_gc"`
		CPUSeconds float64 `json:"cpu_seconds"` // user + system, since start
	}{s.e.Stats(), runtime.NumGoroutine(), ms.HeapAlloc, ms.HeapInuse, ms.StackInuse, ms.Sys, ms.NumGC, proc.CPUSeconds()})
}

// burst publishes count payloads of size bytes to Room through the public
// API, one Emit each, as fast as Emit returns, and answers when all were
// handed over. Each payload is a JSON string stamped just before its Emit.
func (s *Server) burst(w http.ResponseWriter, r *http.Request) {
	count, err1 := strconv.Atoi(r.URL.Query().Get("count"))
	size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
	if err1 != nil || err2 != nil || count < 0 || size < 0 {
		http.Error(w, "want ?count=K&size=S with K, S ≥ 0", http.StatusBadRequest)
		return
	}
	to := s.e.To(Room)
	start := time.Now()
	for seq := range count {
		d := payload.AppendJSON(make([]byte, 0, size+32), seq, time.Now().UnixNano(), size)
		if err := to.Emit(Event, json.RawMessage(d)); err != nil {
			http.Error(w, fmt.Sprintf("emit %d: %v", seq, err), http.StatusInternalServerError)
			return
		}
	}
	writeJSON(w, map[string]any{"count": count, "size": size, "publish_seconds": time.Since(start).Seconds()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
