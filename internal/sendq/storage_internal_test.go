package sendq

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// An idle queue holds no backing array, however many frames its last burst
// had: it goes back to the pool when the queue is drained or popped empty.
func TestIdleQueueHoldsNoStorage(t *testing.T) {
	q := New(1 << 20)
	frame := []byte(`{"t":"emit"}`)
	for range 1000 {
		require.NoError(t, q.Push(frame))
	}
	require.Len(t, q.Drain(nil), 1000)
	require.Nil(t, q.st)
	n, b := q.Len()
	require.Zero(t, n)
	require.Zero(t, b)

	for range 3 {
		require.NoError(t, q.Push(frame))
	}
	for range 3 {
		require.Equal(t, frame, q.Pop())
	}
	require.Nil(t, q.st)
	require.Nil(t, q.Pop())
}
