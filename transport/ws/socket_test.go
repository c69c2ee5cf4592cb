package ws_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
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
			// Like gorilla's own handler, ignore a failed pong: the server
			// may already have closed the connection after its close frame.
			_ = c.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(wait))
			return nil
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
		_ = live.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(wait))
		return nil
	})
	go func() {
		for {
			if _, _, err := live.c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	deaf := v.dial(t, nil) // never reads, so never answers a ping

	require.Equal(t, engine.CloseAbnormal, d.Await(t, deaf.hello.Session).Code)
	require.GreaterOrEqual(t, pings.Load(), int64(5), "pings every 20 ms for a second and more")
	_, closed := d.Get(live.hello.Session)
	require.False(t, closed, "a client that answers pings stays")
}

// A TLS client that stops reading is closed when its write times out, and
// closing a TLS connection writes a close_notify alert that such a client
// never reads (tls.Conn.Close waits up to 5 s for it). Publishers to its
// room must not wait for that: Emit keeps returning (within MaxLagWait),
// and the client is dropped soon after its write timed out.
func TestStalledTLSClientDoesNotHoldEmit(t *testing.T) {
	d := &hubtest.Disconnects{}
	e := engine.New(engine.Config{Logger: quiet, OnDisconnect: d.Hook})
	h := ws.New(e, ws.Config{Logger: quiet, WriteTimeout: 200 * time.Millisecond, QueueBytes: 64 << 20})
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = sendBuffers(8 << 10)(srv.Listener)
	srv.StartTLS()
	defer srv.Close()
	defer func() { require.NoError(t, h.Close()) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
	}()

	dialer := &websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(),
		NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	dialer.TLSClientConfig.MinVersion = tls.VersionTLS12
	url := "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws"
	stalled := dialWith(t, dialer, url, nil)
	stalled.join("feed") // and never reads again

	payload := strings.Repeat("x", 4<<10)
	var worst time.Duration
	closedAt := time.Time{}
	for start := time.Now(); time.Since(start) < wait; {
		t0 := time.Now()
		require.NoError(t, e.To("feed").Emit("tick", payload))
		worst = max(worst, time.Since(t0))
		if _, closed := d.Get(stalled.hello.Session); closed && closedAt.IsZero() {
			closedAt = time.Now()
		}
		if !closedAt.IsZero() && time.Since(closedAt) > 500*time.Millisecond {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.False(t, closedAt.IsZero(), "the stalled client was closed")
	require.Less(t, worst, time.Second, "Emit waited for the stalled client's TLS close")
	require.Equal(t, engine.CloseAbnormal, d.Await(t, stalled.hello.Session).Code)
}

// Nothing follows a close frame (RFC 6455 §5.5.1): when a client closes
// while events keep coming, the echo of its close frame is the last frame
// it reads. A raw client, so that every frame is seen as it is on the wire.
func TestNothingFollowsTheCloseFrame(t *testing.T) {
	v := start(t, engine.Config{MaxLagWait: -1}, ws.Config{})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			_ = v.e.ToAll().Emit("tick", 1)
		}
	}()
	defer func() { stop.Store(true); <-done }()

	addr := strings.TrimPrefix(v.url, "ws://")
	addr = addr[:strings.Index(addr, "/")]
	for i := range 100 {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		require.NoError(t, nc.SetDeadline(time.Now().Add(wait)))
		_, err = io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		for range 3 {
			_, err := readRawFrame(br)
			require.NoError(t, err)
		}
		_, err = nc.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}) // masked close 1000
		require.NoError(t, err)
		sawClose := false
		for {
			op, err := readRawFrame(br)
			if err != nil {
				break
			}
			require.False(t, sawClose, "connection %d: frame 0x%02x after the server's close frame", i, op)
			sawClose = op&0x0f == 0x8
		}
		require.True(t, sawClose, "connection %d: the server echoed the close frame", i)
		nc.Close()
	}
}

// readRawFrame reads one unmasked server frame and returns its first byte
// (FIN and opcode).
func readRawFrame(br *bufio.Reader) (byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	_, err := io.CopyN(io.Discard, br, int64(n))
	return h[0], err
}
