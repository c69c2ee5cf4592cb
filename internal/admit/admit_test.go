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
	for _, tc := range []struct {
		name   string
		o      *admit.Origins
		origin string
		ok     bool
	}{
		{"nil allows no Origin", nil, "", true},
		{"nil allows same origin", nil, "http://" + host, true},
		{"nil refuses others", nil, evil, false},
		{"same origin ignores case", admit.NewOrigins(nil, false), "http://HUB.example:8080", true},
		{"opaque origin", admit.NewOrigins(nil, false), "null", false},
		{"listed origin", admit.NewOrigins([]string{" https://app.example/ "}, false), "https://APP.example", true},
		{"scheme is compared", admit.NewOrigins([]string{"https://app.example"}, false), "http://app.example", false},
		{"bare host", admit.NewOrigins([]string{"partner.example:8443"}, false), "https://partner.example:8443", true},
		{"star is no wildcard", admit.NewOrigins([]string{"*"}, false), evil, false},
		{"allow all", admit.NewOrigins(nil, true), evil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			require.Equal(t, tc.ok, tc.o.Allowed(r))
		})
	}
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
