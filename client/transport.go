package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

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

// WebSocket is the WebSocket transport, on gorilla/websocket.
type WebSocket struct {
	// Dialer dials; nil uses a dialer with a 10 s handshake timeout.
	Dialer *websocket.Dialer
}

var defaultDialer = &websocket.Dialer{
	Proxy:            http.ProxyFromEnvironment,
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   4096,
	WriteBufferSize:  4096,
}

// Dial opens a WebSocket connection. A refusal before the upgrade (HTTP
// 401, 403, …) is returned as an *protocol.Error with the server's code and
// reason.
func (w WebSocket) Dial(ctx context.Context, url string, header http.Header) (Conn, error) {
	d := w.Dialer
	if d == nil {
		d = defaultDialer
	}
	c, resp, err := d.DialContext(ctx, url, header)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, refusal(resp)
		}
		return nil, err
	}
	return &wsConn{c: c}, nil
}

// refusal turns a refused request (a non-101 answer to a WebSocket
// upgrade, a non-2xx answer over SSE or long-poll) into an *protocol.Error
// (see protocol.ParseRefusal).
func refusal(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return protocol.ParseRefusal(resp.StatusCode, body)
}

type wsConn struct {
	c  *websocket.Conn
	wm sync.Mutex
}

func (w *wsConn) Read(ctx context.Context) ([]byte, error) {
	_, msg, err := w.c.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &CloseError{Code: protocol.CloseCode(ce.Code), Reason: ce.Text}
		}
		return nil, err
	}
	return msg, nil
}

func (w *wsConn) Write(ctx context.Context, msg []byte) error {
	w.wm.Lock()
	defer w.wm.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	w.c.SetWriteDeadline(deadline)
	return w.c.WriteMessage(websocket.TextMessage, msg)
}

func (w *wsConn) Close() error {
	w.wm.Lock()
	_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.wm.Unlock()
	return w.c.Close()
}
