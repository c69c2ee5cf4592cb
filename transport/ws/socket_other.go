//go:build !unix

package ws

import "syscall"

// writeNonBlocking is not available here: every write waits on a
// goroutine of its own.
func writeNonBlocking(syscall.RawConn, []byte) (int, error) { return 0, nil }
