package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbubhq/hubbub/protocol"
)

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
