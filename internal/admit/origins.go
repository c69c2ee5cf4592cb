package admit

import (
	"net/http"
	"net/url"
	"strings"
)

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
