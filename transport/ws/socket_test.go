package ws_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// The transport frames its messages itself: payloads on both sides of each
// length encoding (7-bit, 16-bit, 64-bit) arrive whole, in order.
func TestFrameLengths(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	c := v.dial(t, nil)
	c.join("feed")
	sizes := []int{0, 90, 125, 126, 1000, 65535 - 60, 65535, 65536, 200 << 10}
	for _, n := range sizes {
		require.NoError(t, v.e.To("feed").Emit("blob", strings.Repeat("y", n)))
	}
	for i, n := range sizes {
		f := c.next()
		require.Equal(t, "blob", f.Event)
		require.Equal(t, uint64(i+1), f.Offset)
		require.Len(t, string(f.Data), n+2, "payload of %d bytes, as a JSON string", n)
	}
}

// Over TLS the socket has no descriptor to write without waiting, so every
// write runs on a goroutine that waits for the client: the same frames, in
// the same order, pings and the close code included.
func TestOverTLS(t *testing.T) {
	d := &hubtest.Disconnects{}
	e := engine.New(engine.Config{Logger: quiet, OnDisconnect: d.Hook})
	h := ws.New(e, ws.Config{Logger: quiet, PingInterval: 20 * time.Millisecond})
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	defer func() { require.NoError(t, h.Close()) }()

	dialer := &websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	dialer.TLSClientConfig.MinVersion = tls.VersionTLS12
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws"
	cs := []*client{dialWith(t, dialer, url, nil), dialWith(t, dialer, url, nil)}
	var pings atomic.Int64
	for _, c := range cs {
		c.c.SetPingHandler(func(string) error {
			pings.Add(1)
			return c.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(wait))
		})
		c.join("feed")
	}
	const n = 300
	for i := range n {
		require.NoError(t, e.To("feed").Emit("n", i))
	}
	for i, c := range cs {
		for j := range n {
			f := c.next()
			require.Equal(t, uint64(j+1), f.Offset, "client %d", i)
		}
	}
	// Pings arrive between data messages while the clients read.
	deadline := time.Now().Add(wait)
	for pings.Load() < 2 && time.Now().Before(deadline) {
		require.NoError(t, e.To("feed").Emit("n", 0))
		for _, c := range cs {
			c.next()
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.GreaterOrEqual(t, pings.Load(), int64(2), "pings over TLS")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, e.Shutdown(ctx))
	for _, c := range cs {
		for {
			if _, _, err := c.c.ReadMessage(); err != nil {
				require.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "got %v", err)
				break
			}
		}
		require.Equal(t, engine.ReasonGoingAway, d.Await(t, c.hello.Session))
	}
}

// The Handler pings idle clients every PingInterval, and drops one that
// answers none for PongTimeout (a client that stopped reading cannot
// answer) with 1006 as its reason.
func TestPingsAndPongTimeout(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook},
		ws.Config{PingInterval: 20 * time.Millisecond, PongTimeout: time.Second})
	live := v.dial(t, nil)
	var pings atomic.Int64
	live.c.SetPingHandler(func(string) error {
		pings.Add(1)
		return live.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(wait))
	})
	go func() {
		for {
			if _, _, err := live.c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	deaf := v.dial(t, nil) // never reads, so never answers a ping

	require.Equal(t, websocket.CloseAbnormalClosure, d.Await(t, deaf.hello.Session).Code)
	require.GreaterOrEqual(t, pings.Load(), int64(5), "pings every 20 ms for a second and more")
	_, closed := d.Get(live.hello.Session)
	require.False(t, closed, "a client that answers pings stays")
}
