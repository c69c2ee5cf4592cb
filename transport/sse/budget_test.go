package sse_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
)

// Under a write budget a stream that must wait for its turn gets its
// frames later, together, and never loses or reorders one: with 20 writes
// a second for the whole Handler, 200 events published at once reach each
// of three streams complete and in order, in far fewer SSE events.
func TestWriteBudgetCoalescesAndDeliversAll(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{MaxWritesPerSecond: 20})
	streams := make([]*stream, 3)
	for i := range streams {
		streams[i] = v.dial(t)
		streams[i].join("feed")
	}
	before := make([]int, len(streams))
	for i, s := range streams {
		before[i] = s.nEvents
	}
	const n = 200
	for i := range n {
		require.NoError(t, v.e.To("feed").Emit("tick", i))
	}
	for i, s := range streams {
		for want := uint64(1); want <= n; want++ {
			f := s.next()
			require.Equal(t, "tick", f.Event)
			require.Equal(t, want, f.Offset, "stream %d: no gap, no duplicate", i)
		}
		require.Less(t, s.nEvents-before[i], n/4, "stream %d: coalesced", i)
	}
}

// A negative MaxWritesPerSecond writes each stream as soon as frames wait.
func TestWriteBudgetUnbounded(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{MaxWritesPerSecond: -1})
	s := v.dial(t)
	s.join("feed")
	for i := range 50 {
		require.NoError(t, v.e.To("feed").Emit("tick", i))
	}
	for want := uint64(1); want <= 50; want++ {
		require.Equal(t, want, s.next().Offset)
	}
}
