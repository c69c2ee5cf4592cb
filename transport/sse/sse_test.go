package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/hubtest"
	"github.com/hubbubhq/hubbub/transport/sse"
)

func everyRoom(string) bool { return true }

func TestStreamReceivesRoomEvents(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{})
	c := v.dial(t)
	hdr := c.resp.Header
	require.Equal(t, "text/event-stream", hdr.Get("Content-Type"))
	require.Contains(t, hdr.Get("Cache-Control"), "no-cache")
	require.Equal(t, "no", hdr.Get("X-Accel-Buffering"))
	require.Equal(t, sse.DefaultRetry.Milliseconds(), c.retry.Load(), "a retry hint opens the stream")

	// One stream carries every room of the session.
	c.join("lobby")
	c.join("kitchen")
	require.NoError(t, v.e.To("lobby").Emit("news", map[string]int{"n": 1}))
	require.NoError(t, v.e.To("kitchen").Emit("dish", "soup"))
	require.NoError(t, v.e.ToUser(c.hello.User).Emit("private", nil))

	f := c.next()
	require.Equal(t, engine.Frame{Type: engine.TypeEmit, Event: "news", Room: "lobby", Offset: 1, Data: raw(`{"n":1}`)}, f)
	f = c.next()
	require.Equal(t, engine.Frame{Type: engine.TypeEmit, Event: "dish", Room: "kitchen", Offset: 1, Data: raw(`"soup"`)}, f)
	f = c.next()
	require.Equal(t, engine.Frame{Type: engine.TypeEmit, Event: "private"}, f)

	// Event ids count the frames: hello 1, two acks, three events.
	require.Equal(t, c.token+".6", c.lastID)
}

func TestPostedFramesAreAnsweredDownTheStream(t *testing.T) {
	v := start(t, engine.Config{MaxFrameBytes: 1 << 10}, sse.Config{})
	v.e.On("echo", func(_ context.Context, _ *engine.Session, data json.RawMessage) (any, error) { return data, nil })
	c := v.dial(t)

	ack := c.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw(`{"n":42,"s":"é"}`)})
	require.Nil(t, ack.Err)
	require.JSONEq(t, `{"n":42,"s":"é"}`, string(ack.Data))

	// A batch: two requests in one POST, two acks in order.
	v.post(t, c.token, `  [{"t":"emit","ev":"echo","id":100,"d":1},{"t":"emit","ev":"echo","id":101,"d":2}]`)
	for _, want := range []struct {
		id   uint64
		data string
	}{{100, "1"}, {101, "2"}} {
		f := c.next()
		require.Equal(t, engine.TypeAck, f.Type)
		require.Equal(t, want.id, f.ID)
		require.JSONEq(t, want.data, string(f.Data))
	}

	// Valid JSON that breaks the protocol is accepted by HTTP; the error
	// comes down the stream, as over WebSocket.
	for _, tc := range []struct{ body, code string }{
		{`{"t":"nope"}`, engine.CodeUnknownType},
		{`"just a string"`, engine.CodeMalformed},
		{`{"t":"emit","ev":"nobody"}`, engine.CodeUnknownEvent},
		{`{"t":"emit","ev":"echo","d":"` + strings.Repeat("x", 2<<10) + `"}`, engine.CodeTooLarge},
	} {
		v.post(t, c.token, tc.body)
		f := c.next()
		require.Equal(t, engine.TypeError, f.Type, tc.body)
		require.Equal(t, tc.code, f.Err.Code, tc.body)
	}

	// A pretty-printed payload has raw line breaks: they travel as
	// several data lines and come back as the same JSON.
	ack = c.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw("{\n  \"multi\": \"line\"\r\n}")})
	require.JSONEq(t, `{"multi":"line"}`, string(ack.Data))
}

// A client cut off in the middle of 50 publishes resumes with
// Last-Event-ID and receives exactly the events it missed, in order, in the
// same session: no presence flapping.
func TestResumeWithLastEventID(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook, PresenceNotices: everyRoom}, sse.Config{})
	peer := v.dialWS(t)
	require.Nil(t, peer.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)
	c := v.dial(t)
	c.join("lobby")
	require.Equal(t, engine.TypePresence, peer.next().Type)

	var seen []uint64
	take := func(frames []engine.Frame) {
		for _, f := range frames {
			require.Equal(t, "tick", f.Event)
			seen = append(seen, f.Offset)
		}
	}
	for i := 1; i <= 25; i++ {
		require.NoError(t, v.e.To("lobby").Emit("tick", i))
	}
	// Read some events; frames written after them are lost with the
	// connection.
	lastID := c.lastID
	for len(seen) < 10 {
		ev := c.nextEvent()
		frames, _ := decodeFrames(t, ev.data)
		take(frames)
		lastID = ev.id
	}
	c.close()
	require.Eventually(t, func() bool { a, _ := sse.Attached(v.h, c.token); return !a }, wait, time.Millisecond,
		"the server noticed the stream is gone")
	for i := 26; i <= 50; i++ {
		require.NoError(t, v.e.To("lobby").Emit("tick", i))
	}

	r := v.resume(t, c.token, lastID)
	for len(seen) < 50 {
		take([]engine.Frame{r.next()})
	}
	want := make([]uint64, 50)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	require.Equal(t, want, seen, "exactly the 50 events, in order, none twice")

	// Nothing else was owed: the next frame is the next live event.
	require.NoError(t, v.e.To("lobby").Emit("marker", nil))
	require.Equal(t, "marker", r.next().Event)
	_, closed := d.Get(c.hello.Session)
	require.False(t, closed, "the same session went on")
	for {
		f := peer.next()
		require.NotEqual(t, engine.TypePresence, f.Type, "the peer saw no leave/join")
		if f.Event == "marker" {
			break
		}
	}
}

// The explicit form of a resume (session and cursor in the query) works
// like Last-Event-ID, which a reconnecting EventSource sends with the
// query it first had, and which wins.
func TestResumeWithQuery(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{})
	c := v.dial(t)
	c.join("room")
	c.close()
	require.NoError(t, v.e.To("room").Emit("a", 1))

	r := v.open(t, v.withQuery("session", c.token, "cursor", "1"), nil, false)
	r.token = c.token
	require.Equal(t, engine.TypeAck, r.next().Type, "the join ack after the hello is replayed")
	require.Equal(t, "a", r.next().Event)
	last := r.lastID
	r.close()

	// EventSource reconnects with the URL it had and the id it got last.
	r = v.open(t, v.withQuery("session", c.token, "cursor", "1"), http.Header{"Last-Event-Id": {last}}, false)
	r.token = c.token
	require.NoError(t, v.e.To("room").Emit("b", 2))
	require.Equal(t, "b", r.next().Event, "Last-Event-ID wins over the cursor parameter")
}

// Resuming from a frame that has left the replay buffer is reported: a
// resync frame, then the session's close frame (4008), and the session is
// closed so the client starts over and recovers its rooms from history.
func TestResumeBeyondReplayBuffer(t *testing.T) {
	d := &hubtest.Disconnects{}
	rec := &hubtest.LogRecorder{}
	v := start(t, engine.Config{OnDisconnect: d.Hook, PresenceNotices: everyRoom},
		sse.Config{ReplayBytes: 1 << 10, Logger: slog.New(rec)})
	peer := v.dialWS(t)
	require.Nil(t, peer.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)
	c := v.dial(t)
	c.join("lobby")
	require.Equal(t, engine.TypePresence, peer.next().Type)

	payload := strings.Repeat("x", 100)
	for range 50 {
		require.NoError(t, v.e.To("lobby").Emit("tick", payload))
	}
	for range 50 {
		require.Equal(t, "tick", c.next().Event) // numbered and written: 5 KiB through a 1 KiB buffer
	}

	r := v.resume(t, c.token, c.token+".1") // as if only the hello had arrived
	f := r.next()
	require.Equal(t, sse.TypeResync, f.Type)
	require.Equal(t, sse.CodeNotRecovered, f.Err.Code)
	require.Contains(t, f.Err.Message, "frames 2 and later")
	f = r.next()
	require.Equal(t, engine.TypeClose, f.Type)
	require.Equal(t, engine.CloseSlowConsumer, f.Close.Code)
	require.Contains(t, f.Close.Text, "not recovered")
	require.Empty(t, r.ended(), "the stream ends after the close frame")
	require.Equal(t, engine.CloseSlowConsumer, d.Await(t, c.hello.Session).Code)

	// The older stream was replaced, and the peer saw the user leave.
	rest := c.ended()
	require.Len(t, rest, 1)
	frames, _ := decodeFrames(t, rest[0].data)
	require.Equal(t, sse.TypeReplaced, frames[0].Type)
	for f := peer.next(); f.Type != engine.TypePresence; f = peer.next() {
	}
	require.Equal(t, 1, rec.Count("resume not recovered"))

	// The session is over: posts and resumes after its close get 410.
	resp, body := v.do(t, http.MethodPost, v.withQuery("session", c.token), nil, `{"t":"emit","ev":"x"}`)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	require.Equal(t, sse.CodeSessionClosed, refusal(t, resp, body)["error"])
	resp, body = v.do(t, http.MethodGet, v.url, http.Header{"Last-Event-Id": {r.lastID}}, "")
	require.Equal(t, http.StatusGone, resp.StatusCode)
	require.Contains(t, refusal(t, resp, body)["reason"], "4008")
}

// A session whose queue overflows while its client is away is closed as a
// slow consumer; the returning client gets the close frame.
func TestOverflowWhileAway(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, sse.Config{QueueBytes: 4 << 10})
	c := v.dial(t)
	c.join("feed")
	c.close()
	require.Eventually(t, func() bool { a, _ := sse.Attached(v.h, c.token); return !a }, wait, time.Millisecond)
	payload := strings.Repeat("x", 512)
	for i := 0; ; i++ {
		require.Less(t, i, 1000, "the session was never closed")
		if _, closed := d.Get(c.hello.Session); closed {
			break
		}
		require.NoError(t, v.e.To("feed").Emit("tick", payload))
	}
	require.Equal(t, engine.ReasonSlow, d.Await(t, c.hello.Session))

	r := v.resume(t, c.token, c.lastID)
	f := r.next()
	require.Equal(t, engine.TypeClose, f.Type, "the queued frames were dropped; the close frame says why")
	require.Equal(t, engine.ReasonSlow, *f.Close)
	require.Empty(t, r.ended())
}

func TestLongPollDelivers10000InOrder(t *testing.T) {
	v := start(t, engine.Config{HistorySize: -1}, sse.Config{})
	p := v.openPoll(t)
	require.Nil(t, p.request(engine.Frame{Type: engine.TypeJoin, Room: "feed"}).Err)

	const total, burst = 10000, 500
	got := 0
	for sent := 0; sent < total; {
		for range burst {
			sent++
			require.NoError(t, v.e.To("feed").Emit("n", sent))
		}
		for got < sent {
			for _, f := range p.poll() {
				require.Equal(t, "n", f.Event)
				require.Equal(t, uint64(got+1), f.Offset, "in order, none lost or repeated")
				require.JSONEq(t, strconv.Itoa(got+1), string(f.Data))
				got++
			}
		}
	}
	require.Equal(t, total, got)
	require.GreaterOrEqual(t, p.polls, total/burst)
	t.Logf("%d events in %d polls", total, p.polls)

	// A lost answer is not lost: polling again from the same cursor gets
	// the same frames.
	before := p.cursor
	for i := range 3 {
		require.NoError(t, v.e.To("feed").Emit("again", i))
	}
	status, first, _ := p.pollAt(before)
	require.Equal(t, http.StatusOK, status)
	status, second, _ := p.pollAt(before)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, first, second)
	require.Len(t, second.Frames, 3)
	require.Equal(t, before+3, second.Cursor)
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{PollTimeout: 50 * time.Millisecond})
	p := v.openPoll(t)
	status, a, body := p.pollAt(p.cursor)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"cursor":1,"frames":[]}`, string(body))
	require.Equal(t, uint64(1), a.Cursor)
}

func TestHeartbeats(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{PingInterval: 20 * time.Millisecond, Retry: 1500 * time.Millisecond})
	c := v.dial(t)
	require.Eventually(t, func() bool { return c.comments.Load() >= 3 }, wait, time.Millisecond)
	require.Equal(t, int64(1500), c.retry.Load())
}

// A client that vanishes is removed from its rooms and presence after the
// grace period; its token then stops working.
func TestGracePeriodRemovesVanishedClient(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook, PresenceNotices: everyRoom}, sse.Config{Grace: 100 * time.Millisecond})
	peer := v.dialWS(t)
	require.Nil(t, peer.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)
	c := v.dial(t)
	c.join("lobby")
	require.Equal(t, engine.TypePresence, peer.next().Type)
	c.close()

	require.Equal(t, sse.ReasonGone, d.Await(t, c.hello.Session))
	f := peer.next()
	require.Equal(t, engine.Frame{Type: engine.TypePresence, Event: "leave", Room: "lobby", User: c.hello.User}, f)
	pres, err := v.e.Presence(context.Background(), "lobby")
	require.NoError(t, err)
	require.Len(t, pres, 1)
	require.Equal(t, peer.hello.User, pres[0].UserID)

	require.Eventually(t, func() bool { return sse.Registered(v.h) == 0 }, wait, time.Millisecond,
		"the closed session is forgotten after another grace period")
	resp, body := v.do(t, http.MethodPost, v.withQuery("session", c.token), nil, `{"t":"emit","ev":"x"}`)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, sse.CodeUnknownSession, refusal(t, resp, body)["error"])
}

// A client that returns after its session expired learns why: the close
// frame, then 410 for its token, then, once forgotten, 404. The grace
// timer is fired by hand so that nothing depends on timing.
func TestReturnAfterExpiry(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, sse.Config{})
	c := v.dial(t)
	c.join("lobby")
	c.close()
	require.Eventually(t, func() bool { return sse.Expire(v.h, c.token) }, wait, time.Millisecond)
	require.Equal(t, sse.ReasonGone, d.Await(t, c.hello.Session))

	r := v.resume(t, c.token, c.lastID)
	f := r.next()
	require.Equal(t, engine.TypeClose, f.Type)
	require.Equal(t, sse.ReasonGone, *f.Close)
	require.Empty(t, r.ended())
	resp, body := v.do(t, http.MethodGet, v.url, http.Header{"Last-Event-Id": {r.lastID}}, "")
	require.Equal(t, http.StatusGone, resp.StatusCode, "%s", body)
	require.Contains(t, refusal(t, resp, body)["reason"], "1006 connection lost")

	require.Eventually(t, func() bool { return sse.Expire(v.h, c.token) }, wait, time.Millisecond)
	require.Zero(t, sse.Registered(v.h))
	resp, body = v.do(t, http.MethodGet, v.url, http.Header{"Last-Event-Id": {r.lastID}}, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, sse.CodeUnknownSession, refusal(t, resp, body)["error"])
}

// A client that comes back within the grace period keeps its session:
// rooms, presence, no leave notice for anyone.
func TestGracePeriodKeepsReturningClient(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook, PresenceNotices: everyRoom}, sse.Config{})
	peer := v.dialWS(t)
	require.Nil(t, peer.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)
	c := v.dial(t)
	c.join("lobby")
	require.Equal(t, engine.TypePresence, peer.next().Type)
	c.close()
	require.Eventually(t, func() bool { a, _ := sse.Attached(v.h, c.token); return !a }, wait, time.Millisecond)

	r := v.resume(t, c.token, c.lastID)
	require.NoError(t, v.e.To("lobby").Emit("marker", nil))
	require.Equal(t, "marker", r.next().Event)
	require.Equal(t, "marker", peer.next().Event, "no presence notice came before the marker")
	_, closed := d.Get(c.hello.Session)
	require.False(t, closed)
	require.Equal(t, 2, v.e.Stats().Sessions)
	r.token = c.token
	ack := r.request(engine.Frame{Type: engine.TypeLeave, Room: "lobby"})
	require.Nil(t, ack.Err, "the session is still in its room")
}

// A WebSocket client, an SSE client and a long-poll client chat in one
// room.
func TestThreeTransportsChat(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{})
	chat(v.e, "lobby")
	w := v.dialWS(t)
	s := v.dial(t)
	p := v.openPoll(t)
	require.Nil(t, w.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)
	s.join("lobby")
	require.Nil(t, p.request(engine.Frame{Type: engine.TypeJoin, Room: "lobby"}).Err)

	say := func(text string) engine.Frame {
		return engine.Frame{Type: engine.TypeEmit, Event: "chat", Data: raw(`{"text":"` + text + `"}`)}
	}
	expect := func(f engine.Frame, text string) {
		t.Helper()
		require.Equal(t, "chat", f.Event)
		require.Equal(t, "lobby", f.Room)
		require.JSONEq(t, `{"text":"`+text+`"}`, string(f.Data))
	}

	require.JSONEq(t, `"ok"`, string(w.request(say("from ws")).Data))
	expect(s.next(), "from ws")
	expect(p.next(), "from ws")

	require.JSONEq(t, `"ok"`, string(s.request(say("from sse")).Data))
	expect(w.next(), "from sse")
	expect(p.next(), "from sse")

	require.JSONEq(t, `"ok"`, string(p.request(say("from poll")).Data))
	expect(w.next(), "from poll")
	expect(s.next(), "from poll")
}

func TestBadInput(t *testing.T) {
	rec := &hubtest.LogRecorder{}
	v := start(t, engine.Config{Logger: slog.New(rec)}, sse.Config{Logger: slog.New(rec), MaxMessageBytes: 1 << 10})
	v.e.On("echo", func(_ context.Context, _ *engine.Session, data json.RawMessage) (any, error) { return data, nil })
	c := v.dial(t)    // a bystander: nothing below may touch it
	gone := v.dial(t) // a session ended by its client
	resp, _ := v.do(t, http.MethodDelete, v.withQuery("session", gone.token), nil, "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	for _, tc := range []struct {
		name         string
		method, url  string
		hdr          http.Header
		body         string
		status       int
		code, reason string
	}{
		{"unknown mode", "GET", v.withQuery("mode", "carrier-pigeon"), nil, "", 400, sse.CodeBadRequest, "mode"},
		{"session without cursor", "GET", v.withQuery("session", c.token), nil, "", 400, sse.CodeBadRequest, "cursor"},
		{"cursor without session", "GET", v.withQuery("cursor", "3"), nil, "", 400, sse.CodeBadRequest, "session"},
		{"cursor not a number", "GET", v.withQuery("session", c.token, "cursor", "-1"), nil, "", 400, sse.CodeBadRequest, "unsigned"},
		{"cursor ahead of the session", "GET", v.withQuery("session", c.token, "cursor", "99"), nil, "", 400, sse.CodeBadRequest, "ahead"},
		{"foreign Last-Event-ID", "GET", v.url, http.Header{"Last-Event-Id": {"42"}}, "", 400, sse.CodeBadRequest, "Last-Event-ID"},
		{"Last-Event-ID of another session than the query", "GET", v.withQuery("session", c.token, "cursor", "1"),
			http.Header{"Last-Event-Id": {gone.token + ".1"}}, "", 400, sse.CodeBadRequest, "different sessions"},
		{"unknown token (stream)", "GET", v.url, http.Header{"Last-Event-Id": {"AAAAAAAAAAAAAAAAAAAAAA.1"}}, "", 404, sse.CodeUnknownSession, "no session"},
		{"unknown token (poll)", "GET", v.withQuery("mode", "poll", "session", "nope", "cursor", "0"), nil, "", 404, sse.CodeUnknownSession, "no session"},
		{"unknown token (post)", "POST", v.withQuery("session", "nope"), nil, `{"t":"emit","ev":"echo"}`, 404, sse.CodeUnknownSession, "no session"},
		{"ended session (post)", "POST", v.withQuery("session", gone.token), nil, `{"t":"emit","ev":"echo"}`, 410, sse.CodeSessionClosed, "1000 closed"},
		{"ended session (delete)", "DELETE", v.withQuery("session", gone.token), nil, "", 410, sse.CodeSessionClosed, "1000 closed"},
		{"post without session", "POST", v.url, nil, `{"t":"emit","ev":"echo"}`, 400, sse.CodeBadRequest, "session"},
		{"body over the limit", "POST", v.withQuery("session", c.token), nil, `{"t":"emit","ev":"echo","d":"` + strings.Repeat("x", 2<<10) + `"}`,
			413, engine.CodeTooLarge, "1024-byte limit"},
		{"malformed body", "POST", v.withQuery("session", c.token), nil, `{"t":"emit",`, 400, engine.CodeMalformed, "not JSON"},
		{"empty body", "POST", v.withQuery("session", c.token), nil, "", 400, engine.CodeMalformed, "empty body"},
		{"wrong method", "PUT", v.url, nil, "{}", 405, sse.CodeMethodNotAllowed, "PUT"},
		{"foreign origin", "GET", v.url, http.Header{"Origin": {"https://evil.example"}}, "", 403, engine.CodeForbidden, "evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.Count("request refused")
			resp, body := v.do(t, tc.method, tc.url, tc.hdr, tc.body)
			require.Equal(t, tc.status, resp.StatusCode, "%s", body)
			m := refusal(t, resp, body)
			require.Equal(t, tc.code, m["error"])
			require.Contains(t, m["reason"], tc.reason)
			if tc.status == http.StatusMethodNotAllowed {
				require.Equal(t, "GET, POST, DELETE, OPTIONS", resp.Header.Get("Allow"))
			}
			require.Equal(t, before+1, rec.Count("request refused"), "logged once")
		})
	}

	// The bystander never noticed.
	ack := c.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw(`"still here"`)})
	require.JSONEq(t, `"still here"`, string(ack.Data))
	require.Equal(t, 1, v.e.Stats().Sessions)
	f := gone.next()
	require.Equal(t, engine.TypeClose, f.Type)
	require.Equal(t, engine.ReasonNormal, *f.Close)
}

func TestAuthentication(t *testing.T) {
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
	}, sse.Config{Logger: slog.New(rec)})

	for _, tc := range []struct {
		url    string
		status int
		body   map[string]string
	}{
		{v.url, 401, map[string]string{"error": "unauthorized", "reason": "missing or bad token"}},
		{v.withQuery("token", "banned"), 403, map[string]string{"error": "forbidden", "reason": "account suspended"}},
		{v.withQuery("token", "nope", "mode", "poll"), 401, map[string]string{"error": "unauthorized", "reason": "missing or bad token"}},
	} {
		resp, body := v.do(t, http.MethodGet, tc.url, nil, "")
		require.Equal(t, tc.status, resp.StatusCode)
		require.Equal(t, tc.body, refusal(t, resp, body))
	}
	require.Equal(t, 3, rec.Count("connection refused"), "each refusal is logged once (by the engine)")
	require.Zero(t, rec.Count("request refused"))

	c := v.open(t, v.withQuery("token", "good"), nil, true)
	require.Equal(t, "alice", c.hello.User)
	resp, body := v.do(t, http.MethodGet, v.withQuery("token", "good", "mode", "poll"), nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `"user":"alice"`)

	// The session token alone authorises the rest: a resume without the
	// auth token still works.
	c.close()
	r := v.resume(t, c.token, c.lastID)
	r.join("room")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, v.e.Shutdown(ctx))
	resp, body = v.do(t, http.MethodGet, v.withQuery("token", "good"), nil, "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "unavailable", refusal(t, resp, body)["error"])
}

// A session has one reader: a newer stream or poll replaces the older
// one, which is told why and ends.
func TestNewerReaderReplacesOlder(t *testing.T) {
	rec := &hubtest.LogRecorder{}
	v := start(t, engine.Config{}, sse.Config{Logger: slog.New(rec)})
	v.e.On("echo", func(_ context.Context, _ *engine.Session, data json.RawMessage) (any, error) { return data, nil })
	a := v.dial(t)
	b := v.resume(t, a.token, a.lastID)

	evs := a.ended()
	require.Len(t, evs, 1)
	frames, _ := decodeFrames(t, evs[0].data)
	require.Equal(t, engine.Frame{Type: sse.TypeReplaced, Err: &engine.Error{Code: sse.CodeReplaced,
		Message: "another stream or poll was opened for this session"}}, frames[0])
	require.Equal(t, a.lastID, evs[0].id, "a transport frame does not move the event id")
	require.Eventually(t, func() bool { return rec.Count("reader replaced") == 1 }, wait, time.Millisecond)
	ack := b.request(engine.Frame{Type: engine.TypeEmit, Event: "echo", Data: raw(`1`)})
	require.JSONEq(t, `1`, string(ack.Data))

	// A poll replaces the stream too, and a later poll replaces a waiting
	// one.
	pollURL := v.withQuery("mode", "poll", "session", a.token, "cursor", "2") // hello and echo ack received
	poll := func() <-chan string {
		ch := make(chan string, 1)
		go func() {
			resp, err := v.hc.Get(pollURL)
			if err != nil {
				ch <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			ch <- string(b)
		}()
		return ch
	}
	first := poll()
	evs = b.ended()
	frames, _ = decodeFrames(t, evs[len(evs)-1].data)
	require.Equal(t, sse.TypeReplaced, frames[0].Type)
	require.Eventually(t, func() bool { return rec.Count("reader replaced") == 2 }, wait, time.Millisecond)
	second := poll()
	require.JSONEq(t, `{"cursor":2,"frames":[{"t":"replaced","err":{"code":"replaced","msg":"another stream or poll was opened for this session"}}]}`, <-first)
	require.Eventually(t, func() bool { return rec.Count("reader replaced") == 3 }, wait, time.Millisecond)
	require.NoError(t, v.e.ToAll().Emit("wake", nil))
	require.JSONEq(t, `{"cursor":3,"frames":[{"t":"emit","ev":"wake"}]}`, <-second)
}

// An http.Server WriteTimeout far shorter than the stream does not end it:
// each write gets its own deadline.
func TestSurvivesServerWriteTimeout(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{PingInterval: 20 * time.Millisecond, PollTimeout: 300 * time.Millisecond},
		func(srv *httptest.Server) { srv.Config.WriteTimeout = 100 * time.Millisecond })
	began := time.Now()
	c := v.dial(t)
	require.Eventually(t, func() bool { return time.Since(began) > time.Second && c.comments.Load() >= 5 }, wait, 5*time.Millisecond)
	c.join("room") // the stream is alive and delivers
	require.NoError(t, v.e.To("room").Emit("late", nil))
	require.Equal(t, "late", c.next().Event)

	// A poll that waits three times the WriteTimeout still answers.
	p := v.openPoll(t)
	status, a, body := p.pollAt(p.cursor)
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Empty(t, a.Frames)
}

func TestShutdownSendsCloseFrames(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{})
	c := v.dial(t)
	p := v.openPoll(t)
	polled := make(chan pollAnswer, 1)
	go func() {
		_, a, _ := p.pollAt(p.cursor)
		polled <- a
	}()
	require.Eventually(t, func() bool { a, _ := sse.Attached(v.h, p.token); return a }, wait, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, v.e.Shutdown(ctx))
	f := c.next()
	require.Equal(t, engine.TypeClose, f.Type)
	require.Equal(t, engine.ReasonGoingAway, *f.Close)
	require.Empty(t, c.ended())
	a := <-polled
	require.Len(t, a.Frames, 1)
	require.JSONEq(t, `{"t":"close","close":{"code":1001,"reason":"server shutting down"}}`, string(a.Frames[0]))
	require.Equal(t, uint64(2), a.Cursor)

	require.NoError(t, v.h.Close())
	resp, body := v.do(t, http.MethodGet, v.url, nil, "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "unavailable", refusal(t, resp, body)["error"])
}

func TestHandlerCloseWithoutShutdown(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, sse.Config{})
	c := v.dial(t)
	away := v.dial(t)
	away.close()
	require.NoError(t, v.h.Close())
	f := c.next()
	require.Equal(t, engine.ReasonGoingAway, *f.Close)
	require.Empty(t, c.ended())
	require.Equal(t, engine.ReasonGoingAway, d.Await(t, c.hello.Session))
	require.Equal(t, engine.ReasonGoingAway, d.Await(t, away.hello.Session), "sessions without a stream end too")
	require.Zero(t, v.e.Stats().Sessions)
	require.Zero(t, sse.Registered(v.h))
	require.NoError(t, v.h.Close(), "Close is idempotent")
}

func TestDeleteEndsSession(t *testing.T) {
	d := &hubtest.Disconnects{}
	v := start(t, engine.Config{OnDisconnect: d.Hook}, sse.Config{})
	c := v.dial(t)
	resp, _ := v.do(t, http.MethodDelete, v.withQuery("session", c.token), nil, "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, engine.ReasonNormal, d.Await(t, c.hello.Session))
	f := c.next()
	require.Equal(t, engine.TypeClose, f.Type)
	require.Equal(t, engine.ReasonNormal, *f.Close)
	require.Empty(t, c.ended())
}

func TestCORS(t *testing.T) {
	const app = "https://app.example"
	v := start(t, engine.Config{}, sse.Config{AllowedOrigins: []string{app}})

	resp, _ := v.do(t, http.MethodOptions, v.url, http.Header{
		"Origin":                         {app},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"content-type"},
	}, "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, app, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	require.Equal(t, "content-type", resp.Header.Get("Access-Control-Allow-Headers"))

	resp, body := v.do(t, http.MethodOptions, v.url, http.Header{
		"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}, "")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, engine.CodeForbidden, refusal(t, resp, body)["error"])

	c := v.open(t, v.url, http.Header{"Origin": {app}}, true)
	require.Equal(t, app, c.resp.Header.Get("Access-Control-Allow-Origin"))
	resp, _ = v.do(t, http.MethodPost, v.withQuery("session", c.token), http.Header{"Origin": {app}}, `{"t":"ping"}`)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, app, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "pong", c.next().Type)

	same := v.open(t, v.url, http.Header{"Origin": {v.srv.URL}}, true)
	require.Empty(t, same.resp.Header.Get("Access-Control-Allow-Origin"), "same origin needs no CORS")
}

// Under load several frames go out in one event and one flush.
func TestWriteCoalescing(t *testing.T) {
	g := &gate{}
	v := start(t, engine.Config{}, sse.Config{}, g.setup)
	c := v.dial(t)
	c.join("room")
	g.close()
	const n = 200
	for i := range n {
		require.NoError(t, v.e.To("room").Emit("n", i))
	}
	g.open()
	events := c.nEvents
	for i := range n {
		f := c.next()
		require.Equal(t, "n", f.Event)
		require.JSONEq(t, fmt.Sprint(i), string(f.Data))
	}
	require.Positive(t, c.arrays, "some events carried several frames")
	require.Less(t, c.nEvents-events, n, "fewer events than frames")
	t.Logf("%d frames in %d events", n, c.nEvents-events)
}

// Sessions that come and go leave nothing behind: no session, no timer,
// no goroutine (TestMain checks goroutines).
func TestChurn(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{Grace: 10 * time.Millisecond})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				switch (w + i) % 3 {
				case 0: // stream, vanish
					c := v.dial(t)
					c.close()
				case 1: // poll, vanish
					v.openPoll(t)
				case 2: // stream, end cleanly
					c := v.dial(t)
					resp, _ := v.do(t, http.MethodDelete, v.withQuery("session", c.token), nil, "")
					require.Equal(t, http.StatusNoContent, resp.StatusCode)
					c.close()
				}
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return v.e.Stats().Sessions == 0 && sse.Registered(v.h) == 0 }, wait, time.Millisecond)
}

// A handler chain that cannot flush cannot stream: the stream is refused
// with a reason (an EventSource would otherwise reconnect forever), and
// long-poll still works.
func TestUnflushableWriterRefusesStreams(t *testing.T) {
	e := engine.New(engine.Config{Logger: quiet})
	h := sse.New(e, sse.Config{Logger: quiet})
	t.Cleanup(func() {
		require.NoError(t, e.Shutdown(context.Background()))
		require.NoError(t, h.Close())
	})
	w := &plainWriter{header: http.Header{}}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sse", nil))
	require.Equal(t, http.StatusInternalServerError, w.status)
	require.Contains(t, w.body.String(), "mode=poll")

	w = &plainWriter{header: http.Header{}}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sse?mode=poll", nil))
	require.Equal(t, http.StatusOK, w.status)
	require.Contains(t, w.body.String(), `"t":"hello"`)
}

// plainWriter is a ResponseWriter without Flush or deadlines.
type plainWriter struct {
	header http.Header
	status int
	body   strings.Builder
}

func (w *plainWriter) Header() http.Header { return w.header }
func (w *plainWriter) WriteHeader(s int)   { w.status = s }
func (w *plainWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
