package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	bt "github.com/hubbubhq/hubbub/examples/internal/browsertest"
)

// Browser end-to-end tests of the transports other than WebSocket: the
// chat forced onto SSE and long-poll (?transport=…), and a server whose
// WebSocket path refuses every upgrade, which the browser client gets
// around by itself.

// Two people in independent browser contexts chat over a forced
// transport: the page says which, the server sees no WebSocket at all.
func TestBrowserChatForcedTransport(t *testing.T) {
	for _, tc := range []struct {
		transport string   // ?transport=…
		route     string   // the requests it makes, as routes counts them
		not       []string // the requests it must not make
	}{
		{"sse", "stream", []string{"ws", "poll"}},
		{"longpoll", "poll", []string{"ws", "stream"}},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			routes := &routes{}
			_, hs := startServer(t, routes.count)
			b := bt.New(t)
			alice := b.User(desktopW, desktopH)
			bob := b.User(phoneW, phoneH)

			openOver(t, alice, hs.URL, "alice", "lobby", tc.transport, tc.transport)
			openOver(t, bob, hs.URL, "bob", "lobby", tc.transport, tc.transport)
			converse(t, alice, bob)
			alice.WaitFor("the forced transport kept in the URL", `new URLSearchParams(location.search).get("transport") === `+bt.JS(tc.transport))

			require.GreaterOrEqual(t, routes.get(tc.route), 2, "one session per page: %v", routes)
			require.GreaterOrEqual(t, routes.get("post"), 4, "frames go up in POSTs: %v", routes)
			for _, r := range tc.not {
				require.Zero(t, routes.get(r), "%s requests over ?transport=%s: %v", r, tc.transport, routes)
			}
			alice.Screenshot("alice-desktop")
			bob.Screenshot("bob-phone")

			// Closing the tab ends bob's session at once (the page closes
			// the client on pagehide, which DELETEs the session), not after
			// the server's 30 s grace period for a stream or poll that stops.
			bob.Close()
			alice.WaitFor("bob gone from alice's list", "!"+presentJS("bob")+` && document.querySelector("#online-count").textContent === "· 1 online"`)
			alice.Screenshot("bob-gone")
		})
	}
}

// The server refuses WebSocket upgrades (-no-websocket, as a proxy that
// does not pass them would): the pages, with no transport forced, fall
// back to SSE by themselves, say so, and chat; after a dropped connection
// they go straight back to SSE.
func TestBrowserChatWebSocketBlocked(t *testing.T) {
	routes := &routes{}
	s, hs := startServer(t, refuseWebSocket, routes.count)
	b := bt.New(t)
	alice := b.User(desktopW, desktopH)
	bob := b.User(desktopW, desktopH)

	openOver(t, alice, hs.URL, "alice", "lobby", "", "sse")
	openOver(t, bob, hs.URL, "bob", "lobby", "", "sse")
	alice.WaitFor("the page says why it is on SSE", `[...document.querySelectorAll("#messages li.sys")].some(li => li.textContent === "WebSocket did not get through: connected over sse instead.")`)
	converse(t, alice, bob)

	require.GreaterOrEqual(t, routes.get("ws"), 2, "each page tried WebSocket first: %v", routes)
	require.GreaterOrEqual(t, routes.get("stream"), 2, "%v", routes)
	require.Zero(t, routes.get("poll"), "SSE worked, so no long-poll: %v", routes)
	alice.Screenshot("alice-fell-back-to-sse")

	// The client remembers what worked: when the server drops bob's
	// session, his page reconnects over SSE without trying WebSocket again.
	wsTries := routes.get("ws")
	ids, err := s.engine.Store().SessionsOf(context.Background(), "bob")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	s.engine.Session(ids[0]).Close(engine.CloseReason{Code: engine.CloseGoingAway, Text: "test: dropped"})
	say(alice, "bob, still there?")
	bob.WaitFor("bob gets it after reconnecting over sse", receivedJS("alice", "bob, still there?")+
		` && document.querySelector("#conn").dataset.state === "open" && document.querySelector("#conn-transport").textContent === "sse"`+
		` && [...document.querySelectorAll("#messages li.sys")].some(li => li.textContent === "Reconnected.")`)
	require.Equal(t, wsTries, routes.get("ws"), "the reconnection started with SSE: %v", routes)
	bob.Screenshot("bob-reconnected-over-sse")
}

// converse checks that alice and bob, both in the lobby, see each other
// present, that bob sees alice typing, and that a message each way arrives
// and is acknowledged.
func converse(t *testing.T, alice, bob *bt.Tab) {
	t.Helper()
	alice.WaitFor("bob in alice's presence list", presentJS("bob")+` && document.querySelector("#online-count").textContent === "· 2 online"`)
	bob.WaitFor("alice in bob's presence list", presentJS("alice")+` && document.querySelector("#online-count").textContent === "· 2 online"`)

	seeTyping(alice, bob, "alice")
	bob.Screenshot("bob-sees-alice-typing")

	say(alice, "hello bob, ça va ?")
	bob.WaitFor("bob gets alice's message", receivedJS("alice", "hello bob, ça va ?"))
	alice.WaitFor("alice's message acknowledged", statusJS("hello bob, ça va ?", "✓"))
	bob.WaitFor("the typing notice ends with the message", `document.querySelector("#typing").textContent === ""`)

	say(bob, "hi alice! how are things?")
	alice.WaitFor("alice gets bob's reply", receivedJS("bob", "hi alice! how are things?"))
	bob.WaitFor("bob's reply acknowledged", statusJS("hi alice! how are things?", "✓"))
}

// routes counts the requests of the chat's transports: "ws" (WebSocket
// upgrades, refused or not), and on /sse "stream" (event streams), "poll"
// (long-polls), "post" (frames sent up) and "delete" (sessions ended).
type routes struct {
	mu sync.Mutex
	n  map[string]int
}

// count is a wrapper for startServer.
func (rs *routes) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := ""
		switch {
		case r.URL.Path == "/ws":
			route = "ws"
		case r.URL.Path == "/sse" && r.Method == http.MethodGet && r.URL.Query().Get("mode") == "poll":
			route = "poll"
		case r.URL.Path == "/sse" && r.Method == http.MethodGet:
			route = "stream"
		case r.URL.Path == "/sse" && r.Method == http.MethodPost:
			route = "post"
		case r.URL.Path == "/sse" && r.Method == http.MethodDelete:
			route = "delete"
		}
		if route != "" {
			rs.mu.Lock()
			if rs.n == nil {
				rs.n = map[string]int{}
			}
			rs.n[route]++
			rs.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (rs *routes) get(route string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.n[route]
}

func (rs *routes) String() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return fmt.Sprint(rs.n)
}
