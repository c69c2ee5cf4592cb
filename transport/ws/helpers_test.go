package ws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is how long a test waits for a condition or a frame. Nothing is
// timed: it only bounds a test that would otherwise hang.
const wait = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is an engine with a ws.Handler mounted at /ws on a loopback server.
type env struct {
	e   *engine.Engine
	h   *ws.Handler
	srv *httptest.Server
	url string // ws://…/ws
}

// start serves a new engine over WebSocket. wrap, if not nil, wraps the
// server's listener (to gate the server's writes).
func start(t *testing.T, ecfg engine.Config, wcfg ws.Config, wrap ...func(net.Listener) net.Listener) *env {
	t.Helper()
	if ecfg.Logger == nil {
		ecfg.Logger = quiet
	}
	if wcfg.Logger == nil {
		wcfg.Logger = quiet
	}
	e := engine.New(ecfg)
	h := ws.New(e, wcfg)
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := httptest.NewUnstartedServer(mux)
	for _, w := range wrap {
		srv.Listener = w(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
		require.NoError(t, h.Close())
		srv.Close()
	})
	return &env{e: e, h: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
}

// client speaks the wire protocol over a real WebSocket: raw frames in,
// engine.Frame out, with batches (JSON arrays) split.
type client struct {
	t      *testing.T
	c      *websocket.Conn
	hello  engine.Frame
	ahead  []engine.Frame // frames read but not yet returned
	nextID uint64

	messages int // WebSocket messages read
	arrays   int // of which JSON arrays (coalesced batches)
}

// dial connects and reads the hello frame.
func (v *env) dial(t *testing.T, hdr http.Header) *client {
	t.Helper()
	return dialWith(t, websocket.DefaultDialer, v.url, hdr)
}

func dialWith(t *testing.T, d *websocket.Dialer, url string, hdr http.Header) *client {
	t.Helper()
	c, resp, err := d.Dial(url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	cl.hello = cl.next()
	require.Equal(t, engine.TypeHello, cl.hello.Type)
	require.Equal(t, engine.ProtocolVersion, cl.hello.Version)
	require.NotEmpty(t, cl.hello.Session)
	return cl
}

// refused dials expecting an HTTP refusal; it returns the status and the
// decoded JSON body.
func (v *env) refused(t *testing.T, url string, hdr http.Header) (int, map[string]string) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if c != nil {
		c.Close()
	}
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.NotNil(t, resp)
	defer resp.Body.Close()
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// readFrames reads one WebSocket message and decodes its frames.
func readFrames(c *websocket.Conn) (frames []engine.Frame, array bool, err error) {
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, false, err
	}
	typ, msg, err := c.ReadMessage()
	if err != nil {
		return nil, false, err
	}
	if typ != websocket.TextMessage {
		return nil, false, errors.New("server sent a non-text message")
	}
	array = bytes.HasPrefix(msg, []byte("["))
	var derr error
	err = engine.SplitBatch(msg, func(raw []byte) {
		var f engine.Frame
		if err := json.Unmarshal(raw, &f); err != nil && derr == nil {
			derr = err
		}
		frames = append(frames, f)
	})
	return frames, array, errors.Join(err, derr)
}

// fill reads one message into ahead.
func (c *client) fill() {
	c.t.Helper()
	frames, array, err := readFrames(c.c)
	require.NoError(c.t, err)
	c.messages++
	if array {
		c.arrays++
	}
	c.ahead = append(c.ahead, frames...)
}

// next returns the next frame from the server.
func (c *client) next() engine.Frame {
	c.t.Helper()
	for len(c.ahead) == 0 {
		c.fill()
	}
	f := c.ahead[0]
	c.ahead = c.ahead[1:]
	return f
}

// send writes one frame as a text message.
func (c *client) send(f engine.Frame) {
	c.t.Helper()
	b, err := json.Marshal(f)
	require.NoError(c.t, err)
	c.sendRaw(b)
}

func (c *client) sendRaw(msg []byte) {
	c.t.Helper()
	require.NoError(c.t, c.c.WriteMessage(websocket.TextMessage, msg))
}

// request sends f with a fresh ack id and returns the ack answering it;
// other frames stay queued for next.
func (c *client) request(f engine.Frame) engine.Frame {
	c.t.Helper()
	c.nextID++
	f.ID = c.nextID
	c.send(f)
	for {
		if i := slices.IndexFunc(c.ahead, func(a engine.Frame) bool { return a.Type == engine.TypeAck && a.ID == f.ID }); i >= 0 {
			a := c.ahead[i]
			c.ahead = slices.Delete(c.ahead, i, i+1)
			return a
		}
		c.fill()
	}
}

// join joins a room and requires success.
func (c *client) join(room string) {
	c.t.Helper()
	a := c.request(engine.Frame{Type: engine.TypeJoin, Room: room})
	require.Nil(c.t, a.Err)
}

// readClose reads (keeping frames in ahead) until the connection ends and
// returns the close frame the server sent.
func (c *client) readClose() *websocket.CloseError {
	c.t.Helper()
	for {
		frames, _, err := readFrames(c.c)
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(c.t, err, &ce, "the connection ended without a close frame")
			return ce
		}
		c.messages++
		c.ahead = append(c.ahead, frames...)
	}
}

// gate blocks the server's socket writes while closed: a client whose TCP
// window is full, made deterministic.
type gate struct{ mu sync.RWMutex }

func (g *gate) close() { g.mu.Lock() }
func (g *gate) open()  { g.mu.Unlock() }

func (g *gate) wrap(ln net.Listener) net.Listener { return gatedListener{ln, g} }

type gatedListener struct {
	net.Listener
	g *gate
}

func (l gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return gatedConn{c, l.g}, nil
}

type gatedConn struct {
	net.Conn
	g *gate
}

func (c gatedConn) Write(p []byte) (int, error) {
	c.g.mu.RLock()
	defer c.g.mu.RUnlock()
	return c.Conn.Write(p)
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// closeHandler calls Handler.Close and fails the test if it does not return
// within wait.
func (v *env) closeHandler(t *testing.T) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- v.h.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(wait):
		require.FailNow(t, "Handler.Close did not return")
	}
}

// sendBuffers returns a listener wrapper that caps the server's socket send
// buffers at size bytes (which also turns off their autotuning): with
// smallReceiveBuffer on the client, a client that stops reading blocks the
// server's write after kilobytes rather than megabytes, whatever the
// kernel's limits.
func sendBuffers(size int) func(net.Listener) net.Listener {
	return func(ln net.Listener) net.Listener { return sndbufListener{ln, size} }
}

// smallSendBuffers caps the server's socket send buffers at 16 KiB.
var smallSendBuffers = sendBuffers(16 << 10)

type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}
