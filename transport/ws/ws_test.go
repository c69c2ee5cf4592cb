package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// chat registers a "chat" handler that relays the payload to the sender's
// room, except the sender, and acks "ok".
func chat(e *engine.Engine, room string) {
	e.On("chat", func(_ context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return "ok", e.To(room).Except(s).Emit("chat", data)
	})
}

func TestChatThroughRoom(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	chat(v.e, "lobby")
	a, b := v.dial(t, nil), v.dial(t, nil)
	require.NotEqual(t, a.hello.Session, b.hello.Session)
	a.join("lobby")
	b.join("lobby")

	ack := a.request(engine.Frame{Type: engine.TypeEmit, Event: "chat", Data: raw(`{"text":"hi from a"}`)})
	require.Nil(t, ack.Err)
	require.JSONEq(t, `"ok"`, string(ack.Data))

	// b receives a's message although b sent no request.
	f := b.next()
	require.Equal(t, engine.TypeEmit, f.Type)
	require.Equal(t, "chat", f.Event)
	require.Equal(t, "lobby", f.Room)
	require.Equal(t, uint64(1), f.Offset)
	require.JSONEq(t, `{"text":"hi from a"}`, string(f.Data))

	// b answers; a's next frame is b's message (offset 2), so a did not
	// get its own (offset 1).
	ack = b.request(engine.Frame{Type: engine.TypeEmit, Event: "chat", Data: raw(`{"text":"hi from b"}`)})
	require.Nil(t, ack.Err)
	f = a.next()
	require.Equal(t, "chat", f.Event)
	require.Equal(t, uint64(2), f.Offset)
	require.JSONEq(t, `{"text":"hi from b"}`, string(f.Data))
}

func TestAckRoundTrip(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	v.e.On("echo", func(_ context.Context, _ *engine.Session, data json.RawMessage) (any, error) {
		return data, nil
	})
	c := v.dial(t, nil)

	ack := c.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw(`{"n":42,"s":"é"}`)})
	require.Nil(t, ack.Err)
	require.JSONEq(t, `{"n":42,"s":"é"}`, string(ack.Data))

	ack = c.request(engine.Frame{Type: engine.TypeEmit, Event: "nope"})
	require.NotNil(t, ack.Err)
	require.Equal(t, engine.CodeUnknownEvent, ack.Err.Code)

	// A client may batch frames too: two requests in one message, two acks.
	c.sendRaw([]byte(`[{"t":"emit","ev":"echo","id":100,"d":1},{"t":"emit","ev":"echo","id":101,"d":2}]`))
	for _, want := range []struct {
		id   uint64
		data string
	}{{100, "1"}, {101, "2"}} {
		f := c.next()
		require.Equal(t, engine.TypeAck, f.Type)
		require.Equal(t, want.id, f.ID)
		require.JSONEq(t, want.data, string(f.Data))
	}
}

func TestServerEmitWithAck(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	waited := make(chan error, 2)
	// "ask" makes the server ask the client a question and ack the
	// client's answer; {"ms": n} bounds the wait.
	v.e.On("ask", func(ctx context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		var in struct{ MS int }
		if err := json.Unmarshal(data, &in); err != nil {
			return nil, engine.NewError(engine.CodeBadPayload, "%v", err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Duration(in.MS)*time.Millisecond)
		defer cancel()
		answer, err := s.EmitWithAck(ctx, "question", map[string]string{"q": "6×7?"})
		waited <- err
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, engine.NewError("timeout", "no answer in time")
		}
		return answer, err
	})
	c := v.dial(t, nil)

	t.Run("answered", func(t *testing.T) {
		c.t = t
		c.send(engine.Frame{Type: engine.TypeEmit, Event: "ask", ID: 1, Data: raw(fmt.Sprintf(`{"ms":%d}`, wait.Milliseconds()))})
		q := c.next()
		require.Equal(t, engine.TypeEmit, q.Type)
		require.Equal(t, "question", q.Event)
		require.NotZero(t, q.ID, "the server wants an ack")
		require.JSONEq(t, `{"q":"6×7?"}`, string(q.Data))
		c.send(engine.Frame{Type: engine.TypeAck, ID: q.ID, Data: raw(`42`)})

		a := c.next()
		require.Equal(t, engine.TypeAck, a.Type)
		require.Equal(t, uint64(1), a.ID)
		require.Nil(t, a.Err)
		require.JSONEq(t, `42`, string(a.Data))
		require.NoError(t, <-waited)
	})

	t.Run("timeout", func(t *testing.T) {
		c.t = t
		c.send(engine.Frame{Type: engine.TypeEmit, Event: "ask", ID: 2, Data: raw(`{"ms":50}`)})
		q := c.next()
		require.Equal(t, "question", q.Event)
		// No answer: the server's ctx ends.
		a := c.next()
		require.Equal(t, engine.TypeAck, a.Type)
		require.Equal(t, uint64(2), a.ID)
		require.NotNil(t, a.Err)
		require.Equal(t, "timeout", a.Err.Code)
		require.ErrorIs(t, <-waited, context.DeadlineExceeded)

		// A late answer is bad input: an error frame, and the
		// connection stays open.
		c.send(engine.Frame{Type: engine.TypeAck, ID: q.ID, Data: raw(`42`)})
		f := c.next()
		require.Equal(t, engine.TypeError, f.Type)
		require.Equal(t, engine.CodeUnknownAck, f.Err.Code)
	})
}

func TestOrigin(t *testing.T) {
	evil := "https://evil.example"
	for _, tc := range []struct {
		name   string
		cfg    ws.Config
		origin string // "self" means the server's own origin
		ok     bool
	}{
		{"no Origin (non-browser client)", ws.Config{}, "", true},
		{"same origin", ws.Config{}, "self", true},
		{"cross origin refused by default", ws.Config{}, evil, false},
		{"opaque origin refused", ws.Config{}, "null", false},
		{"allowlisted origin", ws.Config{AllowedOrigins: []string{"https://app.example/"}}, "https://APP.example", true},
		{"allowlist compares scheme", ws.Config{AllowedOrigins: []string{"https://app.example"}}, "http://app.example", false},
		{"allowlisted host", ws.Config{AllowedOrigins: []string{"partner.example:8443"}}, "https://partner.example:8443", true},
		{"allowlist keeps same origin", ws.Config{AllowedOrigins: []string{"https://app.example"}}, "self", true},
		{"allowlist refuses others", ws.Config{AllowedOrigins: []string{"https://app.example"}}, evil, false},
		{"star is not a wildcard", ws.Config{AllowedOrigins: []string{"*"}}, evil, false},
		{"allow all", ws.Config{AllowAllOrigins: true}, evil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &hubtest.LogRecorder{}
			tc.cfg.Logger = slog.New(rec)
			v := start(t, engine.Config{Logger: slog.New(rec)}, tc.cfg)
			hdr := http.Header{}
			switch tc.origin {
			case "":
			case "self":
				hdr.Set("Origin", v.srv.URL)
			default:
				hdr.Set("Origin", tc.origin)
			}
			if tc.ok {
				v.dial(t, hdr)
				require.Equal(t, 0, rec.Count("refused"))
				return
			}
			status, body := v.refused(t, v.url, hdr)
			require.Equal(t, http.StatusForbidden, status)
			require.Equal(t, "forbidden", body["error"])
			require.True(t, strings.HasPrefix(body["reason"], "origin "+tc.origin+" not allowed: "), body["reason"])
			require.Equal(t, 1, rec.Count("refused"), "a refusal is logged once")
			require.Zero(t, v.e.Stats().Sessions)
		})
	}
}

func TestAuthRefused(t *testing.T) {
	rec := &hubtest.LogRecorder{}
	v := start(t, engine.Config{
		Logger: slog.New(rec),
		Authenticate: func(r *http.Request) (engine.Identity, error) {
			switch r.URL.Query().Get("token") {
			case "good":
				return engine.Identity{UserID: "alice"}, nil
			case "banned":
				return engine.Identity{}, engine.NewError(engine.CodeForbidden, "account suspended")
			}
			return engine.Identity{}, errors.New("missing or bad token")
		},
	}, ws.Config{Logger: slog.New(rec)})

	status, body := v.refused(t, v.url, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, map[string]string{"error": "unauthorized", "reason": "missing or bad token"}, body)
	require.Equal(t, 1, rec.Count("refused"), "a refusal is logged once")

	status, body = v.refused(t, v.url+"?token=banned", nil)
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, map[string]string{"error": "forbidden", "reason": "account suspended"}, body)
	require.Equal(t, 2, rec.Count("refused"))

	c := dialWith(t, websocket.DefaultDialer, v.url+"?token=good", nil)
	require.Equal(t, "alice", c.hello.User)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, v.e.Shutdown(ctx))
	status, body = v.refused(t, v.url+"?token=good", nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "unavailable", body["error"])
	require.Equal(t, 3, rec.Count("refused"))
}

func TestNonUpgradeRequests(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	httpURL := v.srv.URL + "/ws"
	decode := func(t *testing.T, resp *http.Response) map[string]string {
		t.Helper()
		defer resp.Body.Close()
		require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		var body map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body
	}

	resp, err := http.Get(httpURL)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, map[string]string{"error": "bad_request", "reason": "expected a WebSocket upgrade request"}, decode(t, resp))

	resp, err = http.Post(httpURL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, http.MethodGet, resp.Header.Get("Allow"))
	require.Equal(t, "method_not_allowed", decode(t, resp)["error"])

	// An upgrade request that gorilla refuses (no Sec-WebSocket-Key) gets
	// the same JSON shape.
	req, err := http.NewRequest(http.MethodGet, httpURL, nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	body := decode(t, resp)
	require.Equal(t, "bad_request", body["error"])
	require.Contains(t, body["reason"], "Sec-WebSocket-Key")
	// The session opened for the request ends once the upgrader returns,
	// which may be just after the client read the refusal.
	require.Eventually(t, func() bool { return v.e.Stats().Sessions == 0 }, wait, time.Millisecond)
}

func TestOversizedMessage(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{MaxMessageBytes: 16 << 10})
	b := v.dial(t, nil)
	b.join("room")
	emitted := 0
	expectNext := func() {
		t.Helper()
		emitted++
		require.NoError(t, v.e.To("room").Emit("tick", emitted))
		f := b.next()
		require.Equal(t, "tick", f.Event)
		require.Equal(t, uint64(emitted), f.Offset)
	}
	expectNext()

	t.Run("above the limit: 1009 with a reason", func(t *testing.T) {
		a := v.dial(t, nil)
		a.join("room")
		big := `{"t":"emit","ev":"x","d":"` + strings.Repeat("a", 20<<10) + `"}`
		a.sendRaw([]byte(big))
		ce := a.readClose()
		require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
		require.Equal(t, fmt.Sprintf("message of %d bytes exceeds the %d-byte limit", len(big), 16<<10), ce.Text)
		require.Equal(t, engine.CloseTooBig, d.Await(t, a.hello.Session).Code)
		expectNext() // b still receives
	})

	t.Run("above the hard limit: the connection is dropped", func(t *testing.T) {
		a := v.dial(t, nil)
		a.join("room")
		huge := `{"t":"emit","ev":"x","d":"` + strings.Repeat("a", 64<<10) + `"}`
		_ = a.c.WriteMessage(websocket.TextMessage, []byte(huge)) // the server may reset mid-write
		// gorilla sends 1009 without a reason and drops the connection;
		// the client may see only a reset. The engine gets the reason.
		for {
			_, _, err := readFrames(a.c)
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
				}
				break
			}
		}
		r := d.Await(t, a.hello.Session)
		require.Equal(t, engine.CloseTooBig, r.Code)
		require.Contains(t, r.Text, "hard limit")
		expectNext()
	})

	require.Eventually(t, func() bool { return v.e.Stats().Sessions == 1 }, wait, time.Millisecond)
}

func TestMalformedInput(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	v.e.On("echo", func(_ context.Context, _ *engine.Session, data json.RawMessage) (any, error) { return data, nil })
	c := v.dial(t, nil)
	for _, msg := range []string{`{not json`, `[{"t":"emit"`, `"just a string"`} {
		c.sendRaw([]byte(msg))
		f := c.next()
		require.Equal(t, engine.TypeError, f.Type, msg)
		require.Equal(t, engine.CodeMalformed, f.Err.Code, msg)
	}
	// The connection is still open and working.
	ack := c.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw(`"still here"`)})
	require.JSONEq(t, `"still here"`, string(ack.Data))
	require.Equal(t, 1, v.e.Stats().Sessions)
}

func TestBinaryMessageCloses1003(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{})
	c := v.dial(t, nil)
	require.NoError(t, c.c.WriteMessage(websocket.BinaryMessage, []byte(`{"t":"emit","ev":"x"}`)))
	ce := c.readClose()
	require.Equal(t, int(engine.CloseUnsupported), ce.Code)
	require.Contains(t, ce.Text, "binary messages are not supported")
	require.Equal(t, engine.CloseUnsupported, d.Await(t, c.hello.Session).Code)
}

func TestSlowConsumerClosed4008(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{
		QueueBytes:   16 << 10,
		WriteTimeout: time.Minute, // the blocked write must outlast the test's publishing
	})
	slowDialer := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	slow := dialWith(t, slowDialer, v.url, nil)
	fast := v.dial(t, nil)
	slow.join("feed")
	fast.join("feed")

	// The fast client reads everything, checking offsets as it goes.
	var (
		got      atomic.Int64
		notify   = make(chan struct{}, 1)
		readErr  = make(chan error, 1)
		stopRead = make(chan struct{})
	)
	go func() {
		var last uint64
		for {
			frames, _, err := readFrames(fast.c)
			if err != nil {
				select {
				case <-stopRead:
					readErr <- nil
				default:
					readErr <- err
				}
				return
			}
			for _, f := range frames {
				if f.Type != engine.TypeEmit || f.Event != "tick" || f.Offset != last+1 {
					readErr <- fmt.Errorf("fast client: got %+v after offset %d", f, last)
					return
				}
				last = f.Offset
				got.Add(1)
			}
			select {
			case notify <- struct{}{}:
			default:
			}
		}
	}()

	// Publish in bursts smaller than the queue bound and let the fast
	// client catch up after each, until the slow client, which never
	// reads, overflows.
	payload := strings.Repeat("x", 4<<10)
	published := int64(0)
	for {
		if _, closed := d.Get(slow.hello.Session); closed {
			break
		}
		require.Less(t, published, int64(1<<20), "the slow client was never closed")
		for range 3 {
			require.NoError(t, v.e.To("feed").Emit("tick", payload))
			published++
		}
		timeout := time.After(wait)
		for got.Load() < published {
			select {
			case <-notify:
			case err := <-readErr:
				require.NoError(t, err)
			case <-timeout:
				require.FailNow(t, "fast client stalled", "got %d of %d", got.Load(), published)
			}
		}
	}
	require.Equal(t, published, got.Load(), "the fast client received every message")
	require.Equal(t, engine.ReasonSlow, d.Await(t, slow.hello.Session))
	st := v.e.Stats()
	require.Equal(t, uint64(1), st.SlowDisconnects)
	require.Equal(t, 1, st.Sessions)

	// The slow client now reads: what was written before the overflow, in
	// order, then the 4008 close frame.
	ce := slow.readClose()
	require.Equal(t, int(engine.CloseSlowConsumer), ce.Code)
	require.Equal(t, engine.ReasonSlow.Text, ce.Text)
	var last uint64
	for _, f := range slow.ahead {
		require.Equal(t, last+1, f.Offset)
		last = f.Offset
	}
	require.Less(t, int64(last), published)
	t.Logf("published %d; the slow client got %d in %d messages before 4008", published, last, slow.messages)

	close(stopRead)
	fast.c.Close()
	require.NoError(t, <-readErr)
}

func TestShutdownSendsGoingAway(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	a, b := v.dial(t, nil), v.dial(t, nil)
	b.join("room")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, v.e.Shutdown(ctx))
	for _, c := range []*client{a, b} {
		ce := c.readClose()
		require.Equal(t, websocket.CloseGoingAway, ce.Code)
		require.Equal(t, "server shutting down", ce.Text)
	}
	require.NoError(t, v.h.Close())
	require.Zero(t, v.e.Stats().Sessions)
}

func TestHandlerCloseWithoutShutdown(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{})
	c := v.dial(t, nil)
	require.NoError(t, v.h.Close())
	ce := c.readClose()
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	require.Equal(t, engine.ReasonGoingAway, d.Await(t, c.hello.Session))
	require.Zero(t, v.e.Stats().Sessions)

	status, body := v.refused(t, v.url, nil)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "unavailable", body["error"])
	require.NoError(t, v.h.Close(), "Close is idempotent")
}

func TestPeerCloseReachesOnDisconnect(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, ws.Config{})

	c := v.dial(t, nil)
	require.NoError(t, c.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "tab closed")))
	require.Equal(t, engine.CloseReason{Code: websocket.CloseGoingAway, Text: "tab closed"}, d.Await(t, c.hello.Session))

	c = v.dial(t, nil)
	require.NoError(t, c.c.Close()) // no close frame
	require.Equal(t, engine.CloseAbnormal, d.Await(t, c.hello.Session).Code)
}

func TestConnectDisconnectCycles(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	ignore := goleak.IgnoreCurrent()
	before := runtime.NumGoroutine()

	const workers, cycles = 4, 250
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range cycles {
				if err := cycle(v.url, (w+i)%2 == 0); err != nil {
					errs <- fmt.Errorf("worker %d cycle %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.Eventually(t, func() bool { return v.e.Stats().Sessions == 0 }, wait, time.Millisecond)
	// Polled here: require.Eventually runs its condition in a goroutine.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(wait); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(time.Millisecond)
	}
	require.LessOrEqual(t, after, before, "goroutines left behind")
	goleak.VerifyNone(t, ignore)
}

// cycle connects, reads the hello frame and disconnects, cleanly (close
// frame) or abruptly (TCP close).
func cycle(url string, clean bool) error {
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	defer c.Close()
	frames, _, err := readFrames(c)
	if err != nil {
		return err
	}
	if len(frames) != 1 || frames[0].Type != engine.TypeHello {
		return fmt.Errorf("first message %+v is not a hello", frames)
	}
	if !clean {
		return nil
	}
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")); err != nil {
		return err
	}
	for { // until the server's answer or EOF
		if _, _, err := c.ReadMessage(); err != nil {
			return nil
		}
	}
}

func TestWriteCoalescing(t *testing.T) {
	g := &gate{}
	v := start(t, engine.Config{}, ws.Config{}, g.wrap)
	c := v.dial(t, nil)

	// The client's window is "full": the first event's write blocks, the
	// rest queue up behind it.
	g.close()
	const n = 200
	for i := range n {
		require.NoError(t, v.e.ToAll().Emit("n", i))
	}
	g.open()

	for i := range n {
		f := c.next()
		require.Equal(t, "n", f.Event)
		require.JSONEq(t, fmt.Sprint(i), string(f.Data))
	}
	require.Empty(t, c.ahead)
	require.Positive(t, c.arrays, "some messages carried several frames")
	require.Less(t, c.messages, n+1, "fewer messages than frames")
	t.Logf("%d frames in %d messages (%d batches)", n+1, c.messages, c.arrays)
}

// TestConcurrentSends hammers one connection from many goroutines while
// messages are written: a frame stranded between Send and the write
// callback would never arrive.
func TestConcurrentSends(t *testing.T) {
	v := start(t, engine.Config{}, ws.Config{})
	c := v.dial(t, nil)
	const senders, each = 8, 500
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := v.e.ToAll().Emit("n", [2]int{g, i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		f := c.next()
		var gi [2]int
		require.NoError(t, json.Unmarshal(f.Data, &gi))
		require.Equal(t, next[gi[0]], gi[1], "sender %d's events arrive in order", gi[0])
		next[gi[0]]++
	}
	wg.Wait()
	require.Empty(t, c.ahead)
	t.Logf("%d frames in %d messages (%d batches)", senders*each+1, c.messages, c.arrays)
}

// A request that passes the checks but whose WebSocket handshake fails (here
// it lacks Sec-WebSocket-Version and -Key) gets a JSON refusal, and the
// engine session opened for it ends at once: OnConnect and OnDisconnect stay
// paired and nothing lingers.
func TestFailedHandshakeEndsTheSession(t *testing.T) {
	var mu sync.Mutex
	var opened []string
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{
		OnConnect: func(s *engine.Session) {
			mu.Lock()
			opened = append(opened, s.ID())
			mu.Unlock()
		},
		OnDisconnect: d.Hook,
	}, ws.Config{})

	req, err := http.NewRequest(http.MethodGet, v.srv.URL+"/ws", nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "bad_request", body["error"])
	require.NotEmpty(t, body["reason"])

	mu.Lock()
	require.Len(t, opened, 1)
	sid := opened[0]
	mu.Unlock()
	r := d.Await(t, sid)
	require.Equal(t, engine.CloseAbnormal, r.Code)
	require.Equal(t, "WebSocket handshake failed", r.Text)
	require.Zero(t, v.e.Stats().Sessions)
}

// A panicking OnConnect refuses that connection with a JSON 500 and leaves
// nothing behind: no session, and Handler.Close still returns.
func TestPanickingOnConnectIsRefused(t *testing.T) {
	v := start(t, engine.Config{OnConnect: func(*engine.Session) { panic("boom") }}, ws.Config{})
	status, body := v.refused(t, v.url, nil)
	require.Equal(t, http.StatusInternalServerError, status)
	require.Equal(t, engine.CodeInternal, body["error"])
	require.Zero(t, v.e.Stats().Sessions)
	require.EqualValues(t, 1, v.e.Stats().HandlerPanics)

	v.closeHandler(t)
}
