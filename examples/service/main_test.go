package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// chatLike is the part of the chat example the service relies on: the
// name in the URL, and a "chat" event relayed to the room and acked.
func chatLike(t *testing.T) string {
	t.Helper()
	e := engine.New(engine.Config{
		Logger: slog.New(slog.DiscardHandler),
		Authenticate: func(r *http.Request) (engine.Identity, error) {
			return engine.Identity{UserID: r.URL.Query().Get("name")}, nil
		},
	})
	e.On("chat", engine.Typed(func(_ context.Context, s *engine.Session, m chatMessage) (any, error) {
		m.From, m.Room = s.UserID(), ""
		return map[string]string{"id": m.ID}, e.To("builds").Except(s).Emit("chat", m)
	}))
	h := ws.New(e, ws.Config{Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		_ = e.Shutdown(context.Background())
		_ = h.Close()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func TestServicePostsAndAnswers(t *testing.T) {
	base := chatLike(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	watcher, err := client.Dial(ctx, base+"/?name=alice", client.Options{NoReconnect: true})
	require.NoError(t, err)
	defer watcher.Close()
	got := make(chan chatMessage, 16)
	watcher.On("chat", func(_ context.Context, d json.RawMessage, _ client.Meta) (any, error) {
		var m chatMessage
		require.NoError(t, json.Unmarshal(d, &m))
		got <- m
		return nil, nil
	})
	_, err = watcher.Join(ctx, "builds")
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, config{URL: base + "/ws", Name: "build-bot", Room: "builds", Every: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	}()
	require.Contains(t, next(t, ctx, got).Text, "▶ build #1 started")
	require.Equal(t, "build #1: checkout (1/5)…", next(t, ctx, got).Text)

	_, err = watcher.EmitWithAck(ctx, "chat", chatMessage{ID: "q1", Text: "@Build-Bot how is it going?"})
	require.NoError(t, err)
	for answered, passed := false, false; !answered || !passed; {
		m := next(t, ctx, got)
		answered = answered || strings.HasPrefix(m.Text, "@alice latest: ")
		passed = passed || strings.HasPrefix(m.Text, "✓ build #1 passed in ")
	}
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestServiceCount(t *testing.T) {
	base := chatLike(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, run(ctx, config{URL: base + "/ws", Name: "build-bot", Room: "builds", Every: 10 * time.Millisecond, Count: 3, Log: slog.New(slog.DiscardHandler)}))
}

func next(t *testing.T, ctx context.Context, got chan chatMessage) chatMessage {
	t.Helper()
	select {
	case m := <-got:
		require.Equal(t, "build-bot", m.From)
		return m
	case <-ctx.Done():
		t.Fatal("no message from the service")
		return chatMessage{}
	}
}

func TestPipeline(t *testing.T) {
	b := &bot{}
	var lines []string
	for range 4 * 7 {
		lines = append(lines, b.step())
	}
	require.Equal(t, "build #1: integration tests (4/5)…", lines[4])
	require.Regexp(t, `^✓ build #1 passed in `, lines[6])
	require.Contains(t, lines[7], "▶ build #2 started")
	require.Equal(t, "✗ build #4 failed: integration tests (TestCheckout timed out)", lines[25])
	require.Contains(t, lines[26], "▶ build #5 started")
}
