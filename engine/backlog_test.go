package engine_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
)

// scriptedBacklog reports Behind for its first `behind` calls, then not.
type scriptedBacklog struct {
	calls  atomic.Int64
	behind int64
}

func (b *scriptedBacklog) Behind() (bool, <-chan struct{}) {
	if b.calls.Add(1) > b.behind {
		return false, nil
	}
	ready := make(chan struct{})
	close(ready) // ask again at once
	return true, ready
}

// A publisher waits while a transport reports it is behind, and publishes
// once it no longer is: the backlog stays with the publisher.
func TestEmitWaitsWhileBehind(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: headerAuth})
	c := dialUser(t, e, "alice")
	_, err := c.Join(ctxT(t), "lobby")
	require.NoError(t, err)

	b := &scriptedBacklog{behind: 5}
	remove := e.AddBacklog(b)
	require.NoError(t, e.To("lobby").Emit("tick", 1))
	require.GreaterOrEqual(t, b.calls.Load(), int64(6), "Emit asked until the backlog cleared")
	require.EqualValues(t, 1, e.Stats().LagWaits)
	f, err := c.Next(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "tick", f.Event)

	remove()
	remove() // idempotent
	calls := b.calls.Load()
	require.NoError(t, e.To("lobby").Emit("tick", 2))
	require.Equal(t, calls, b.calls.Load(), "a removed Backlog is not asked")
}

type alwaysBehind struct{}

func (alwaysBehind) Behind() (bool, <-chan struct{}) { return true, nil }

// The wait is bounded by MaxLagWait: a transport that stays behind slows
// publishers down but never stops them, and the event is still delivered.
func TestEmitWaitIsBounded(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: headerAuth, MaxLagWait: 20 * time.Millisecond})
	c := dialUser(t, e, "alice")
	_, err := c.Join(ctxT(t), "lobby")
	require.NoError(t, err)
	e.AddBacklog(alwaysBehind{})

	done := make(chan error, 1)
	go func() { done <- e.To("lobby").Emit("tick", 1) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Emit waited far past MaxLagWait")
	}
	f, err := c.Next(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "tick", f.Event)
}

// A negative MaxLagWait turns the wait off: Backlogs are not even asked.
func TestNegativeMaxLagWaitNeverWaits(t *testing.T) {
	e := newEngine(t, engine.Config{MaxLagWait: -1})
	b := &scriptedBacklog{behind: 1 << 40}
	e.AddBacklog(b)
	require.NoError(t, e.ToAll().Emit("tick", 1))
	require.Zero(t, b.calls.Load())
	require.Zero(t, e.Stats().LagWaits)
}

// Shutdown releases a publisher that is waiting for writers.
func TestShutdownReleasesWaitingPublisher(t *testing.T) {
	e := engine.New(engine.Config{MaxLagWait: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.AddBacklog(alwaysBehind{})
	done := make(chan error, 1)
	go func() { done <- e.ToAll().Emit("tick", 1) }()
	require.Eventually(t, func() bool { return e.Stats().LagWaits == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Shutdown(ctx))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit still waiting after Shutdown")
	}
}
