package shardmap_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/internal/shardmap"
)

func TestMap(t *testing.T) {
	var m shardmap.Map[string, int] // the zero value is ready
	_, ok := m.Get("a")
	require.False(t, ok)
	require.Zero(t, m.Len())

	m.Put("a", 1)
	m.Put("b", 2)
	m.Put("a", 3)
	v, ok := m.Get("a")
	require.True(t, ok)
	require.Equal(t, 3, v)
	require.Equal(t, 2, m.Len())

	// Update sees the current value and may keep, replace or remove it.
	m.Update("b", func(v int, ok bool) (int, bool) {
		require.True(t, ok)
		require.Equal(t, 2, v)
		return v + 10, true
	})
	v, _ = m.Get("b")
	require.Equal(t, 12, v)
	m.Update("c", func(v int, ok bool) (int, bool) {
		require.False(t, ok)
		return 0, false // nothing stored
	})
	_, ok = m.Get("c")
	require.False(t, ok)
	m.Update("b", func(v int, ok bool) (int, bool) { return v, false })
	_, ok = m.Get("b")
	require.False(t, ok)

	m.Delete("a")
	m.Delete("missing")
	require.Zero(t, m.Len())
}

func TestRange(t *testing.T) {
	var m shardmap.Map[int, string]
	for i := range 200 {
		m.Put(i, fmt.Sprint(i))
	}
	var keys []int
	m.Range(func(k int, v string) bool {
		require.Equal(t, fmt.Sprint(k), v)
		keys = append(keys, k)
		return true
	})
	slices.Sort(keys)
	require.Len(t, keys, 200)
	require.Equal(t, 0, keys[0])
	require.Equal(t, 199, keys[199])

	n := 0
	m.Range(func(int, string) bool { n++; return n < 5 })
	require.Equal(t, 5, n, "Range stops when fn returns false")
}

// Concurrent Updates of one key are not lost (run with -race).
func TestConcurrentUpdates(t *testing.T) {
	var m shardmap.Map[*int, int]
	keys := []*int{new(int), new(int), new(int)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				for _, k := range keys {
					m.Update(k, func(v int, _ bool) (int, bool) { return v + 1, true })
					m.Get(k)
				}
			}
		}()
	}
	wg.Wait()
	for _, k := range keys {
		v, _ := m.Get(k)
		require.Equal(t, 8000, v)
	}
}

func BenchmarkGet(b *testing.B) {
	var m shardmap.Map[string, int]
	m.Put("lobby", 1)
	b.ReportAllocs()
	for b.Loop() {
		m.Get("lobby")
	}
}
