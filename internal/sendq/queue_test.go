package sendq_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/internal/sendq"
	"github.com/hubbubhq/hubbub/protocol"
)

func TestBoundedByBytes(t *testing.T) {
	q := sendq.New(3 * (10 + 32)) // three 10-byte frames with their overhead
	f := make([]byte, 10)
	for range 3 {
		require.NoError(t, q.Push(f))
	}
	require.ErrorIs(t, q.Push(f), sendq.ErrFull)
	n, b := q.Len()
	require.Equal(t, 3, n)
	require.Equal(t, 3*(10+32), b)
	require.ErrorIs(t, sendq.New(8).Push(make([]byte, 9)), sendq.ErrFull, "a frame larger than the bound never fits")

	// The first refused frame closes the queue: what was queued before it
	// still goes out, nothing after it does, even once there is room.
	require.True(t, q.Closed())
	require.Len(t, q.Drain(nil), 3)
	require.ErrorIs(t, q.Push(f), sendq.ErrClosed, "no frame after a lost one")
}

func TestDroppableFrameRefusedLeavesQueueOpen(t *testing.T) {
	q := sendq.New(2 * (10 + 32))
	f := make([]byte, 10)
	require.NoError(t, q.Push(f))
	require.NoError(t, q.PushDroppable(f))
	require.ErrorIs(t, q.PushDroppable(f), sendq.ErrFull)
	require.False(t, q.Closed(), "a dropped frame does not close the queue")
	require.Len(t, q.Drain(nil), 2)
	require.NoError(t, q.Push(f), "later frames are queued as usual")
	q.Close(protocol.CloseNormal)
	require.ErrorIs(t, q.PushDroppable(f), sendq.ErrClosed)
}

func TestCloseForSlowConsumerDrops(t *testing.T) {
	q := sendq.New(1 << 20)
	require.NoError(t, q.Push([]byte("x")))
	q.Close(protocol.CloseSlowConsumer)
	n, b := q.Len()
	require.Zero(t, n)
	require.Zero(t, b)
	require.Zero(t, q.Frames())
	require.ErrorIs(t, q.Push([]byte("y")), sendq.ErrClosed)
}

func TestOrderDrainPopAndReady(t *testing.T) {
	q := sendq.New(1 << 20)
	select {
	case <-q.Ready():
		t.Fatal("ready while empty")
	default:
	}
	for _, s := range []string{"a", "b", "c"} {
		require.NoError(t, q.Push([]byte(s)))
	}
	<-q.Ready() // signalled once for the first frame
	require.Equal(t, "a", string(q.Pop()))
	<-q.Ready() // Pop re-signals while frames remain
	got := q.Drain(make([][]byte, 0, 4))
	require.Equal(t, [][]byte{[]byte("b"), []byte("c")}, got)
	require.Nil(t, q.Pop())
	n, b := q.Len()
	require.Zero(t, n)
	require.Zero(t, b)
}

func TestCloseKeepsQueuedFrames(t *testing.T) {
	q := sendq.New(1 << 20)
	require.NoError(t, q.Push([]byte("x")))
	q.Close(protocol.CloseGoingAway)
	q.Close(protocol.CloseNormal) // idempotent
	require.True(t, q.Closed())
	require.ErrorIs(t, q.Push([]byte("y")), sendq.ErrClosed)
	require.Equal(t, "x", string(q.Pop()))
}

func TestConcurrentProducers(t *testing.T) {
	q := sendq.New(1 << 30)
	const producers, each = 8, 1000
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range each {
				if err := q.Push([]byte("f")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	total := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var buf [][]byte
	for {
		select {
		case <-q.Ready():
		case <-done:
		}
		buf = q.Drain(buf[:0])
		total += len(buf)
		select {
		case <-done:
			total += len(q.Drain(buf[:0]))
			require.Equal(t, producers*each, total)
			return
		default:
		}
	}
}

func BenchmarkPushDrain(b *testing.B) {
	q := sendq.New(1 << 30)
	f := []byte(`{"t":"emit","ev":"x","room":"r","off":1,"d":"hello"}`)
	var buf [][]byte
	b.ReportAllocs()
	for i := range b.N {
		_ = q.Push(f)
		if i%64 == 63 {
			buf = q.Drain(buf[:0])
		}
	}
}

// Frames, read without the lock, counts what Len counts.
func TestFramesFollowsLen(t *testing.T) {
	q := sendq.New(1 << 10)
	for i := range 3 {
		require.NoError(t, q.Push([]byte("x")))
		require.Equal(t, i+1, q.Frames())
	}
	require.NotNil(t, q.Pop())
	n, _ := q.Len()
	require.Equal(t, n, q.Frames())
	q.Drain(nil)
	require.Zero(t, q.Frames())
}
