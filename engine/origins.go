package engine

// OriginPolicy decides which browser pages may open and use sessions, for
// every transport of an engine alike: the WebSocket upgrade, the SSE
// stream, its polls and its POSTs are judged by the same rule, so a
// session works both ways or not at all. The zero value allows
// same-origin pages and clients that send no Origin header (non-browser
// clients, which can forge any header anyway).
//
// A request is same-origin when the browser says so (Sec-Fetch-Site:
// same-origin, a header no page can set) or when its Origin's host equals
// the request's Host, or, with TrustForwardedHost, the host a reverse proxy
// forwarded. Any other Origin must be listed in Allowed; everything else is
// refused with 403 and a reason that says what was compared and which
// setting allows it. This stops cross-site WebSocket hijacking and
// cross-site requests riding on the user's cookies.
type OriginPolicy struct {
	// Allowed lists the browser origins allowed besides the server's own.
	// An entry is a full origin ("https://app.example.com", compared with
	// the Origin header's scheme and host) or a bare host
	// ("app.example.com:8443", compared with the Origin header's host);
	// comparison ignores case and a trailing slash. "*" has no special
	// meaning: use AllowAll.
	Allowed []string
	// AllowAll accepts every Origin. Only set it when sessions are opened
	// with credentials a foreign page cannot send (a token in the URL or a
	// header), never with cookies alone.
	AllowAll bool
	// TrustForwardedHost compares the Origin also with the host a reverse
	// proxy forwarded (X-Forwarded-Host, or the host of a Forwarded
	// header), for proxies that change the Host header (nginx's
	// "proxy_set_header Host $host" drops the port). Off by default: set it
	// only when every request comes through a proxy that sets or strips
	// those headers, since a client could send them itself.
	TrustForwardedHost bool
}

// Origins returns the engine's origin policy (Config.Origins), for
// transports.
func (e *Engine) Origins() OriginPolicy {
	p := e.cfg.Origins
	p.Allowed = append([]string(nil), p.Allowed...)
	return p
}
