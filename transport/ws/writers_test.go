package ws_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// Tests of the Handler's writers (writers.go) and of
// Config.MaxWritesPerSecond. A bound below 200 writes per second has a
// burst of one: every write but the first waits for its token while the
// other connections wait their turn in the writers' FIFO and their frames
// pile up.

// fanOut connects clients to the room "feed", publishes n events to it as
// fast as Emit returns, and checks that every client receives events 1..n
// in order, each once, and nothing after. It returns how many WebSocket
// messages each client read to get them.
func fanOut(t *testing.T, ecfg engine.Config, wcfg ws.Config, clients, n int) []int {
	t.Helper()
	v := start(t, ecfg, wcfg)
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = v.dial(t, nil)
		cs[i].join("feed")
	}
	for i := range n {
		require.NoError(t, v.e.To("feed").Emit("n", i))
	}
	messages := make([]int, clients)
	for i, c := range cs {
		before := c.messages
		for j := range n {
			f := c.next()
			require.Equal(t, engine.TypeEmit, f.Type)
			require.Equal(t, "n", f.Event)
			require.Equal(t, "feed", f.Room)
			require.Equal(t, uint64(j+1), f.Offset, "client %d: no gap, no duplicate", i)
			require.JSONEq(t, fmt.Sprint(j), string(f.Data))
		}
		require.Empty(t, c.ahead, "client %d: nothing after the last event", i)
		messages[i] = c.messages - before
	}
	return messages
}

// Under a tiny bound every client still gets every event, in order, and the
// events it waited for arrive coalesced into a few messages. The tail is
// written after the publisher stopped: a frame stranded in a queue would
// never arrive.
func TestWriteBoundCoalescesAndDeliversAll(t *testing.T) {
	const n = 200
	messages := fanOut(t, engine.Config{}, ws.Config{MaxWritesPerSecond: 20}, 3, n)
	for i, m := range messages {
		require.Less(t, m, n/4, "client %d: the events it waited for were coalesced", i)
	}
	t.Logf("%d events per client in %v messages", n, messages)
}

// With no bound (the default), the same burst is delivered whole and in
// order, with publishers held or not.
func TestWritersDeliverAll(t *testing.T) {
	const n = 500
	for _, lagWait := range []time.Duration{0, -1} {
		messages := fanOut(t, engine.Config{MaxLagWait: lagWait}, ws.Config{}, 20, n)
		t.Logf("MaxLagWait %v: %d events per client in %v messages", lagWait, n, messages)
	}
}

// A client that stops reading holds no writer: its write waits for it on a
// goroutine of its own, and the others keep receiving every event, before
// and after it is closed as a slow consumer.
func TestStalledClientDoesNotStallOthers(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{
		MaxWritesPerSecond: 100, // burst 1: every round waits for tokens, in turn
		QueueBytes:         32 << 10,
		WriteTimeout:       time.Minute, // the blocked write must outlast the test's publishing
	}, smallSendBuffers)
	slowDialer := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	slow := dialWith(t, slowDialer, v.url, nil)
	fast := []*client{v.dial(t, nil), v.dial(t, nil)}
	slow.join("feed")
	for _, c := range fast {
		c.join("feed")
	}

	// Each round publishes 12 KiB and waits until the fast clients have
	// read it, checking offsets. The stalled client may still wait for its
	// turn when the next round starts (the FIFO follows the room's order),
	// so the queue holds two rounds: it overflows only once the client's
	// socket is full and its write blocks.
	payload := strings.Repeat("x", 4<<10)
	published := uint64(0)
	read := make([]uint64, len(fast))
	round := func() {
		t.Helper()
		for range 3 {
			require.NoError(t, v.e.To("feed").Emit("tick", payload))
			published++
		}
		for i, c := range fast {
			for read[i] < published {
				f := c.next()
				require.Equal(t, "tick", f.Event)
				require.Equal(t, read[i]+1, f.Offset, "fast client %d: no gap, no duplicate", i)
				read[i] = f.Offset
			}
		}
	}
	for {
		if _, closed := d.Get(slow.hello.Session); closed {
			break
		}
		require.Less(t, published, uint64(1<<20), "the stalled client was never closed")
		round()
	}
	for range 5 {
		round()
	}
	for i, c := range fast {
		require.Equal(t, published, read[i], "fast client %d received every event", i)
		require.Empty(t, c.ahead)
	}
	require.Equal(t, engine.ReasonSlow, d.Await(t, slow.hello.Session))

	// The stalled client now reads: what was written before it overflowed,
	// in order, then 4008.
	ce := slow.readClose()
	require.Equal(t, int(engine.CloseSlowConsumer), ce.Code)
	var last uint64
	for _, f := range slow.ahead {
		require.Equal(t, last+1, f.Offset)
		last = f.Offset
	}
	require.Less(t, last, published)
	t.Logf("published %d; the stalled client got %d in %d messages before 4008", published, last, slow.messages)
}

// Handler.Close returns while connections wait in the writers' FIFO: each
// still gets the event it was waiting to write, then 1001, and no
// goroutine is left behind.
func TestHandlerCloseWithWaitingConnections(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{MaxWritesPerSecond: 10}) // a token every 100 ms, burst 1
	ignore := goleak.IgnoreCurrent()
	cs := make([]*client, 6)
	for i := range cs {
		cs[i] = v.dial(t, nil)
	}

	// The first write takes the only token; the others wait.
	require.NoError(t, v.e.ToAll().Emit("n", 1))
	v.closeHandler(t)

	for i, c := range cs {
		f := c.next()
		require.Equal(t, "n", f.Event, "client %d got its queued event", i)
		ce := c.readClose()
		require.Equal(t, websocket.CloseGoingAway, ce.Code)
		require.Empty(t, c.ahead)
		require.Equal(t, engine.ReasonGoingAway, d.Await(t, c.hello.Session))
	}
	require.Zero(t, v.e.Stats().Sessions)
	goleak.VerifyNone(t, ignore)
}
