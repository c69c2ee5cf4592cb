//go:build unix

package ws

import (
	"errors"
	"sync"
	"syscall"
)

// rawWrite is one write(2) through syscall.RawConn. Its callback is bound
// once and the value pooled, so that a write allocates nothing (a closure
// over the write's variables would escape to the heap on every call).
type rawWrite struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var rawWrites = sync.Pool{New: func() any {
	w := new(rawWrite)
	w.fn = w.write
	return w
}}

func (w *rawWrite) write(fd uintptr) bool {
	for w.n < len(w.p) {
		m, e := syscall.Write(int(fd), w.p[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case e == syscall.EINTR:
			continue
		case errors.Is(e, syscall.EAGAIN):
			return true
		case e != nil:
			w.err = e
			return true
		case m <= 0:
			return true
		}
	}
	return true
}

// writeNonBlocking writes as much of p as the socket's buffer takes now,
// with write(2) on the non-blocking descriptor that the runtime keeps.
// n < len(p) with a nil error means the rest must wait.
func writeNonBlocking(raw syscall.RawConn, p []byte) (n int, err error) {
	w := rawWrites.Get().(*rawWrite)
	w.p, w.n, w.err = p, 0, nil
	rerr := raw.Write(w.fn)
	n, err = w.n, w.err
	w.p, w.err = nil, nil
	rawWrites.Put(w)
	if err == nil {
		err = rerr
	}
	return n, err
}
