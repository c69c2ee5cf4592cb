//go:build !unix

package ws_test

import "syscall"

// smallReceiveBuffer does nothing here: the slow-consumer test then only
// has more to publish before the server backs up.
func smallReceiveBuffer(_, _ string, _ syscall.RawConn) error { return nil }
