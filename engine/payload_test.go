package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/memory"
)

func quietEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(cfg)
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

// badUTF8 marshals to bytes that are not UTF-8, as a json.Marshaler may.
type badUTF8 struct{}

func (badUTF8) MarshalJSON() ([]byte, error) { return []byte("\"\xff\xfe\""), nil }

// TestEmitRefusesWhatClientsWouldRefuse checks that a payload that is not
// valid UTF-8 JSON, or is larger than MaxEventBytes, is refused by every
// Emit with an errors.Is-friendly error, reaches no member and never enters
// history (the room's offset does not move), so it cannot poison the room.
func TestEmitRefusesWhatClientsWouldRefuse(t *testing.T) {
	t.Parallel()
	e := quietEngine(t, engine.Config{MaxEventBytes: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()
	c, err := memory.Dial(e, memory.Config{})
	require.NoError(t, err)
	_, err = c.Join(ctx, "r")
	require.NoError(t, err)
	s := c.Session()

	for _, tc := range []struct {
		name string
		data any
		want error
	}{
		{"raw message with invalid UTF-8", json.RawMessage("\"\xff\xfe\""), engine.ErrInvalidPayload},
		{"raw message that is not JSON", json.RawMessage(`{"a":`), engine.ErrInvalidPayload},
		{"marshaler with invalid UTF-8", badUTF8{}, engine.ErrInvalidPayload},
		{"payload over MaxEventBytes", strings.Repeat("x", 1000), engine.ErrEventTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, e.To("r").Emit("m", tc.data), tc.want)
			require.ErrorIs(t, e.To("r").Volatile().Emit("m", tc.data), tc.want)
			require.ErrorIs(t, e.ToUser(s.UserID()).Emit("m", tc.data), tc.want)
			require.ErrorIs(t, s.Emit("m", tc.data), tc.want)
			_, err := s.EmitWithAck(ctx, "m", tc.data)
			require.ErrorIs(t, err, tc.want)
		})
	}
	pos, ok := e.RoomPosition("r")
	require.True(t, ok)
	require.Zero(t, pos.Offset, "nothing entered history")
	require.Zero(t, c.Buffered(), "nothing reached the member")

	require.NoError(t, e.To("r").Emit("m", strings.Repeat("x", 990)), "a payload within the bound (992 bytes encoded) goes")
	f, err := c.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), f.Offset)
}

func TestEmitAfterShutdownReturnsErrClosed(t *testing.T) {
	t.Parallel()
	e := quietEngine(t, engine.Config{})
	require.NoError(t, e.Shutdown(context.Background()))
	for _, target := range []engine.Target{e.To("r"), e.ToUser("u"), e.ToAll(), e.To("r").Volatile()} {
		require.True(t, errors.Is(target.Emit("m", 1), engine.ErrClosed))
	}
}

// TestVolatileIsDroppedNotClosed checks that a volatile event that a slow
// recipient's queue cannot take is dropped for it and counted, and never
// closes it; an event kept in history that does not fit still does, so
// that the client knows to recover.
func TestVolatileIsDroppedNotClosed(t *testing.T) {
	t.Parallel()
	var d hubtest.Disconnects
	e := quietEngine(t, engine.Config{OnDisconnect: d.Hook})
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()
	slow, err := memory.Dial(e, memory.Config{QueueBytes: 4 << 10})
	require.NoError(t, err)
	fast, err := memory.Dial(e, memory.Config{QueueBytes: 1 << 20})
	require.NoError(t, err)
	for _, c := range []*memory.Client{slow, fast} {
		_, err := c.Join(ctx, "doc")
		require.NoError(t, err)
	}

	const n = 100
	payload := strings.Repeat("c", 200)
	for range n {
		require.NoError(t, e.To("doc").Volatile().Emit("cursor", payload))
	}
	_, closed := slow.CloseReason()
	require.False(t, closed, "a volatile event never closes a session")
	st := e.Stats()
	require.NotZero(t, st.VolatileDropped)
	require.Less(t, st.VolatileDropped, uint64(n), "what fitted was queued")
	require.Equal(t, n, fast.Discard(), "a recipient with room got every one")
	require.Equal(t, n-int(st.VolatileDropped), slow.Discard(), "the slow one got the others")

	// The slow client caught up: events reach it again.
	require.NoError(t, e.To("doc").Emit("kept", 1))
	f, err := slow.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "kept", f.Event)

	// An event kept in history that does not fit closes it as before.
	for range n {
		require.NoError(t, e.To("doc").Emit("kept", payload))
	}
	require.Equal(t, engine.CloseSlowConsumer, d.Await(t, slow.Session().ID()).Code)
}

// TestReplayThatDoesNotFitIsNotRecovered checks that a join whose replay
// would not fit the session's send queue answers recovered:false at once
// instead of overflowing the queue (which closed the session as a slow
// consumer, and again at every rejoin from the same position). The client
// reads nothing while the join runs, so nothing drains the queue.
func TestReplayThatDoesNotFitIsNotRecovered(t *testing.T) {
	t.Parallel()
	e := quietEngine(t, engine.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()
	first, err := memory.Dial(e, memory.Config{})
	require.NoError(t, err)
	joined, err := first.Join(ctx, "feed")
	require.NoError(t, err)
	keeper, err := memory.Dial(e, memory.Config{QueueBytes: 4 << 20}) // keeps the room
	require.NoError(t, err)
	_, err = keeper.Join(ctx, "feed")
	require.NoError(t, err)
	first.Close()
	big := strings.Repeat("x", 5000)
	for range 100 { // 500 KB, kept in history
		require.NoError(t, e.To("feed").Emit("n", big))
	}

	for _, tc := range []struct {
		name      string
		queue     int
		recovered bool
	}{
		{"fits", 2 << 20, true},
		{"does not fit", 256 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := memory.Dial(e, memory.Config{QueueBytes: tc.queue})
			require.NoError(t, err)
			require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeJoin, ID: 1, Room: "feed", Since: &joined.Position}))
			// Wait, reading nothing, until the join has run.
			require.Eventually(t, func() bool {
				return len(c.Session().Rooms()) > 0 || c.Session().Closed()
			}, hubtest.Wait, time.Millisecond)
			require.False(t, c.Session().Closed(), "the replay did not close the session")
			var res engine.JoinResult
			for {
				f, err := c.Next(ctx)
				require.NoError(t, err)
				if f.Type == engine.TypeAck && f.ID == 1 {
					require.Nil(t, f.Err)
					require.NoError(t, json.Unmarshal(f.Data, &res))
					break
				}
			}
			require.Equal(t, tc.recovered, res.Recovered)
			if !tc.recovered {
				require.Zero(t, res.Replayed)
				require.Equal(t, uint64(100), res.Position.Offset, "the client resyncs from the room's latest position")
			} else {
				require.Equal(t, 100, res.Replayed)
			}
			_, closed := c.CloseReason()
			require.False(t, closed)
		})
	}
}
