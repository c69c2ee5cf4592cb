// Package admit is the one path by which every hubbub transport turns an
// HTTP request into an engine session: the Origin policy, the engine's
// connect hook (Authenticate), the mapping of a refusal to an HTTP status
// and a JSON body, opening the session, and the answer while the server
// shuts down. A transport adds only what is its own (a WebSocket upgrade,
// an event stream).
package admit

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/protocol"
)

// Gate admits requests for one transport. Build it with New; it is safe for
// concurrent use.
type Gate struct {
	e       *engine.Engine
	origins *Origins
	log     *slog.Logger
	name    string
}

// New returns a Gate for the transport called name ("hubbub/ws"), which
// prefixes its log lines, applying the engine's origin policy
// (engine.Config.Origins). allowed and allowAll are a transport's own
// deprecated origin settings, added to the engine's; a warning is logged
// once when they are used.
func New(e *engine.Engine, name string, allowed []string, allowAll bool, log *slog.Logger) *Gate {
	p := e.Origins()
	if len(allowed) > 0 || allowAll {
		log.Warn(name + ": the transport's AllowedOrigins and AllowAllOrigins are deprecated: set engine.Config.Origins, which every transport applies")
		p.Allowed = append(p.Allowed, allowed...)
		p.AllowAll = p.AllowAll || allowAll
	}
	return &Gate{e: e, origins: NewOrigins(p), log: log, name: name}
}

// OriginAllowed reports whether r's Origin may connect (see Origins.Allowed).
func (g *Gate) OriginAllowed(r *http.Request) bool { return g.origins.Allowed(r) }

// CheckOrigin refuses r with 403 and returns false when its Origin is not
// allowed.
func (g *Gate) CheckOrigin(w http.ResponseWriter, r *http.Request) bool {
	ok, reason := g.origins.Check(r)
	if !ok {
		g.Refuse(w, r, http.StatusForbidden, protocol.CodeForbidden, reason)
	}
	return ok
}

// Refuse logs a refused request once and answers it with status and a
// JSON body.
func (g *Gate) Refuse(w http.ResponseWriter, r *http.Request, status int, code, reason string) {
	g.log.Info(g.name+": request refused", "method", r.Method, "remote", r.RemoteAddr, "status", status, "code", code, "reason", reason)
	WriteRefusal(w, status, code, reason)
}

// RefuseShutdown answers a request that comes while the transport or the
// engine shuts down: 503, "unavailable", "server shutting down".
func (g *Gate) RefuseShutdown(w http.ResponseWriter, r *http.Request) {
	g.Refuse(w, r, http.StatusServiceUnavailable, protocol.CodeUnavailable, shuttingDown)
}

// Admit authenticates r (the engine's connect hook, which logs its own
// refusals), opens a session on conn and hands it to register, which the
// transport uses to record the session under its own lock: register
// returns false when the transport is closing, and the session is then
// closed with 1001 before any client saw it. The Origin is not checked
// here: transports check it first with CheckOrigin, before any work.
//
// On success Admit returns the session and has written nothing to w. On
// refusal it has answered w (401 or 403 with the hook's code and reason,
// 503 while shutting down, 500 if the engine failed) and returns nil.
func (g *Gate) Admit(w http.ResponseWriter, r *http.Request, conn engine.Conn, register func(*engine.Session) bool) *engine.Session {
	id, err := g.e.Authenticate(r)
	if err != nil {
		status, code, reason := AuthRefusal(err)
		WriteRefusal(w, status, code, reason)
		return nil
	}
	s, err := g.e.Open(conn, id)
	if err != nil {
		if errors.Is(err, engine.ErrClosed) {
			g.RefuseShutdown(w, r)
			return nil
		}
		g.log.Error(g.name+": session not opened", "remote", r.RemoteAddr, "err", err)
		WriteRefusal(w, http.StatusInternalServerError, protocol.CodeInternal, "internal error")
		return nil
	}
	if !register(s) {
		s.Close(engine.ReasonGoingAway)
		g.RefuseShutdown(w, r)
		return nil
	}
	return s
}
