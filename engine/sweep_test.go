package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/memory"
)

// TestSweepKeepsAnEmptyRoomForHistoryTTL checks what HistoryTTL promises:
// an emptied room keeps its history, so a member who comes back within it
// recovers what it missed; after it the sweeper drops the room, a returning
// member is told it cannot recover, and a room with members is never
// dropped.
func TestSweepKeepsAnEmptyRoomForHistoryTTL(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second // long enough that the steps before the sweep run within it on a busy machine
	e := engine.New(engine.Config{HistoryTTL: ttl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Wait)
	defer cancel()

	dial := func() *memory.Client {
		c, err := memory.Dial(e, memory.Config{})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		return c
	}
	a, stayer := dial(), dial()
	joined, err := a.Join(ctx, "empty")
	require.NoError(t, err)
	_, err = stayer.Join(ctx, "kept")
	require.NoError(t, err)
	require.NoError(t, e.To("empty").Emit("m", 1))
	require.NoError(t, e.To("kept").Emit("m", 1))
	require.NoError(t, a.Leave(ctx, "empty"))
	require.Equal(t, 2, e.Stats().Rooms, "an emptied room stays while it has history")

	// Within the TTL: the room and its history are there.
	b := dial()
	res, err := b.JoinFrom(ctx, engine.Frame{Room: "empty", Since: &joined.Position})
	require.NoError(t, err)
	require.True(t, res.Recovered)
	require.Equal(t, 1, res.Replayed)
	require.NoError(t, b.Leave(ctx, "empty"))

	// The sweeper drops the empty room once its history has expired.
	require.Eventually(t, func() bool {
		_, ok := e.RoomPosition("empty")
		return !ok
	}, hubtest.Wait, 5*time.Millisecond)
	require.Equal(t, 1, e.Stats().Rooms)
	pos, ok := e.RoomPosition("kept")
	require.True(t, ok, "a room with a member is never dropped")
	require.Equal(t, uint64(1), pos.Offset)

	// A member back after the TTL cannot recover: the room was recreated
	// with a new epoch.
	res, err = dial().JoinFrom(ctx, engine.Frame{Room: "empty", Since: &joined.Position})
	require.NoError(t, err)
	require.False(t, res.Recovered)
	require.NotEqual(t, joined.Position.Epoch, res.Position.Epoch)
}
