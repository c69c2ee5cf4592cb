package engine

// Conn is a transport's side of a session: the engine's only way to reach
// the client. Transports implement it; the engine never blocks on it.
type Conn interface {
	// Send queues one encoded frame for the client and returns at once.
	// The frame is shared by every recipient of a broadcast and must not be
	// modified or retained past its delivery. A non-nil error means the
	// frame could not be queued (the queue is full or the connection is
	// closed): the engine then closes the session with ReasonSlow, so the
	// client knows to reconnect and recover instead of missing the event.
	// Send is called concurrently from many goroutines.
	Send(frame []byte) error

	// Close ends the connection, telling the client why (a WebSocket close
	// frame, a final "close" frame on a stream). The engine calls it once,
	// after the session has left its rooms. It must not block for long and
	// must not call back into the engine synchronously.
	Close(reason CloseReason) error
}

// BoundedConn is implemented by transports whose send queue is bounded
// and can say what it can take (every hubbub transport, through
// internal/sendq). With it the engine keeps two rules that a bounded queue
// needs:
//
//   - A volatile event (Target.Volatile) that the queue cannot take is
//     dropped for that client and counted (Stats.VolatileDropped); the
//     session goes on. Without BoundedConn, volatile frames go through
//     Send, and one that does not fit closes the session as a slow
//     consumer.
//   - A recovery replay (a join with "since") that the queue could not
//     take is not sent: the join answers recovered:false at once, so that
//     no replay closes a session by itself and a client never loops between
//     4008 and the same position.
type BoundedConn interface {
	Conn
	// SendVolatile queues frame if it fits and reports whether it did,
	// without blocking. A refused frame changes nothing else: later frames
	// are queued as usual. Like Send, it is called concurrently and the
	// frame must not be modified or retained past its delivery.
	SendVolatile(frame []byte) bool
	// FitsReplay reports whether frames, queued now, would leave the
	// queue room for the live events that follow them.
	FitsReplay(frames [][]byte) bool
}
