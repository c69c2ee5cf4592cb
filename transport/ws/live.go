package ws

import (
	"hash/maphash"
	"sync"

	"github.com/olahol/melody"
)

// liveConns maps melody's sessions to their conns from onConnect to
// onDisconnect (melody's per-session key map would cost every connection
// ~300 bytes more than an entry here). It is sharded so that the lookups
// made for every message written or read rarely meet on one lock.
// Create it with newLiveConns.
type liveConns struct {
	seed   maphash.Seed
	shards [liveShards]liveShard
}

const liveShards = 64

type liveShard struct {
	mu sync.RWMutex
	m  map[*melody.Session]*conn
	_  [32]byte // one shard per cache line
}

func newLiveConns() *liveConns { return &liveConns{seed: maphash.MakeSeed()} }

func (l *liveConns) shard(ms *melody.Session) *liveShard {
	return &l.shards[maphash.Comparable(l.seed, ms)%liveShards]
}

func (l *liveConns) add(ms *melody.Session, c *conn) {
	sh := l.shard(ms)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[*melody.Session]*conn)
	}
	sh.m[ms] = c
	sh.mu.Unlock()
}

// get returns the conn of ms, or nil outside onConnect…onDisconnect.
func (l *liveConns) get(ms *melody.Session) *conn {
	sh := l.shard(ms)
	sh.mu.RLock()
	c := sh.m[ms]
	sh.mu.RUnlock()
	return c
}

func (l *liveConns) remove(ms *melody.Session) {
	sh := l.shard(ms)
	sh.mu.Lock()
	delete(sh.m, ms)
	if len(sh.m) == 0 {
		sh.m = nil // a map keeps its peak size; let a spike's go
	}
	sh.mu.Unlock()
}

// len counts the entries (for tests).
func (l *liveConns) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
