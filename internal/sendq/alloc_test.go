//go:build !race

package sendq_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/internal/sendq"
)

// Once the pool holds an array of the right size, a burst of pushes and a
// drain allocate nothing (the race detector makes sync.Pool drop items at
// random, hence the build tag).
func TestBurstAllocatesNothing(t *testing.T) {
	q := sendq.New(1 << 20)
	frame := []byte(`{"t":"emit"}`)
	dst := make([][]byte, 0, 64)
	burst := func() {
		for range 48 {
			_ = q.Push(frame)
		}
		dst = q.Drain(dst[:0])
	}
	burst()
	require.Zero(t, testing.AllocsPerRun(100, burst))
}
