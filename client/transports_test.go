package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
)

// netCtl is an HTTP client whose connections a test can cut, turn into
// black holes (the bytes the server sends are recorded but never reach
// the client) or refuse to open.
type netCtl struct {
	tr    *http.Transport
	hc    *http.Client
	down  atomic.Bool // new connections fail
	posts atomic.Int64
	hold  atomic.Int64 // nanoseconds the next POST waits before it is sent

	mu    sync.Mutex
	conns []*ctlConn
}

type ctlConn struct {
	net.Conn
	black atomic.Bool
	mu    sync.Mutex
	seen  bytes.Buffer // what arrived while black
}

func (c *ctlConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !c.black.Load() {
			return n, err
		}
		c.mu.Lock()
		c.seen.Write(p[:n])
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

func newNetCtl(t *testing.T) *netCtl {
	n := &netCtl{}
	var d net.Dialer
	n.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if n.down.Load() {
				return nil, errors.New("netCtl: network down")
			}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc := &ctlConn{Conn: c}
			n.mu.Lock()
			n.conns = append(n.conns, cc)
			n.mu.Unlock()
			return cc, nil
		},
	}
	n.hc = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost {
			n.posts.Add(1)
			if d := time.Duration(n.hold.Swap(0)); d > 0 {
				time.Sleep(d)
			}
		}
		return n.tr.RoundTrip(r)
	})}
	t.Cleanup(n.tr.CloseIdleConnections)
	return n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// blackhole makes every open connection swallow what it receives.
func (n *netCtl) blackhole() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.black.Store(true)
	}
}

// swallowed reports whether a black-holed connection received s.
func (n *netCtl) swallowed(s string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.mu.Lock()
		ok := bytes.Contains(c.seen.Bytes(), []byte(s))
		c.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// cut closes every open connection.
func (n *netCtl) cut() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.Conn.Close()
	}
	n.conns = nil
}

// states records a client's state changes.
type states struct {
	mu    sync.Mutex
	kinds []string
	errs  []error // of disconnects
}

func watchStates(c *client.Client) *states {
	s := &states{}
	c.OnState(func(st client.State) {
		s.mu.Lock()
		s.kinds = append(s.kinds, st.Kind)
		if st.Kind == "disconnect" {
			s.errs = append(s.errs, st.Err)
		}
		s.mu.Unlock()
	})
	return s
}

func (s *states) has(kind string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// offsets collects the offsets of a client's "n" events.
func offsets(c *client.Client) chan uint64 {
	ch := make(chan uint64, 10000)
	c.On("n", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
		ch <- m.Offset
		return nil, nil
	})
	return ch
}

// expectOffsets requires the offsets from..to, in order, and nothing more
// for a moment.
func expectOffsets(t *testing.T, ch chan uint64, from, to uint64) {
	t.Helper()
	for want := from; want <= to; want++ {
		select {
		case got := <-ch:
			require.Equal(t, want, got)
		case <-time.After(wait):
			t.Fatalf("offset %d never arrived", want)
		}
	}
	select {
	case got := <-ch:
		t.Fatalf("unexpected offset %d after %d", got, to)
	case <-time.After(20 * time.Millisecond):
	}
}

func publish(t *testing.T, s *server, room string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		require.NoError(t, s.e.To(room).Emit("n", i))
	}
}

// feed makes c join "feed" and keeps the room alive with a WebSocket
// watcher; offset 1 is published and received.
func feed(t *testing.T, s *server, c *client.Client) chan uint64 {
	t.Helper()
	ch := offsets(c)
	ctx := ctxT(t)
	_, err := c.Join(ctx, "feed")
	require.NoError(t, err)
	w := dial(t, s, "watcher", client.Options{})
	_, err = w.Join(ctx, "feed")
	require.NoError(t, err)
	publish(t, s, "feed", 1, 1)
	expectOffsets(t, ch, 1, 1)
	return ch
}

func TestThreeTransportsChatInOneRoom(t *testing.T) {
	s := serve(t, engine.Config{})
	ctx := ctxT(t)
	clients := map[string]*client.Client{
		"wsuser":   dial(t, s, "wsuser", client.Options{}),
		"sseuser":  dial(t, s, "sseuser", client.Options{Transport: client.SSE{}}),
		"pulluser": dial(t, s, "pulluser", client.Options{Transport: client.LongPoll{}}),
	}
	inboxes := map[string]*inbox{}
	for name, c := range clients {
		inboxes[name] = listen(c, "chat")
		_, err := c.Join(ctx, "lobby")
		require.NoError(t, err)
	}
	for from, c := range clients {
		ack, err := c.EmitWithAck(ctx, "chat", map[string]string{"room": "lobby", "text": "hi from " + from})
		require.NoError(t, err)
		require.JSONEq(t, `"ok"`, string(ack))
		for to, in := range inboxes {
			if to == from {
				continue
			}
			var m map[string]string
			require.NoError(t, json.Unmarshal(in.next(t), &m))
			require.Equal(t, map[string]string{"from": from, "text": "hi from " + from}, m, "%s → %s", from, to)
		}
	}
	for name, in := range inboxes {
		require.Empty(t, in.ch, name)
	}
}

// A request the server sends as the session opens reaches the client and
// gets an answer, over every transport.
func TestServerRequestAtConnect(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		answers := make(chan error, 1)
		s := serve(t, engine.Config{OnConnect: func(s *engine.Session) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_, err := s.EmitWithAck(ctx, "ask", nil)
				answers <- err
			}()
		}})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		c.On("ask", func(context.Context, json.RawMessage, client.Meta) (any, error) { return 42, nil })
		select {
		case err := <-answers:
			// Answered by the handler, or as unknown_event when the
			// request arrived before it was registered: never lost.
			if err != nil {
				require.ErrorIs(t, err, &engine.Error{Code: engine.CodeUnknownEvent})
			}
		case <-time.After(wait):
			t.Fatal("no answer")
		}
	})
}

// fakeTransport hands the Client one scripted connection.
type fakeTransport struct{ conn *fakeConn }

func (f fakeTransport) Dial(context.Context, string, http.Header) (client.Conn, error) {
	return f.conn, nil
}

type fakeConn struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

func (c *fakeConn) Read(ctx context.Context) ([]byte, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.closed:
		return nil, errors.New("closed")
	}
}

func (c *fakeConn) Write(ctx context.Context, msg []byte) error {
	c.out <- bytes.Clone(msg)
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// Frames that share the hello's message are routed, not dropped.
func TestFramesBatchedWithHelloAreRouted(t *testing.T) {
	conn := &fakeConn{in: make(chan []byte, 4), out: make(chan []byte, 4), closed: make(chan struct{})}
	conn.in <- []byte(`[{"t":"hello","v":1,"sid":"S","user":"u"},{"t":"emit","ev":"ask","id":7}]`)
	c, err := client.Dial(ctxT(t), "fake://", client.Options{Transport: fakeTransport{conn}, Logger: quiet, NoReconnect: true})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "S", c.SessionID())
	select {
	case m := <-conn.out:
		require.JSONEq(t, `{"t":"ack","id":7,"err":{"code":"unknown_event","msg":"no handler for \"ask\""}}`, string(m))
	case <-time.After(wait):
		t.Fatal("the request batched with the hello was not answered")
	}
}

// A dropped stream resumes on the same session with Last-Event-ID: frames
// written into the dead connection are replayed, none twice.
func TestSSEResumesTransparently(t *testing.T) {
	s := serve(t, engine.Config{})
	n := newNetCtl(t)
	c := dial(t, s, "alice", client.Options{Transport: client.SSE{Client: n.hc}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()

	// Events 2..20 are written into a connection that loses them.
	n.blackhole()
	publish(t, s, "feed", 2, 20)
	require.Eventually(t, func() bool { return n.swallowed(`"off":20`) }, wait, time.Millisecond)
	n.cut()
	expectOffsets(t, ch, 2, 20)

	// Cut while idle: events queue for the session until the stream is back.
	n.cut()
	publish(t, s, "feed", 21, 30)
	expectOffsets(t, ch, 21, 30)

	require.Equal(t, sid, c.SessionID(), "the same session")
	require.False(t, st.has("disconnect"), "no disconnect: %v", st.kinds)
	ack, err := c.EmitWithAck(ctxT(t), "chat", map[string]string{"room": "feed", "text": "still here"})
	require.NoError(t, err)
	require.JSONEq(t, `"ok"`, string(ack))
}

// A stream silent for longer than IdleTimeout (no heartbeat) is resumed.
func TestSSEIdleStreamIsResumed(t *testing.T) {
	s := serve(t, engine.Config{}, sse.Config{Heartbeat: time.Hour})
	n := newNetCtl(t)
	c := dial(t, s, "alice", client.Options{Transport: client.SSE{Client: n.hc, IdleTimeout: 50 * time.Millisecond}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()
	n.blackhole() // the stream is half-open: nothing arrives, nothing fails
	publish(t, s, "feed", 2, 5)
	expectOffsets(t, ch, 2, 5)
	time.Sleep(200 * time.Millisecond) // several idle resumes
	publish(t, s, "feed", 6, 6)
	expectOffsets(t, ch, 6, 6)
	require.Equal(t, sid, c.SessionID())
	require.False(t, st.has("disconnect"), "no disconnect: %v", st.kinds)
}

// When the frames after the last event id are no longer buffered, the
// server sends a resync frame: the client opens a new session and
// recovers the room from history with since.
func TestSSEResyncReconnectsAndRecovers(t *testing.T) {
	s := serve(t, engine.Config{}, sse.Config{ReplayBytes: -1}) // only the latest frame is kept
	n := newNetCtl(t)
	c := dial(t, s, "alice", client.Options{Transport: client.SSE{Client: n.hc}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()

	n.blackhole()
	publish(t, s, "feed", 2, 20)
	require.Eventually(t, func() bool { return n.swallowed(`"off":20`) }, wait, time.Millisecond)
	n.cut()
	expectOffsets(t, ch, 2, 20)
	require.NotEqual(t, sid, c.SessionID(), "a new session")
	require.True(t, st.has("reconnect"))
	require.False(t, st.has("resync"), "history covered the gap")
	st.mu.Lock()
	var ce *client.CloseError
	require.ErrorAs(t, st.errs[0], &ce)
	require.Equal(t, engine.CloseSlowConsumer, ce.Code)
	require.Contains(t, ce.Reason, "not recovered")
	st.mu.Unlock()
	publish(t, s, "feed", 21, 21)
	expectOffsets(t, ch, 21, 21)
}

// A client away for longer than the grace period cannot resume its
// session: it recovers through a new one.
func TestSSEBackAfterGraceRecovers(t *testing.T) {
	s := serve(t, engine.Config{}, sse.Config{Grace: 50 * time.Millisecond})
	n := newNetCtl(t)
	c := dial(t, s, "alice", client.Options{Transport: client.SSE{Client: n.hc, ResumeTimeout: 5 * time.Second}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()
	n.down.Store(true)
	n.cut()
	require.Eventually(t, func() bool { return s.e.Session(sid) == nil }, wait, time.Millisecond)
	publish(t, s, "feed", 2, 10)
	n.down.Store(false)
	expectOffsets(t, ch, 2, 10)
	require.NotEqual(t, sid, c.SessionID())
	st.mu.Lock()
	defer st.mu.Unlock()
	// The resumed stream got the close frame of the expired session, or,
	// once the server forgot it, a 404.
	var ce *client.CloseError
	if errors.As(st.errs[0], &ce) {
		require.Equal(t, sse.ReasonGone.Code, ce.Code)
	} else {
		require.ErrorIs(t, st.errs[0], &engine.Error{Code: sse.CodeUnknownSession})
	}
}

// A poll that fails is repeated with the same cursor: same session, no
// loss, no duplicate.
func TestLongPollResumes(t *testing.T) {
	s := serve(t, engine.Config{})
	n := newNetCtl(t)
	c := dial(t, s, "alice", client.Options{Transport: client.LongPoll{Client: n.hc}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()

	n.blackhole()
	publish(t, s, "feed", 2, 20)
	// The poll answer carrying offset 2 (and maybe more) is lost.
	require.Eventually(t, func() bool { return n.swallowed(`"off":2,`) }, wait, time.Millisecond)
	n.cut()
	expectOffsets(t, ch, 2, 20)
	require.Equal(t, sid, c.SessionID())
	require.False(t, st.has("disconnect"), "no disconnect: %v", st.kinds)
}

// Polls the client gives up on (RequestTimeout below the server's poll
// timeout) are repeated on the same session.
func TestLongPollShortRequestTimeout(t *testing.T) {
	s := serve(t, engine.Config{})
	c := dial(t, s, "alice", client.Options{Transport: client.LongPoll{RequestTimeout: 30 * time.Millisecond}})
	st := watchStates(c)
	ch := feed(t, s, c)
	sid := c.SessionID()
	time.Sleep(150 * time.Millisecond)
	publish(t, s, "feed", 2, 3)
	expectOffsets(t, ch, 2, 3)
	require.Equal(t, sid, c.SessionID())
	require.False(t, st.has("disconnect"), "no disconnect: %v", st.kinds)
}

// Writes made while a POST is in flight go together in the next POST.
func TestConcurrentWritesShareAPost(t *testing.T) {
	for _, x := range []struct {
		name string
		tr   func(*http.Client) client.Transport
	}{
		{"sse", func(hc *http.Client) client.Transport { return client.SSE{Client: hc} }},
		{"longpoll", func(hc *http.Client) client.Transport { return client.LongPoll{Client: hc} }},
	} {
		t.Run(x.name, func(t *testing.T) {
			s := serve(t, engine.Config{})
			n := newNetCtl(t)
			c := dial(t, s, "alice", client.Options{Transport: x.tr(n.hc)})
			ctx := ctxT(t)
			_, err := c.Join(ctx, "lobby")
			require.NoError(t, err)
			before := n.posts.Load()
			n.hold.Store(int64(100 * time.Millisecond))
			const writers = 50
			errs := make(chan error, writers)
			for i := range writers {
				go func() {
					ack, err := c.EmitWithAck(ctx, "chat", map[string]string{"room": "lobby", "text": fmt.Sprint(i)})
					if err == nil && string(ack) != `"ok"` {
						err = fmt.Errorf("ack %s", ack)
					}
					errs <- err
				}()
			}
			for range writers {
				require.NoError(t, <-errs)
			}
			posts := n.posts.Load() - before
			require.Less(t, posts, int64(10), "%d writes took %d POSTs", writers, posts)
		})
	}
}

// Requests of a session that ended get the server's refusal as an
// *engine.Error: 410 while the ended session is remembered, 404 after.
func TestEndedSessionRefusals(t *testing.T) {
	for _, x := range []struct {
		name string
		tr   client.Transport
	}{{"sse", client.SSE{}}, {"longpoll", client.LongPoll{}}} {
		t.Run(x.name, func(t *testing.T) {
			s := serve(t, engine.Config{}, sse.Config{Grace: 100 * time.Millisecond})
			ctx := ctxT(t)
			conn, err := x.tr.Dial(ctx, s.sseURL, http.Header{"Authorization": {"Bearer alice"}})
			require.NoError(t, err)
			defer conn.Close()
			msg, err := conn.Read(ctx)
			require.NoError(t, err)
			var hello engine.Frame
			require.NoError(t, engine.SplitBatch(msg, func(raw []byte) {
				if hello.Type == "" {
					require.NoError(t, json.Unmarshal(raw, &hello))
				}
			}))
			require.Equal(t, engine.TypeHello, hello.Type)

			s.e.Session(hello.Session).Close(engine.CloseReason{Code: 4000, Text: "bye"})
			_, err = conn.Read(ctx)
			var ce *client.CloseError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, client.CloseError{Code: 4000, Reason: "bye"}, *ce)

			err = conn.Write(ctx, []byte(`{"t":"emit","ev":"chat"}`))
			require.ErrorIs(t, err, &engine.Error{Code: sse.CodeSessionClosed})
			require.Eventually(t, func() bool {
				err = conn.Write(ctx, []byte(`{"t":"emit","ev":"chat"}`))
				return errors.Is(err, &engine.Error{Code: sse.CodeUnknownSession})
			}, wait, 10*time.Millisecond, "last error %v", err)
		})
	}
}

// Close ends the session at once (DELETE), without a grace period.
func TestCloseDeletesSession(t *testing.T) {
	for _, x := range []struct {
		name string
		tr   client.Transport
	}{{"sse", client.SSE{}}, {"longpoll", client.LongPoll{}}} {
		t.Run(x.name, func(t *testing.T) {
			var mu sync.Mutex
			var reasons []engine.CloseReason
			s := serve(t, engine.Config{OnDisconnect: func(_ *engine.Session, r engine.CloseReason) {
				mu.Lock()
				reasons = append(reasons, r)
				mu.Unlock()
			}})
			c := dial(t, s, "alice", client.Options{Transport: x.tr})
			sid := c.SessionID()
			require.NotNil(t, s.e.Session(sid))
			require.NoError(t, c.Close())
			require.Nil(t, s.e.Session(sid), "closed before Close returned")
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []engine.CloseReason{engine.ReasonNormal}, reasons)
		})
	}
}
