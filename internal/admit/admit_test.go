package admit_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
	"github.com/hubbubhq/hubbub/protocol"
)

func TestWriteRefusal(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Allow", "GET")
	admit.WriteRefusal(w, http.StatusMethodNotAllowed, "method_not_allowed", `use "GET"`)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, "GET", w.Header().Get("Allow"), "headers set before are kept")
	var body protocol.Refusal
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, protocol.Refusal{Error: "method_not_allowed", Reason: `use "GET"`}, body)
}

func TestAuthRefusal(t *testing.T) {
	for _, tc := range []struct {
		err          error
		status       int
		code, reason string
	}{
		{errors.New("bad token"), 401, engine.CodeUnauthorized, "bad token"},
		{engine.NewError(engine.CodeForbidden, "banned"), 403, engine.CodeForbidden, "banned"},
		{engine.NewError(engine.CodeUnauthorized, "expired"), 401, engine.CodeUnauthorized, "expired"},
		{engine.ErrClosed, 503, protocol.CodeUnavailable, "server shutting down"},
	} {
		status, code, reason := admit.AuthRefusal(tc.err)
		require.Equal(t, tc.status, status, tc.err)
		require.Equal(t, tc.code, code, tc.err)
		require.Equal(t, tc.reason, reason, tc.err)
	}
}

func TestOrigins(t *testing.T) {
	const host = "hub.example:8080"
	evil := "https://evil.example"
	none := admit.NewOrigins(engine.OriginPolicy{})
	list := func(l ...string) *admit.Origins { return admit.NewOrigins(engine.OriginPolicy{Allowed: l}) }
	trusting := admit.NewOrigins(engine.OriginPolicy{TrustForwardedHost: true})
	for _, tc := range []struct {
		name   string
		o      *admit.Origins
		origin string
		header map[string]string
		ok     bool
	}{
		{"no Origin", none, "", nil, true},
		{"same origin", none, "http://" + host, nil, true},
		{"others refused", none, evil, nil, false},
		{"same origin ignores case", none, "http://HUB.example:8080", nil, true},
		{"opaque origin", none, "null", nil, false},
		{"listed origin", list(" https://app.example/ "), "https://APP.example", nil, true},
		{"scheme is compared", list("https://app.example"), "http://app.example", nil, false},
		{"bare host", list("partner.example:8443"), "https://partner.example:8443", nil, true},
		{"star is no wildcard", list("*"), evil, nil, false},
		{"allow all", admit.NewOrigins(engine.OriginPolicy{AllowAll: true}), evil, nil, true},
		// Behind a proxy that dropped the port from Host: the browser's
		// own word, or a trusted forwarded host, make it same-origin.
		{"browser says same-origin", none, "http://hub.example:9000", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"browser says cross-site", none, evil, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"forwarded host ignored by default", none, "http://pub.example", map[string]string{"X-Forwarded-Host": "pub.example"}, false},
		{"trusted X-Forwarded-Host", trusting, "http://pub.example", map[string]string{"X-Forwarded-Host": "pub.example, inner"}, true},
		{"trusted Forwarded", trusting, "http://pub.example", map[string]string{"Forwarded": `for=1.2.3.4;host="pub.example";proto=http`}, true},
		{"trusted forwarded host is compared", trusting, evil, map[string]string{"X-Forwarded-Host": "pub.example"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			ok, reason := tc.o.Check(r)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.ok, tc.o.Allowed(r))
			if !ok {
				require.Contains(t, reason, tc.origin, "the reason names the origin")
				require.Contains(t, reason, "engine.Config.Origins", "the reason names the setting")
			}
		})
	}
}

func TestOriginRefusalSaysWhatWasCompared(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://hub.example/x", nil)
	r.Header.Set("Origin", "http://hub.example:8080")
	_, reason := admit.NewOrigins(engine.OriginPolicy{}).Check(r)
	require.Equal(t, "origin http://hub.example:8080 not allowed: its host is not the request's host hub.example (Host header) and not in engine.Config.Origins.Allowed; list it there, or, behind a reverse proxy that changes Host, set Origins.TrustForwardedHost", reason)
	r.Header.Set("X-Forwarded-Host", "pub.example")
	_, reason = admit.NewOrigins(engine.OriginPolicy{TrustForwardedHost: true}).Check(r)
	require.Contains(t, reason, "or pub.example forwarded by the proxy")
}

func TestCrossOrigin(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://hub.example/x", nil)
	require.False(t, admit.CrossOrigin(r))
	r.Header.Set("Origin", "http://hub.example")
	require.False(t, admit.CrossOrigin(r))
	r.Header.Set("Origin", "http://app.example")
	require.True(t, admit.CrossOrigin(r))
	r.Header.Set("Origin", "null")
	require.True(t, admit.CrossOrigin(r))
}
