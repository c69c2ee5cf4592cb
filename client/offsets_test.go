package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
)

// TestEventBeforeJoinAckIsNotReplayed checks that the client records the
// offset of a room event that arrives between its join and the join's ack
// (here one emitted by the server's OnJoin hook), so that after a reconnect
// the server does not replay it and the handler gets every offset once.
func TestEventBeforeJoinAckIsNotReplayed(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		var s *server
		s = serve(t, engine.Config{OnJoin: func(sess *engine.Session, room string) {
			_ = s.e.To(room).Emit("n", "welcome")
		}})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		offsets := make(chan uint64, 100)
		c.On("n", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
			offsets <- m.Offset
			return nil, nil
		})
		ctx := ctxT(t)
		res, err := c.Join(ctx, "feed")
		require.NoError(t, err)
		require.Zero(t, res.Position.Offset, "the welcome was emitted after the join took its position")
		require.Equal(t, uint64(1), next(t, offsets))

		first := c.SessionID()
		<-c.Connected()
		s.e.Session(first).Close(engine.CloseReason{Code: engine.CloseInternal, Text: "test drop"})
		// The rejoin's own welcome is offset 2; offset 1 must not come again.
		require.Equal(t, uint64(2), next(t, offsets))
		require.NotEqual(t, first, c.SessionID())
		require.NoError(t, s.e.To("feed").Emit("n", "live"))
		require.Equal(t, uint64(3), next(t, offsets))
		require.Empty(t, offsets, "no duplicates")
	})
}

func next(t *testing.T, ch <-chan uint64) uint64 {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("no event arrived")
		return 0
	}
}
