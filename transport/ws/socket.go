package ws

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// socket is the net.Conn that melody's WebSocket library (gorilla) sees
// once the connection is taken from net/http. Reads go straight through:
// melody's reading goroutine owns them. Writes do not: the handshake
// answer is written at once, but after it every frame gorilla writes (a
// pong, the echo of a client's close frame) is handed to the conn, which
// writes it between its own data messages through the Handler's writers
// (see writers.go). So gorilla never writes to the network after the
// handshake, and no write of it can interleave with ours.
type socket struct {
	net.Conn
	c   *conn
	raw syscall.RawConn // nil: writes always wait on a goroutine of their own
}

func newSocket(nc net.Conn, c *conn) *socket {
	s := &socket{Conn: nc, c: c}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	return s
}

// Write writes the handshake answer directly; after the handshake it
// queues a control frame for the conn's next write and returns at once.
func (s *socket) Write(p []byte) (int, error) {
	if n, queued, err := s.c.writeControl(p); queued {
		return n, err
	}
	return s.Conn.Write(p)
}

// SetWriteDeadline is gorilla's: it only matters for the handshake, which
// is written directly. After that the conn bounds its own writes with
// Config.WriteTimeout.
func (s *socket) SetWriteDeadline(t time.Time) error {
	if s.c.handshakeDone() {
		return nil
	}
	return s.Conn.SetWriteDeadline(t)
}

// Close closes the connection once the control frames queued for it are
// written (the echo of a client's close frame, typically); data frames
// still queued are dropped, and a write waiting for the client is cut
// short. melody calls it when the connection ends.
func (s *socket) Close() error {
	s.c.closeSocket()
	return nil
}

// tryWrite writes as much of p as the socket takes now without waiting.
// n < len(p) with a nil error means the rest needs a goroutine that waits
// (the client's receive window is full, or this socket has no descriptor
// to write without waiting: TLS, or not a Unix system).
func (s *socket) tryWrite(p []byte) (n int, err error) {
	if s.raw == nil {
		return 0, nil
	}
	return writeNonBlocking(s.raw, p)
}

// writeAll writes p, waiting up to timeout for the client to read.
func (s *socket) writeAll(p []byte, timeout time.Duration) error {
	if err := s.Conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := s.Conn.Write(p)
	if err == nil {
		err = s.Conn.SetWriteDeadline(time.Time{})
	}
	return err
}

// WebSocket opcodes of the frames the conn writes itself (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	finBit  = 0x80
)

// maxHeaderBytes is the longest header of a server frame (unmasked).
const maxHeaderBytes = 10

// putHeader writes the header of an unmasked final frame with the given
// opcode and payload length into the end of dst (len(dst) must be
// maxHeaderBytes) and returns where it starts.
func putHeader(dst []byte, op byte, n int) int {
	switch {
	case n < 126:
		dst[8], dst[9] = finBit|op, byte(n)
		return 8
	case n <= 0xFFFF:
		dst[6], dst[7] = finBit|op, 126
		binary.BigEndian.PutUint16(dst[8:], uint16(n))
		return 6
	default:
		dst[0], dst[1] = finBit|op, 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
		return 0
	}
}
