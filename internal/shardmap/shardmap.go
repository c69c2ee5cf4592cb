// Package shardmap is a map split into shards, each behind its own
// read-write lock, for registries that many goroutines read and write at
// once: lookups of different keys rarely meet on one lock.
package shardmap

import (
	"hash/maphash"
	"sync"
)

// shards is the number of shards of every Map.
const shards = 64

// seed hashes keys to shards; one per process.
var seed = maphash.MakeSeed()

// Map is a sharded map from K to V, safe for concurrent use. The zero
// value is an empty map ready to use. A Map must not be copied after first
// use.
type Map[K comparable, V any] struct {
	shards [shards]shard[K, V]
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
	_  [32]byte // one shard per cache line
}

func (m *Map[K, V]) shard(k K) *shard[K, V] {
	return &m.shards[maphash.Comparable(seed, k)%shards]
}

// Get returns the value stored for k, and whether there is one.
func (m *Map[K, V]) Get(k K) (V, bool) {
	sh := m.shard(k)
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	return v, ok
}

// Put stores v for k.
func (m *Map[K, V]) Put(k K, v V) {
	m.Update(k, func(V, bool) (V, bool) { return v, true })
}

// Delete removes k.
func (m *Map[K, V]) Delete(k K) {
	m.Update(k, func(old V, _ bool) (V, bool) { return old, false })
}

// Update calls fn with k's value (and whether there is one) and stores the
// value fn returns, or removes k when fn returns false, all under k's
// shard lock: no other Update of a key in that shard runs meanwhile. fn
// must not use the Map. A shard emptied by Update gives its map back to
// the collector (a Go map keeps its peak size).
func (m *Map[K, V]) Update(k K, fn func(v V, ok bool) (V, bool)) {
	sh := m.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old, ok := sh.m[k]
	v, keep := fn(old, ok)
	switch {
	case keep:
		if sh.m == nil {
			sh.m = make(map[K]V)
		}
		sh.m[k] = v
	case ok:
		delete(sh.m, k)
		if len(sh.m) == 0 {
			sh.m = nil
		}
	}
}

// Range calls fn for every key and value until fn returns false, holding
// one shard's read lock at a time: fn must not update the Map, and it sees
// each shard as it is when Range reaches it.
func (m *Map[K, V]) Range(fn func(K, V) bool) {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for k, v := range sh.m {
			if !fn(k, v) {
				sh.mu.RUnlock()
				return
			}
		}
		sh.mu.RUnlock()
	}
}

// Len counts the keys, one shard at a time.
func (m *Map[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
