package ws_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// When most connections hold a backlog that the server has not written yet
// (here: 10 writes a second), the Handler reports it is behind and
// publishers wait for it; every client still receives every event, in
// order, and the Handler is no longer behind once they drained.
func TestPublishersWaitWhileConnectionsAreBehind(t *testing.T) {
	v := start(t, engine.Config{MaxLagWait: 20 * time.Millisecond}, ws.Config{MaxWritesPerSecond: 10})
	cs := make([]*client, 4)
	for i := range cs {
		cs[i] = v.dial(t, nil)
		cs[i].join("feed")
	}
	const n = 200
	for i := range n {
		require.NoError(t, v.e.To("feed").Emit("tick", i))
	}
	require.NotZero(t, v.e.Stats().LagWaits, "the publisher waited for the backlog")
	for i, c := range cs {
		for want := uint64(1); want <= n; want++ {
			f := c.next()
			require.Equal(t, want, f.Offset, "client %d: every event, in order", i)
		}
	}
	require.False(t, ws.Behind(v.h))
}

// Clients that stopped reading are the slow-consumer policy's business:
// even when they are most of the connections, they never make the Handler
// report it is behind, so publishers do not wait for them.
func TestStalledClientsDoNotHoldBackPublishers(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{QueueBytes: 8 << 20}, smallSendBuffers)
	slowDialer := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	fast := v.dial(t, nil)
	fast.join("feed")
	for range 3 {
		c := dialWith(t, slowDialer, v.url, nil)
		c.join("feed")
		// and never reads again
	}
	payload := strings.Repeat("x", 1<<10)
	const n = 600
	for range n {
		require.NoError(t, v.e.To("feed").Emit("tick", payload))
	}
	// A stalled connection counts only while 32 frames or more wait for a
	// writer, before its socket filled: a wait or two per stalled client,
	// not one per event.
	require.LessOrEqual(t, v.e.Stats().LagWaits, uint64(2*3), "LagWaits")
	require.False(t, ws.Behind(v.h))
	for want := uint64(1); want <= n; want++ {
		require.Equal(t, want, fast.next().Offset)
	}
}
