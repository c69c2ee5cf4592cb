package sse_test

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
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/ssewire"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds how long a test waits for a condition or a frame. Nothing is
// timed: it only bounds a test that would otherwise hang.
const wait = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is an engine with the SSE handler at /sse and the WebSocket handler
// at /ws on one loopback server, and an HTTP client of its own.
type env struct {
	e   *engine.Engine
	h   *sse.Handler
	ws  *ws.Handler
	srv *httptest.Server
	url string // http://…/sse
	hc  *http.Client
}

// start serves a new engine. setup, if given, configures the server before
// it starts (WriteTimeout, a gated listener).
func start(t *testing.T, ecfg engine.Config, scfg sse.Config, setup ...func(*httptest.Server)) *env {
	t.Helper()
	if ecfg.Logger == nil {
		ecfg.Logger = quiet
	}
	if scfg.Logger == nil {
		scfg.Logger = quiet
	}
	e := engine.New(ecfg)
	h := sse.New(e, scfg)
	wh := ws.New(e, ws.Config{Logger: quiet})
	mux := http.NewServeMux()
	mux.Handle("/sse", h)
	mux.Handle("/ws", wh)
	srv := httptest.NewUnstartedServer(mux)
	for _, f := range setup {
		f(srv)
	}
	srv.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
		require.NoError(t, h.Close())
		require.NoError(t, wh.Close())
		srv.Close()
		tr.CloseIdleConnections()
	})
	return &env{e: e, h: h, ws: wh, srv: srv, url: srv.URL + "/sse", hc: &http.Client{Transport: tr}}
}

// withQuery returns the handler's URL with query parameters (name, value
// pairs).
func (v *env) withQuery(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return v.url + "?" + q.Encode()
}

// do sends a request and returns the response with its body read.
func (v *env) do(t *testing.T, method, u string, hdr http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rb)
	require.NoError(t, err)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := v.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// refusal decodes a JSON refusal body.
func refusal(t *testing.T, resp *http.Response, body []byte) map[string]string {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), "body %s", body)
	var m map[string]string
	require.NoError(t, json.Unmarshal(body, &m), "body %s", body)
	return m
}

// post sends frames up for a session and requires 204.
func (v *env) post(t *testing.T, token, body string) {
	t.Helper()
	resp, b := v.do(t, http.MethodPost, v.withQuery("session", token), nil, body)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "body %s", b)
}

// event is one SSE event as the test client got it.
type event struct {
	id   string
	data []byte
}

// stream is an SSE client: a goroutine parses the event stream into
// events; the test takes them with next or nextEvent.
type stream struct {
	t        *testing.T
	v        *env
	resp     *http.Response
	cancel   context.CancelFunc
	events   chan event
	quit     chan struct{}
	done     chan struct{} // closed when the reader goroutine ends
	err      error         // why it ended, once done is closed
	comments atomic.Int64
	retry    atomic.Int64 // the stream's retry hint, in milliseconds

	hello   engine.Frame
	token   string
	lastID  string         // id of the last event whose frames were all returned
	ahead   []engine.Frame // frames of the current event not yet returned
	aheadID string         // id of that event
	nextID  uint64

	nEvents, arrays int // events read and, of them, JSON arrays
}

// open starts a stream; with expectHello it reads the hello frame.
func (v *env) open(t *testing.T, u string, hdr http.Header, expectHello bool) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		require.FailNow(t, "stream refused", "%d %s", resp.StatusCode, b)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &stream{t: t, v: v, resp: resp, cancel: cancel,
		events: make(chan event, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	go s.read()
	t.Cleanup(s.close)
	if expectHello {
		s.hello = s.next()
		require.Equal(t, engine.TypeHello, s.hello.Type)
		require.Equal(t, engine.ProtocolVersion, s.hello.Version)
		require.NotEmpty(t, s.hello.Session)
		tok, seq, ok := strings.Cut(s.aheadID, ".")
		require.True(t, ok, "event id %q", s.aheadID)
		require.Equal(t, "1", seq, "the hello is frame 1")
		require.Len(t, tok, 22, "a 128-bit token")
		require.NotEqual(t, s.hello.Session, tok, "the token is not the session id")
		s.token = tok
	}
	return s
}

// dial opens a new session's stream and reads its hello.
func (v *env) dial(t *testing.T) *stream { return v.open(t, v.url, nil, true) }

// resume reopens the stream of st's session after lastID, as a
// reconnecting EventSource does.
func (v *env) resume(t *testing.T, token, lastID string) *stream {
	t.Helper()
	s := v.open(t, v.url, http.Header{"Last-Event-Id": {lastID}}, false)
	s.token = token
	return s
}

func (s *stream) read() {
	defer close(s.done)
	r := ssewire.NewReader(s.resp.Body)
	r.OnComment = func(string) { s.comments.Add(1) }
	for {
		ev, err := r.Next()
		s.retry.Store(r.Retry().Milliseconds())
		if err != nil {
			s.err = err
			return
		}
		select {
		case s.events <- event{id: ev.ID, data: bytes.Clone(ev.Data)}:
		case <-s.quit:
			s.err = errors.New("closed by the test")
			return
		}
	}
}

// close cuts the stream off (the client goes away) and waits for the
// reader goroutine.
func (s *stream) close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}

// nextEvent returns the next raw event; it fails the test at the end of
// the stream.
func (s *stream) nextEvent() event {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		require.FailNow(s.t, "stream ended", "%v", s.err)
	case <-time.After(wait):
		require.FailNow(s.t, "no event in time")
	}
	return event{}
}

// ended waits for the end of the stream and returns the events left.
func (s *stream) ended() []event {
	s.t.Helper()
	var evs []event
	for {
		select {
		case ev := <-s.events:
			evs = append(evs, ev)
		case <-s.done:
			for {
				select {
				case ev := <-s.events:
					evs = append(evs, ev)
				default:
					require.ErrorIs(s.t, s.err, io.EOF)
					return evs
				}
			}
		case <-time.After(wait):
			require.FailNow(s.t, "the stream did not end")
		}
	}
}

func decodeFrames(t *testing.T, data []byte) (frames []engine.Frame, array bool) {
	t.Helper()
	array = bytes.HasPrefix(data, []byte("["))
	require.NoError(t, engine.SplitBatch(data, func(raw []byte) {
		var f engine.Frame
		require.NoError(t, json.Unmarshal(raw, &f), "%s", raw)
		frames = append(frames, f)
	}))
	return frames, array
}

// next returns the next frame.
func (s *stream) next() engine.Frame {
	s.t.Helper()
	for len(s.ahead) == 0 {
		ev := s.nextEvent()
		frames, array := decodeFrames(s.t, ev.data)
		s.nEvents++
		if array {
			s.arrays++
		}
		s.ahead, s.aheadID = frames, ev.id
	}
	f := s.ahead[0]
	s.ahead = s.ahead[1:]
	if len(s.ahead) == 0 {
		s.lastID = s.aheadID
	}
	return f
}

// request posts f with a fresh ack id and returns the ack that comes down
// the stream; other frames stay queued for next.
func (s *stream) request(f engine.Frame) engine.Frame {
	s.t.Helper()
	s.nextID++
	f.ID = s.nextID
	b, err := json.Marshal(f)
	require.NoError(s.t, err)
	s.v.post(s.t, s.token, string(b))
	var skipped []engine.Frame
	for {
		g := s.next()
		if g.Type == engine.TypeAck && g.ID == f.ID {
			s.ahead = append(skipped, s.ahead...)
			return g
		}
		skipped = append(skipped, g)
	}
}

func (s *stream) join(room string) {
	s.t.Helper()
	a := s.request(engine.Frame{Type: engine.TypeJoin, Room: room})
	require.Nil(s.t, a.Err)
}

// pollAnswer is a long-poll response.
type pollAnswer struct {
	Session string            `json:"session"`
	Cursor  uint64            `json:"cursor"`
	Frames  []json.RawMessage `json:"frames"`
}

// poller is a long-poll client.
type poller struct {
	t      *testing.T
	v      *env
	token  string
	cursor uint64
	polls  int
	hello  engine.Frame
	nextID uint64
	ahead  []engine.Frame
}

// openPoll opens a session in long-poll mode.
func (v *env) openPoll(t *testing.T) *poller {
	t.Helper()
	resp, body := v.do(t, http.MethodGet, v.withQuery("mode", "poll"), nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var a pollAnswer
	require.NoError(t, json.Unmarshal(body, &a), "%s", body)
	require.Len(t, a.Session, 22)
	require.Equal(t, uint64(1), a.Cursor)
	require.Len(t, a.Frames, 1)
	p := &poller{t: t, v: v, token: a.Session, cursor: a.Cursor}
	require.NoError(t, json.Unmarshal(a.Frames[0], &p.hello))
	require.Equal(t, engine.TypeHello, p.hello.Type)
	return p
}

// pollAt polls once after cursor and returns the status and answer.
func (p *poller) pollAt(cursor uint64) (int, pollAnswer, []byte) {
	p.t.Helper()
	resp, body := p.v.do(p.t, http.MethodGet,
		p.v.withQuery("mode", "poll", "session", p.token, "cursor", strconv.FormatUint(cursor, 10)), nil, "")
	var a pollAnswer
	if resp.StatusCode == http.StatusOK {
		require.Equal(p.t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		require.NoError(p.t, json.Unmarshal(body, &a), "%s", body)
	}
	return resp.StatusCode, a, body
}

// poll polls once and advances the cursor; it returns the frames.
func (p *poller) poll() []engine.Frame {
	p.t.Helper()
	status, a, body := p.pollAt(p.cursor)
	require.Equal(p.t, http.StatusOK, status, "%s", body)
	require.GreaterOrEqual(p.t, a.Cursor, p.cursor)
	p.polls++
	out := make([]engine.Frame, len(a.Frames))
	for i, raw := range a.Frames {
		require.NoError(p.t, json.Unmarshal(raw, &out[i]), "%s", raw)
	}
	p.cursor = a.Cursor
	return out
}

// next returns the next frame, polling as needed.
func (p *poller) next() engine.Frame {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for len(p.ahead) == 0 {
		require.True(p.t, time.Now().Before(deadline), "no frame in time")
		p.ahead = p.poll()
	}
	f := p.ahead[0]
	p.ahead = p.ahead[1:]
	return f
}

func (p *poller) request(f engine.Frame) engine.Frame {
	p.t.Helper()
	p.nextID++
	f.ID = p.nextID
	b, err := json.Marshal(f)
	require.NoError(p.t, err)
	p.v.post(p.t, p.token, string(b))
	var skipped []engine.Frame
	for {
		g := p.next()
		if g.Type == engine.TypeAck && g.ID == f.ID {
			p.ahead = append(skipped, p.ahead...)
			return g
		}
		skipped = append(skipped, g)
	}
}

// wsClient is a WebSocket client of the same engine.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	hello  engine.Frame
	ahead  []engine.Frame
	nextID uint64
}

func (v *env) dialWS(t *testing.T) *wsClient {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(v.srv.URL, "http")+"/ws", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c}
	w.hello = w.next()
	require.Equal(t, engine.TypeHello, w.hello.Type)
	return w
}

func (w *wsClient) next() engine.Frame {
	w.t.Helper()
	for len(w.ahead) == 0 {
		require.NoError(w.t, w.c.SetReadDeadline(time.Now().Add(wait)))
		_, msg, err := w.c.ReadMessage()
		require.NoError(w.t, err)
		w.ahead, _ = decodeFrames(w.t, msg)
	}
	f := w.ahead[0]
	w.ahead = w.ahead[1:]
	return f
}

func (w *wsClient) request(f engine.Frame) engine.Frame {
	w.t.Helper()
	w.nextID++
	f.ID = w.nextID
	b, err := json.Marshal(f)
	require.NoError(w.t, err)
	require.NoError(w.t, w.c.WriteMessage(websocket.TextMessage, b))
	var skipped []engine.Frame
	for {
		g := w.next()
		if g.Type == engine.TypeAck && g.ID == f.ID {
			w.ahead = append(skipped, w.ahead...)
			return g
		}
		skipped = append(skipped, g)
	}
}

// gate blocks the server's socket writes while closed.
type gate struct{ mu sync.RWMutex }

func (g *gate) close() { g.mu.Lock() }
func (g *gate) open()  { g.mu.Unlock() }

func (g *gate) setup(srv *httptest.Server) { srv.Listener = gatedListener{srv.Listener, g} }

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

// chat registers a "chat" handler that relays the payload to room, except
// the sender, and acks "ok".
func chat(e *engine.Engine, room string) {
	e.On("chat", func(_ context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return "ok", e.To(room).Except(s).Emit("chat", data)
	})
}

// findFrame returns the index of the first frame of type typ, or -1.
func findFrame(frames []engine.Frame, typ string) int {
	return slices.IndexFunc(frames, func(f engine.Frame) bool { return f.Type == typ })
}
