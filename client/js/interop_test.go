package hubbubjs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/testenv"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// TestNodeAgainstServer runs hubbub.js in node against a real server
// (engine, WebSocket at /ws, SSE and long-poll at /sse on loopback):
// testdata/interop.mjs has a long-poll client and an SSE client chat with
// each other and with a Go WebSocket client (carol, here), survive a
// server-side close with recovery, and keep their sessions through
// heartbeats.
func TestNodeAgainstServer(t *testing.T) {
	node := testenv.LookPath(t, "node")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(engine.Config{
		Logger: quiet,
		Authenticate: func(r *http.Request) (engine.Identity, error) {
			tok := r.URL.Query().Get("token") // browsers: EventSource cannot set headers
			if tok == "" {
				tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			}
			if tok == "" {
				return engine.Identity{}, engine.NewError(engine.CodeUnauthorized, "no token")
			}
			return engine.Identity{UserID: tok}, nil
		},
	})
	type msg struct{ Room, Text string }
	e.On("chat", engine.Typed(func(ctx context.Context, s *engine.Session, m msg) (any, error) {
		return "ok", e.To(m.Room).Except(s).Emit("chat", map[string]string{"from": s.UserID(), "text": m.Text})
	}))
	e.On("kick", func(ctx context.Context, s *engine.Session, _ json.RawMessage) (any, error) {
		s.Close(engine.CloseReason{Code: engine.CloseInternal, Text: "kicked by the test"})
		return nil, nil
	})
	wh := ws.New(e, ws.Config{Logger: quiet})
	sh := sse.New(e, sse.Config{Logger: quiet})
	mux := http.NewServeMux()
	mux.Handle("/ws", wh)
	mux.Handle("/sse", sh)
	srv := httptest.NewServer(mux)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		_ = wh.Close()
		_ = sh.Close()
		srv.Close()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	carol, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", client.Options{Token: "carol", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	heard := make(chan string, 100)
	carol.On("chat", func(ctx context.Context, data json.RawMessage, _ client.Meta) (any, error) {
		var m struct{ From, Text string }
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		heard <- m.From + ": " + m.Text
		if m.Text == "hello carol" {
			_ = carol.Emit(ctx, "chat", map[string]string{"room": "lobby", "text": "hi " + m.From})
		}
		return nil, nil
	})
	if _, err := carol.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, node, "--no-warnings", "testdata/interop.mjs")
	cmd.Env = append(os.Environ(), "HUBBUB_SSE_URL="+srv.URL+"/sse")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node testdata/interop.mjs: %v\n%s", err, out)
	}
	t.Logf("node: %s", strings.TrimSpace(string(out)))

	want := map[string]bool{"alice: hello carol": false, "bob: hello carol": false}
	for len(heard) > 0 {
		want[<-heard] = true
	}
	for m, ok := range want {
		if !ok {
			t.Errorf("carol did not hear %q", m)
		}
	}
}
