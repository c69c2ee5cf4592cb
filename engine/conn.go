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
