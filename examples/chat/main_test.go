package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/examples/internal/serve"
)

// startServer runs the chat on a loopback port until the test ends. Each
// wrap, if any, wraps the chat's handler (the last one outermost): tests
// use them to watch or refuse requests.
func startServer(t *testing.T, wrap ...func(http.Handler) http.Handler) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(slog.New(slog.DiscardHandler))
	var h http.Handler = s
	for _, w := range wrap {
		h = w(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs
}

func wsURL(hs *httptest.Server, name string) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?name=" + url.QueryEscape(name)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, hs *httptest.Server, name string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxT(t), wsURL(hs, name), client.Options{NoReconnect: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// events collects one event's payloads.
func events(c *client.Client, event string) chan json.RawMessage {
	ch := make(chan json.RawMessage, 64)
	c.On(event, func(_ context.Context, d json.RawMessage, _ client.Meta) (any, error) {
		ch <- d
		return nil, nil
	})
	return ch
}

func next(t *testing.T, ch chan json.RawMessage) json.RawMessage {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20 s")
		return nil
	}
}

func code(err error) string {
	var e *engine.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestNames(t *testing.T) {
	_, hs := startServer(t)
	for _, name := range []string{"", "   ", strings.Repeat("x", 33), "a\x07b"} {
		_, err := client.Dial(ctxT(t), wsURL(hs, name), client.Options{NoReconnect: true})
		require.Error(t, err, "name %q", name)
		require.Equal(t, engine.CodeUnauthorized, code(err), "name %q: %v", name, err)
	}
	for _, name := range []string{"a", "Zoë Ünal", strings.Repeat("é", 32), "  padded  "} {
		c := dial(t, hs, name)
		res, err := c.Join(ctxT(t), "lobby")
		require.NoError(t, err, "name %q", name)
		require.NotEmpty(t, res.Presence)
	}
}

func TestChatRules(t *testing.T) {
	_, hs := startServer(t)
	ctx := ctxT(t)
	alice, bob := dial(t, hs, "alice"), dial(t, hs, "bob")
	got := events(bob, "chat")

	for _, room := range []string{"Lobby", "a b", strings.Repeat("a", 33), "ça"} {
		_, err := alice.Join(ctx, room)
		require.Equal(t, "bad_room", code(err), "room %q: %v", room, err)
	}
	_, err := alice.Join(ctx, "lobby")
	require.NoError(t, err)
	_, err = bob.Join(ctx, "lobby")
	require.NoError(t, err)

	_, err = alice.EmitWithAck(ctx, "chat", chatIn{Room: "lobby", Text: strings.Repeat("ä", 1001)})
	require.Equal(t, "too_long", code(err), "%v", err)
	require.ErrorContains(t, err, "1001 characters; the limit is 1000")
	_, err = alice.EmitWithAck(ctx, "chat", chatIn{Room: "lobby", Text: "  \n "})
	require.Equal(t, "empty", code(err))
	_, err = alice.EmitWithAck(ctx, "chat", chatIn{Room: "kitchen", Text: "hi"})
	require.Equal(t, engine.CodeNotInRoom, code(err))

	ack, err := alice.EmitWithAck(ctx, "chat", chatIn{Room: "lobby", ID: "m1", Text: strings.Repeat("ä", 1000)})
	require.NoError(t, err)
	var a struct {
		ID string `json:"id"`
		TS int64  `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(ack, &a))
	require.Equal(t, "m1", a.ID)
	require.NotZero(t, a.TS)

	var m message
	require.NoError(t, json.Unmarshal(next(t, got), &m))
	require.Equal(t, message{ID: "m1", From: "alice", Text: strings.Repeat("ä", 1000), TS: a.TS}, m)
}

// Typing notices reach the room's other users at once but are not kept:
// someone joining later with history gets the messages only.
func TestTypingIsNotHistory(t *testing.T) {
	_, hs := startServer(t)
	ctx := ctxT(t)
	alice, alice2, bob := dial(t, hs, "alice"), dial(t, hs, "alice"), dial(t, hs, "bob")
	bobTyping, aliceTyping, aliceChat := events(bob, "typing"), events(alice2, "typing"), events(alice2, "chat")
	for _, c := range []*client.Client{alice, alice2, bob} {
		_, err := c.Join(ctx, "lobby")
		require.NoError(t, err)
	}
	require.NoError(t, alice.Emit(ctx, "typing", typingIn{Room: "lobby"}))
	require.JSONEq(t, `{"room":"lobby","user":"alice"}`, string(next(t, bobTyping)))
	_, err := alice.EmitWithAck(ctx, "chat", chatIn{Room: "lobby", ID: "m1", Text: "hello"})
	require.NoError(t, err)
	require.Contains(t, string(next(t, aliceChat)), `"text":"hello"`)

	carol := dial(t, hs, "carol")
	carolChat, carolTyping := events(carol, "chat"), events(carol, "typing")
	res, err := carol.Join(ctx, "lobby", client.WithHistory(historyOnJoin))
	require.NoError(t, err)
	require.Equal(t, 1, res.Replayed)
	require.Contains(t, string(next(t, carolChat)), `"text":"hello"`)
	require.Empty(t, carolTyping)
	// The sender's other tab is told too (its page ignores its own user).
	require.JSONEq(t, `{"room":"lobby","user":"alice"}`, string(next(t, aliceTyping)))
}

func TestRoomList(t *testing.T) {
	s, hs := startServer(t)
	ctx := ctxT(t)
	alice := dial(t, hs, "alice")
	pushed := events(alice, "rooms")

	raw, err := alice.EmitWithAck(ctx, "rooms", nil)
	require.NoError(t, err)
	require.JSONEq(t, `[{"room":"lobby","users":0}]`, string(raw))

	_, err = alice.Join(ctx, "kitchen")
	require.NoError(t, err)
	for {
		var list []roomInfo
		require.NoError(t, json.Unmarshal(next(t, pushed), &list))
		if len(list) == 2 {
			require.Equal(t, []roomInfo{{"kitchen", 1}, {"lobby", 0}}, list)
			break
		}
	}
	require.Equal(t, []roomInfo{{"kitchen", 1}, {"lobby", 0}}, s.roomList())
}

func TestPageURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://localhost:8080/",
		"0.0.0.0:80":     "http://localhost:80/",
		"[::1]:9000":     "http://localhost:9000/",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		require.Equal(t, want, serve.PageURL(a), addr)
	}
}
