package admit

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/hubbubhq/hubbub/engine"
)

// Origins applies an engine.OriginPolicy to requests. It is safe for
// concurrent use once built.
type Origins struct {
	all     bool
	forward bool
	set     map[string]struct{} // lower-cased entries
}

// NewOrigins builds the checker of a policy (see engine.OriginPolicy).
func NewOrigins(p engine.OriginPolicy) *Origins {
	o := &Origins{all: p.AllowAll, forward: p.TrustForwardedHost, set: make(map[string]struct{}, len(p.Allowed))}
	for _, s := range p.Allowed {
		s = strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
		if s != "" {
			o.set[s] = struct{}{}
		}
	}
	return o
}

// Allowed reports whether r may be served.
func (o *Origins) Allowed(r *http.Request) bool {
	ok, _ := o.Check(r)
	return ok
}

// Check reports whether r may be served and, when not, why: what the
// Origin was compared with, and which setting would allow it.
func (o *Origins) Check(r *http.Request) (ok bool, reason string) {
	origin := r.Header.Get("Origin")
	if origin == "" || o.all || r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true, ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false, "origin " + origin + " not allowed: it is not a scheme and host (an opaque origin, such as a sandboxed page's, cannot be allowed except with engine.Config.Origins.AllowAll)"
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true, ""
	}
	fwd := ""
	if o.forward {
		fwd = forwardedHost(r)
		if fwd != "" && strings.EqualFold(u.Host, fwd) {
			return true, ""
		}
	}
	host := strings.ToLower(u.Host)
	if _, ok := o.set[strings.ToLower(u.Scheme)+"://"+host]; ok {
		return true, ""
	}
	if _, ok := o.set[host]; ok {
		return true, ""
	}
	reason = "origin " + origin + " not allowed: its host is not the request's host " + strings.ToLower(r.Host) + " (Host header"
	switch {
	case fwd != "":
		reason += ", or " + fwd + " forwarded by the proxy)"
	case o.forward:
		reason += "; the proxy forwarded none)"
	default:
		reason += ")"
	}
	reason += " and not in engine.Config.Origins.Allowed; list it there"
	if !o.forward {
		reason += ", or, behind a reverse proxy that changes Host, set Origins.TrustForwardedHost"
	}
	return false, reason
}

// forwardedHost returns the host a reverse proxy forwarded: the first of
// X-Forwarded-Host, or the host of the first Forwarded element (RFC 7239).
func forwardedHost(r *http.Request) string {
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		h, _, _ = strings.Cut(h, ",")
		return strings.TrimSpace(h)
	}
	first, _, _ := strings.Cut(r.Header.Get("Forwarded"), ",")
	for _, kv := range strings.Split(first, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, "host") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
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
