package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func frames(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestHistoryRingAndRecovery(t *testing.T) {
	h := history{size: 3, ttl: time.Minute}
	now := time.Now().UnixNano()
	for off := uint64(1); off <= 5; off++ {
		h.append(off, now, []byte(strconv.FormatUint(off, 10)))
	}
	got, ok := h.since(3, 5, now)
	require.True(t, ok)
	require.Equal(t, frames("4", "5"), got)
	got, ok = h.since(2, 5, now) // 3,4,5 are held: covered
	require.True(t, ok)
	require.Equal(t, frames("3", "4", "5"), got)
	_, ok = h.since(1, 5, now) // 2 was evicted
	require.False(t, ok)
	got, ok = h.since(5, 5, now)
	require.True(t, ok)
	require.Empty(t, got)
	_, ok = h.since(9, 5, now) // from the future
	require.False(t, ok)
	require.Equal(t, frames("4", "5"), h.last(2, now))
	require.Equal(t, frames("3", "4", "5"), h.last(10, now))
}

func TestHistoryExpiresByAge(t *testing.T) {
	h := history{size: 10, ttl: time.Second}
	t0 := time.Now().UnixNano()
	h.append(1, t0, []byte("old"))
	h.append(2, t0+int64(900*time.Millisecond), []byte("new"))
	later := t0 + int64(1500*time.Millisecond)
	_, ok := h.since(0, 2, later)
	require.False(t, ok, "offset 1 expired")
	got, ok := h.since(1, 2, later)
	require.True(t, ok)
	require.Equal(t, frames("new"), got)
	h.expire(t0 + int64(3*time.Second))
	require.Zero(t, h.n)
	require.Nil(t, h.buf, "an emptied ring is released")
	h.append(3, t0+int64(3*time.Second), []byte("again"))
	require.Equal(t, frames("again"), h.last(5, t0+int64(3*time.Second)))
}

func TestHistoryDisabled(t *testing.T) {
	h := history{size: 0, ttl: time.Second}
	h.append(1, 0, []byte("x"))
	_, ok := h.since(0, 1, 0)
	require.False(t, ok)
}
