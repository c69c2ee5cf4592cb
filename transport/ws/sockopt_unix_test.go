//go:build unix

package ws_test

import "syscall"

// smallReceiveBuffer caps a client socket's receive buffer (which also
// turns off its autotuning), so that a client that stops reading backs up
// the server after kilobytes rather than megabytes.
func smallReceiveBuffer(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10)
	})
	if err != nil {
		return err
	}
	return serr
}
