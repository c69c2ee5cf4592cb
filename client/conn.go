package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hubbubhq/hubbub/protocol"
)

// Transport opens connections to a hubbub server. WebSocket is the
// default; other transports (SSE, long-poll) implement the same interface.
type Transport interface {
	// Dial connects to url with the given request headers. A refusal by
	// the server should be returned as an *protocol.Error.
	Dial(ctx context.Context, url string, header http.Header) (Conn, error)
}

// Conn is one connection: a stream of protocol messages each way.
type Conn interface {
	// Read returns the next message (one frame or a JSON array of frames).
	// A connection closed by the server returns a *CloseError.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one message. It is safe for concurrent use.
	Write(ctx context.Context, msg []byte) error
	// Close ends the connection; it unblocks Read.
	Close() error
}

// CloseError is a connection closed by the server with a code and reason
// (protocol.CloseGoingAway, protocol.CloseSlowConsumer, …).
type CloseError struct {
	Code   protocol.CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("hubbub client: connection closed: %d %s", e.Code, e.Reason)
}
