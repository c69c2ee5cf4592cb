// Package httpx is the HTTP plumbing that hubbub's transports share: the
// JSON body of a refused request, the mapping of connect-hook errors to
// HTTP statuses, and the Origin allowlist.
package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/hubbubhq/hubbub/engine"
)

// Refusal is the JSON body of every refused request:
// {"error": code, "reason": text}.
type Refusal struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// WriteRefusal answers a request with status and a Refusal body. Headers
// already set on w (CORS, Allow) are kept.
func WriteRefusal(w http.ResponseWriter, status int, code, reason string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Refusal{Error: code, Reason: reason})
}

// CodeUnavailable is the refusal code while the server shuts down (503).
const CodeUnavailable = "unavailable"

// AuthRefusal maps an error from engine.Engine.Authenticate to the HTTP
// status, code and reason of the refusal: engine.HTTPStatus for the
// status; an *engine.Error keeps its code and message; engine.ErrClosed is
// "unavailable" / "server shutting down"; anything else is "unauthorized"
// with the error's text.
func AuthRefusal(err error) (status int, code, reason string) {
	code, reason = engine.CodeUnauthorized, err.Error()
	var we *engine.Error
	switch {
	case errors.Is(err, engine.ErrClosed):
		code, reason = CodeUnavailable, "server shutting down"
	case errors.As(err, &we):
		code, reason = we.Code, we.Message
	}
	return engine.HTTPStatus(err), code, reason
}

// Origins is an Origin allowlist for browser requests. The zero value and
// nil allow same-origin requests and requests without an Origin header
// only. It is safe for concurrent use once built.
type Origins struct {
	all bool
	set map[string]struct{} // lower-cased entries
}

// NewOrigins builds an allowlist. An entry is a full origin
// ("https://app.example.com", compared with the Origin header's scheme and
// host) or a bare host ("app.example.com:8443", compared with the Origin
// header's host); comparison ignores case and a trailing slash. "*" has no
// special meaning: allowAll accepts every origin.
func NewOrigins(allowed []string, allowAll bool) *Origins {
	o := &Origins{all: allowAll, set: make(map[string]struct{}, len(allowed))}
	for _, s := range allowed {
		s = strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
		if s != "" {
			o.set[s] = struct{}{}
		}
	}
	return o
}

// Allowed reports whether r may be served. Requests without an Origin
// header are allowed (browsers always send one on cross-origin requests;
// other clients can forge any header anyway), and so are same-origin
// requests (the Origin's host equals the request's Host). Behind a proxy
// that rewrites Host, same-origin no longer matches: list the public
// origin.
func (o *Origins) Allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || (o != nil && o.all) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if o == nil {
		return false
	}
	host := strings.ToLower(u.Host)
	if _, ok := o.set[strings.ToLower(u.Scheme)+"://"+host]; ok {
		return true
	}
	_, ok := o.set[host]
	return ok
}

// CrossOrigin reports whether r carries an Origin header naming another
// origin than the request's Host: the requests whose responses need CORS
// headers.
func CrossOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}
