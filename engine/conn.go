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

// VolatileConn is implemented by transports whose queue can refuse one
// frame without ending the connection. The engine sends volatile events
// (Target.Volatile) through it: a volatile frame the queue cannot take is
// dropped for that client and counted (Stats.VolatileDropped), and the
// session goes on. To a Conn without it, volatile frames go through Send,
// and one that does not fit closes the session as a slow consumer.
type VolatileConn interface {
	// SendVolatile queues frame if it fits and reports whether it did,
	// without blocking. A refused frame changes nothing else: later frames
	// are queued as usual. Like Send, it is called concurrently and the
	// frame must not be modified or retained past its delivery.
	SendVolatile(frame []byte) bool
}
