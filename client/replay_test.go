package client_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
)

// TestReplayLargerThanTheQueueResyncs checks that a client that missed
// more than its send queue can take (256 events of 5 KB against the
// default 1 MiB queue) is told at once that the room was not recovered,
// stays connected and gets live events, instead of being closed as a slow
// consumer on every rejoin with the same position.
func TestReplayLargerThanTheQueueResyncs(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		// The client's second session waits in OnConnect until the events
		// it misses are all published.
		published := make(chan struct{})
		var connects atomic.Int32
		s := serve(t, engine.Config{OnConnect: func(*engine.Session) {
			if connects.Add(1) > 1 {
				<-published
			}
		}})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		var mu sync.Mutex
		var states []client.State
		resynced := make(chan struct{}, 1)
		c.OnState(func(st client.State) {
			mu.Lock()
			states = append(states, st)
			mu.Unlock()
			if st.Kind == "resync" {
				resynced <- struct{}{}
			}
		})
		live := make(chan string, 1000)
		c.On("n", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
			var v string
			_ = json.Unmarshal(data, &v)
			if v == "live" {
				live <- v
			}
			return nil, nil
		})
		ctx := ctxT(t)
		_, err := c.Join(ctx, "feed")
		require.NoError(t, err)

		// Drop the client and publish 1.3 MB (kept in the room's history)
		// before it is back.
		first := c.SessionID()
		s.e.Session(first).Close(engine.CloseReason{Code: engine.CloseInternal, Text: "test drop"})
		big := strings.Repeat("x", 5000)
		for range 256 {
			require.NoError(t, s.e.To("feed").Emit("n", big))
		}
		close(published)
		select {
		case <-resynced:
		case <-time.After(wait):
			t.Fatal("the client was never told that the room was not recovered")
		}
		require.NoError(t, s.e.To("feed").Emit("n", "live"))
		select {
		case <-live:
		case <-time.After(wait):
			t.Fatal("no live event after the resync")
		}
		require.Zero(t, s.e.Stats().SlowDisconnects, "no replay closed the session")
		mu.Lock()
		defer mu.Unlock()
		disconnects := 0
		for _, st := range states {
			if st.Kind == "disconnect" {
				disconnects++
			}
		}
		require.Equal(t, 1, disconnects, "one drop, no loop: %v", states)
	})
}
