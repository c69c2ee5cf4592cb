//go:build unix

package ws

import (
	"errors"
	"syscall"
)

// writeNonBlocking writes as much of p as the socket's buffer takes now,
// with write(2) on the non-blocking descriptor that the runtime keeps.
// n < len(p) with a nil error means the rest must wait.
func writeNonBlocking(raw syscall.RawConn, p []byte) (n int, err error) {
	rerr := raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.Write(int(fd), p[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EINTR:
				continue
			case errors.Is(e, syscall.EAGAIN):
				return true
			case e != nil:
				err = e
				return true
			case m <= 0:
				return true
			}
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return n, err
}
