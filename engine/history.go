package engine

import "time"

// historyEntry is one event kept for replay: its offset, when it was
// published, and its encoded frame (shared with the live fan-out).
type historyEntry struct {
	off   uint64
	at    int64 // unix nanoseconds
	frame []byte
}

// history is a ring of a room's most recent events, bounded by count and
// age. Offsets in it are contiguous. It is guarded by the room's mutex.
type history struct {
	buf   []historyEntry // ring storage, allocated on first append
	start int            // index of the oldest entry
	n     int            // entries held
	size  int            // capacity; 0 disables history
	ttl   time.Duration
}

func (h *history) append(off uint64, now int64, frame []byte) {
	if h.size == 0 {
		return
	}
	h.expire(now)
	if h.buf == nil {
		h.buf = make([]historyEntry, h.size)
	}
	if h.n == h.size {
		h.buf[h.start] = historyEntry{}
		h.start = (h.start + 1) % h.size
		h.n--
	}
	h.buf[(h.start+h.n)%h.size] = historyEntry{off: off, at: now, frame: frame}
	h.n++
}

// expire drops entries older than the TTL.
func (h *history) expire(now int64) {
	cutoff := now - int64(h.ttl)
	for h.n > 0 && h.buf[h.start].at < cutoff {
		h.buf[h.start] = historyEntry{}
		h.start = (h.start + 1) % h.size
		h.n--
	}
	if h.n == 0 {
		h.buf = nil // give an idle room's ring back to the GC
		h.start = 0
	}
}

func (h *history) at(i int) *historyEntry { return &h.buf[(h.start+i)%h.size] }

// since returns the frames after offset off, oldest first, and whether
// they cover the whole gap up to last (the room's latest offset).
func (h *history) since(off, last uint64, now int64) ([][]byte, bool) {
	if off > last {
		return nil, false // a position from the future: not this room's history
	}
	if off == last {
		return nil, true
	}
	h.expire(now)
	if h.n == 0 || h.at(0).off > off+1 {
		return nil, false
	}
	first := int(off + 1 - h.at(0).off)
	out := make([][]byte, 0, h.n-first)
	for i := first; i < h.n; i++ {
		out = append(out, h.at(i).frame)
	}
	return out, true
}

// last returns up to n of the most recent frames, oldest first.
func (h *history) last(n int, now int64) [][]byte {
	h.expire(now)
	n = min(n, h.n)
	out := make([][]byte, 0, n)
	for i := h.n - n; i < h.n; i++ {
		out = append(out, h.at(i).frame)
	}
	return out
}
