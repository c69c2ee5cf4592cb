package admit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/admit"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/protocol"
)

// recordConn is an engine.Conn that keeps what the engine sends.
type recordConn struct {
	mu     sync.Mutex
	frames [][]byte
	closed *protocol.CloseReason
}

func (c *recordConn) Send(f []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, append([]byte(nil), f...))
	return nil
}

func (c *recordConn) Close(r protocol.CloseReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = &r
	return nil
}

func (c *recordConn) closeReason() *protocol.CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func refusalOf(t *testing.T, w *httptest.ResponseRecorder) protocol.Refusal {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var r protocol.Refusal
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r), "%s", w.Body)
	return r
}

func newGate(t *testing.T, cfg engine.Config, logs *hubtest.LogRecorder) (*engine.Engine, *admit.Gate) {
	t.Helper()
	cfg.Origins.Allowed = []string{"https://app.example"}
	e := engine.New(cfg)
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e, admit.New(e, "hubbub/test", nil, false, slog.New(logs))
}

func TestGateAdmits(t *testing.T) {
	logs := new(hubtest.LogRecorder)
	e, g := newGate(t, engine.Config{Authenticate: func(r *http.Request) (engine.Identity, error) {
		return engine.Identity{UserID: r.URL.Query().Get("user")}, nil
	}}, logs)
	c := new(recordConn)
	w := httptest.NewRecorder()
	var registered *engine.Session
	s := g.Admit(w, httptest.NewRequest(http.MethodGet, "/?user=ana", nil), c, func(s *engine.Session) bool { registered = s; return true })
	require.NotNil(t, s)
	require.Same(t, s, registered)
	require.Equal(t, "ana", s.UserID())
	require.Zero(t, w.Body.Len(), "nothing is written on success")
	require.Same(t, s, e.Session(s.ID()))
	require.Len(t, c.frames, 1)
	var hello protocol.Frame
	require.NoError(t, json.Unmarshal(c.frames[0], &hello))
	require.Equal(t, protocol.TypeHello, hello.Type)
}

func TestGateRefuses(t *testing.T) {
	auth := func(r *http.Request) (engine.Identity, error) {
		switch r.URL.Query().Get("user") {
		case "":
			return engine.Identity{}, engine.NewError(engine.CodeUnauthorized, "who are you?")
		case "mallory":
			return engine.Identity{}, engine.NewError(engine.CodeForbidden, "banned")
		}
		return engine.Identity{UserID: r.URL.Query().Get("user")}, nil
	}
	for _, tc := range []struct {
		name, url string
		status    int
		want      protocol.Refusal
	}{
		{"no credentials", "/", 401, protocol.Refusal{Error: "unauthorized", Reason: "who are you?"}},
		{"forbidden user", "/?user=mallory", 403, protocol.Refusal{Error: "forbidden", Reason: "banned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, g := newGate(t, engine.Config{Authenticate: auth}, new(hubtest.LogRecorder))
			w := httptest.NewRecorder()
			require.Nil(t, g.Admit(w, httptest.NewRequest(http.MethodGet, tc.url, nil), new(recordConn), func(*engine.Session) bool {
				t.Error("a refused request is not registered")
				return true
			}))
			require.Equal(t, tc.status, w.Code)
			require.Equal(t, tc.want, refusalOf(t, w))
		})
	}

	t.Run("origin", func(t *testing.T) {
		logs := new(hubtest.LogRecorder)
		_, g := newGate(t, engine.Config{}, logs)
		r := httptest.NewRequest(http.MethodGet, "http://hub.example/", nil)
		r.Header.Set("Origin", "https://app.example")
		require.True(t, g.CheckOrigin(httptest.NewRecorder(), r), "a listed origin")
		r.Header.Set("Origin", "https://evil.example")
		w := httptest.NewRecorder()
		require.False(t, g.CheckOrigin(w, r))
		require.Equal(t, http.StatusForbidden, w.Code)
		got := refusalOf(t, w)
		require.Equal(t, "forbidden", got.Error)
		require.Contains(t, got.Reason, "origin https://evil.example not allowed")
		require.Equal(t, 1, logs.Count("hubbub/test: request refused"), "logged once")
	})

	t.Run("engine shut down", func(t *testing.T) {
		e, g := newGate(t, engine.Config{}, new(hubtest.LogRecorder))
		require.NoError(t, e.Shutdown(context.Background()))
		w := httptest.NewRecorder()
		require.Nil(t, g.Admit(w, httptest.NewRequest(http.MethodGet, "/", nil), new(recordConn), func(*engine.Session) bool { return true }))
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		require.Equal(t, protocol.Refusal{Error: "unavailable", Reason: "server shutting down"}, refusalOf(t, w))
	})

	t.Run("transport closing", func(t *testing.T) {
		var d hubtest.Disconnects
		_, g := newGate(t, engine.Config{OnDisconnect: d.Hook}, new(hubtest.LogRecorder))
		c := new(recordConn)
		w := httptest.NewRecorder()
		var sid string
		require.Nil(t, g.Admit(w, httptest.NewRequest(http.MethodGet, "/", nil), c, func(s *engine.Session) bool { sid = s.ID(); return false }))
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		require.Equal(t, protocol.Refusal{Error: "unavailable", Reason: "server shutting down"}, refusalOf(t, w))
		require.Equal(t, engine.ReasonGoingAway, d.Await(t, sid), "the session opened is closed at once")
	})
}

func TestGateAddsDeprecatedTransportOrigins(t *testing.T) {
	logs := new(hubtest.LogRecorder)
	e := engine.New(engine.Config{Origins: engine.OriginPolicy{Allowed: []string{"https://app.example"}}})
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	g := admit.New(e, "hubbub/test", []string{"https://old.example"}, false, slog.New(logs))
	require.Equal(t, 1, logs.Count("deprecated"), "the old setting is reported once")
	for origin, ok := range map[string]bool{"https://app.example": true, "https://old.example": true, "https://evil.example": false} {
		r := httptest.NewRequest(http.MethodGet, "http://hub.example/", nil)
		r.Header.Set("Origin", origin)
		require.Equal(t, ok, g.OriginAllowed(r), origin)
	}
}
