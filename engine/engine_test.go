package engine_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newEngine returns an engine with a silent logger, shut down at test end.
func newEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := engine.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
	})
	return e
}

// dialUser connects a client whose connect request names a user; the test
// engines' Authenticate hooks read the X-User header.
func dialUser(t *testing.T, e *engine.Engine, user string) *memory.Client {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-User", user)
	c, err := memory.Dial(e, memory.Config{Request: r})
	require.NoError(t, err)
	return c
}

func headerAuth(r *http.Request) (engine.Identity, error) {
	u := r.Header.Get("X-User")
	if u == "" {
		return engine.Identity{}, engine.NewError(engine.CodeUnauthorized, "missing X-User")
	}
	return engine.Identity{UserID: u, Meta: map[string]string{"name": strings.ToUpper(u)}}, nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next reads the next frame, failing the test on error.
func next(t *testing.T, c *memory.Client) engine.Frame {
	t.Helper()
	f, err := c.Next(ctxT(t))
	require.NoError(t, err)
	return f
}

type chatMsg struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// chatEngine relays "chat" to the room, except the sender, and acks
// with the offset-free echo {"ok":true}.
func chatEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	if cfg.Authenticate == nil {
		cfg.Authenticate = headerAuth
	}
	e := newEngine(t, cfg)
	e.On("chat", engine.Typed(func(ctx context.Context, s *engine.Session, m chatMsg) (any, error) {
		if err := e.To(m.Room).Except(s).Emit("chat", map[string]string{"from": s.UserID(), "text": m.Text}); err != nil {
			return nil, err
		}
		return map[string]bool{"ok": true}, nil
	}))
	return e
}

func TestChatInRoomSenderExcluded(t *testing.T) {
	e := chatEngine(t, engine.Config{})
	alice, bob := dialUser(t, e, "alice"), dialUser(t, e, "bob")
	ctx := ctxT(t)
	require.Equal(t, "alice", alice.Hello().User)
	require.Equal(t, engine.ProtocolVersion, alice.Hello().Version)
	require.Equal(t, alice.Session().ID(), alice.Hello().Session)

	_, err := alice.Join(ctx, "lobby")
	require.NoError(t, err)
	_, err = bob.Join(ctx, "lobby")
	require.NoError(t, err)

	ack, err := alice.EmitWithAck(ctx, "chat", chatMsg{Room: "lobby", Text: "hi bob"})
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(ack))

	f := next(t, bob)
	require.Equal(t, engine.TypeEmit, f.Type)
	require.Equal(t, "chat", f.Event)
	require.Equal(t, "lobby", f.Room)
	require.Equal(t, uint64(1), f.Offset)
	require.JSONEq(t, `{"from":"alice","text":"hi bob"}`, string(f.Data))

	// The handler emitted before it returned, so an echo to alice would
	// have been queued before her ack: nothing may be left.
	require.Zero(t, alice.Buffered(), "the sender must not receive its own message")

	// And back: bob answers, alice receives offset 2.
	_, err = bob.EmitWithAck(ctx, "chat", chatMsg{Room: "lobby", Text: "hi alice"})
	require.NoError(t, err)
	f = next(t, alice)
	require.Equal(t, uint64(2), f.Offset)
	require.JSONEq(t, `{"from":"bob","text":"hi alice"}`, string(f.Data))
	require.Zero(t, bob.Buffered())
}

func TestMultiRoomEmitReachesMemberOnce(t *testing.T) {
	e := newEngine(t, engine.Config{})
	both, onlyB, none := dialUser(t, e, ""), dialUser(t, e, ""), dialUser(t, e, "")
	ctx := ctxT(t)
	for _, r := range []string{"a", "b"} {
		_, err := both.Join(ctx, r)
		require.NoError(t, err)
	}
	_, err := onlyB.Join(ctx, "b")
	require.NoError(t, err)
	_, err = none.Join(ctx, "c")
	require.NoError(t, err)

	require.NoError(t, e.To("a", "b").Emit("news", "x"))
	require.NoError(t, e.To("c").Emit("marker", nil))
	require.NoError(t, e.To("a").To("b").Emit("marker", nil))

	f := next(t, both)
	require.Equal(t, "news", f.Event)
	require.Equal(t, "a", f.Room, "a member of both rooms gets the copy of the first room")
	require.Equal(t, "marker", next(t, both).Event, "exactly one copy of news")
	f = next(t, onlyB)
	require.Equal(t, "news", f.Event)
	require.Equal(t, "b", f.Room)
	require.Equal(t, "marker", next(t, onlyB).Event)
	require.Equal(t, "marker", next(t, none).Event)
	require.Zero(t, none.Buffered())
}

func TestToUserAndToAll(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: headerAuth})
	tab1, tab2, bob := dialUser(t, e, "alice"), dialUser(t, e, "alice"), dialUser(t, e, "bob")

	require.NoError(t, e.ToUser("alice").Emit("dm", "for alice"))
	for _, c := range []*memory.Client{tab1, tab2} {
		f := next(t, c)
		require.Equal(t, "dm", f.Event)
		require.Empty(t, f.Room)
	}
	require.Zero(t, bob.Buffered())

	require.NoError(t, e.ToAll().Except(tab2.Session()).Emit("notice", 1))
	require.Equal(t, "notice", next(t, tab1).Event)
	require.Equal(t, "notice", next(t, bob).Event)
	require.Zero(t, tab2.Buffered())

	require.NoError(t, bob.Session().Emit("private", nil))
	require.Equal(t, "private", next(t, bob).Event)
}

func TestPresenceTwoTabsOneUser(t *testing.T) {
	e := newEngine(t, engine.Config{
		Authenticate:    headerAuth,
		PresenceNotices: func(room string) bool { return strings.HasPrefix(room, "p:") },
	})
	ctx := ctxT(t)
	bob := dialUser(t, e, "bob")
	_, err := bob.Join(ctx, "p:room")
	require.NoError(t, err)

	tab1 := dialUser(t, e, "alice")
	res, err := tab1.Join(ctx, "p:room")
	require.NoError(t, err)
	require.Len(t, res.Presence, 2, "the join ack lists who is here")

	f := next(t, bob)
	require.Equal(t, engine.TypePresence, f.Type)
	require.Equal(t, "join", f.Event)
	require.Equal(t, "alice", f.User)
	require.JSONEq(t, `{"name":"ALICE"}`, string(f.Meta))

	tab2 := dialUser(t, e, "alice")
	_, err = tab2.Join(ctx, "p:room")
	require.NoError(t, err)
	require.Zero(t, bob.Buffered(), "a second tab is not a new member")

	p, err := e.Presence(ctx, "p:room")
	require.NoError(t, err)
	require.Equal(t, []engine.PresenceEntry{
		{UserID: "alice", Meta: json.RawMessage(`{"name":"ALICE"}`), Conns: 2},
		{UserID: "bob", Meta: json.RawMessage(`{"name":"BOB"}`), Conns: 1},
	}, p)
	require.Equal(t, 2, e.PresenceCount("p:room"))

	tab1.Close()
	p, err = e.Presence(ctx, "p:room")
	require.NoError(t, err)
	require.Len(t, p, 2)
	require.Equal(t, 1, p[0].Conns)
	require.Zero(t, bob.Buffered(), "closing one of two tabs keeps the user present")

	tab2.Close()
	f = next(t, bob)
	require.Equal(t, engine.TypePresence, f.Type)
	require.Equal(t, "leave", f.Event)
	require.Equal(t, "alice", f.User)
	require.Equal(t, 1, e.PresenceCount("p:room"))

	// Rooms without notices stay quiet but can be queried.
	_, err = bob.Join(ctx, "quiet")
	require.NoError(t, err)
	other := dialUser(t, e, "carol")
	res, err = other.Join(ctx, "quiet")
	require.NoError(t, err)
	require.Empty(t, res.Presence)
	require.Zero(t, bob.Buffered())
	require.Equal(t, 2, e.PresenceCount("quiet"))
}

func TestAuthRefused(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: func(r *http.Request) (engine.Identity, error) {
		switch r.Header.Get("X-User") {
		case "":
			return engine.Identity{}, errors.New("no token")
		case "mallory":
			return engine.Identity{}, engine.NewError(engine.CodeForbidden, "banned")
		}
		return engine.Identity{UserID: r.Header.Get("X-User")}, nil
	}})
	_, err := memory.Dial(e, memory.Config{})
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, engine.HTTPStatus(err))
	require.ErrorIs(t, err, &engine.Error{Code: engine.CodeUnauthorized})
	require.Contains(t, err.Error(), "no token")

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-User", "mallory")
	_, err = memory.Dial(e, memory.Config{Request: r})
	require.Equal(t, http.StatusForbidden, engine.HTTPStatus(err))
	require.Zero(t, e.Stats().Sessions)

	c := dialUser(t, e, "alice")
	require.Equal(t, "alice", c.Session().UserID())
}

func TestJoinRefused(t *testing.T) {
	e := newEngine(t, engine.Config{
		Authenticate: headerAuth,
		AuthorizeJoin: func(ctx context.Context, s *engine.Session, room string) error {
			switch {
			case room == "admins" && s.UserID() != "root":
				return errors.New("admins only")
			case room == "vip":
				return engine.NewError("payment_required", "vip needs a subscription")
			}
			return nil
		},
	})
	ctx := ctxT(t)
	c := dialUser(t, e, "alice")
	_, err := c.Join(ctx, "admins")
	require.ErrorIs(t, err, &engine.Error{Code: engine.CodeForbidden})
	require.Contains(t, err.Error(), "join refused", "plain errors are not shown to clients")
	_, err = c.Join(ctx, "vip")
	require.ErrorIs(t, err, &engine.Error{Code: "payment_required"})
	_, err = c.Join(ctx, "public")
	require.NoError(t, err)
	require.Equal(t, []string{"public"}, c.Session().Rooms())

	// The server may still join her: hooks guard clients, not the application.
	require.NoError(t, c.Session().Join("admins"))
	root := dialUser(t, e, "root")
	_, err = root.Join(ctx, "admins")
	require.NoError(t, err)
}

func TestBadInput(t *testing.T) {
	e := chatEngine(t, engine.Config{MaxFrameBytes: 1024, MaxNameBytes: 16, MaxRoomsPerSession: 2})
	ctx := ctxT(t)
	bystander := dialUser(t, e, "bystander")
	_, err := bystander.Join(ctx, "lobby")
	require.NoError(t, err)

	cases := []struct {
		name string
		msg  string
		code string
		id   uint64 // non-zero: expect an error ack with this id, else an error frame
	}{
		{"malformed JSON", `{"t":"emit",`, engine.CodeMalformed, 0},
		{"not an object", `42`, engine.CodeMalformed, 0},
		{"bad batch", `[{"t":"emit"},`, engine.CodeMalformed, 0},
		{"missing type", `{"ev":"chat"}`, engine.CodeMalformed, 0},
		{"unknown type", `{"t":"shout"}`, engine.CodeUnknownType, 0},
		{"unknown type with id", `{"t":"shout","id":7}`, engine.CodeUnknownType, 7},
		{"unknown event", `{"t":"emit","ev":"nope"}`, engine.CodeUnknownEvent, 0},
		{"unknown event with id", `{"t":"emit","ev":"nope","id":8}`, engine.CodeUnknownEvent, 8},
		{"empty event", `{"t":"emit","ev":"","id":9}`, engine.CodeInvalidName, 9},
		{"long event", `{"t":"emit","ev":"aaaaaaaaaaaaaaaaaaaaaaa","id":10}`, engine.CodeInvalidName, 10},
		{"empty room", `{"t":"join","room":"","id":11}`, engine.CodeInvalidName, 11},
		{"long room", `{"t":"join","room":"rrrrrrrrrrrrrrrrrrrrrrrrrrrrr","id":12}`, engine.CodeInvalidName, 12},
		{"control char room", `{"t":"join","room":"a\nb","id":13}`, engine.CodeInvalidName, 13},
		{"oversized", `{"t":"emit","ev":"chat","d":"` + strings.Repeat("x", 2000) + `"}`, engine.CodeTooLarge, 0},
		{"unknown ack", `{"t":"ack","id":99}`, engine.CodeUnknownAck, 0},
		{"bad payload", `{"t":"emit","ev":"chat","d":{"room":5},"id":14}`, engine.CodeBadPayload, 14},
		{"leave unjoined", `{"t":"leave","room":"zzz","id":15}`, engine.CodeNotInRoom, 15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialUser(t, e, "mallory")
			defer c.Close()
			require.NoError(t, c.Send([]byte(tc.msg)))
			f := next(t, c)
			if tc.id != 0 {
				require.Equal(t, engine.TypeAck, f.Type)
				require.Equal(t, tc.id, f.ID)
			} else {
				require.Equal(t, engine.TypeError, f.Type)
			}
			require.NotNil(t, f.Err)
			require.Equal(t, tc.code, f.Err.Code)
			require.NotEmpty(t, f.Err.Message)
			_, closed := c.CloseReason()
			require.False(t, closed, "bad input answers with an error, not a disconnect")
		})
	}

	t.Run("too many rooms", func(t *testing.T) {
		c := dialUser(t, e, "mallory")
		defer c.Close()
		for _, r := range []string{"r1", "r2"} {
			_, err := c.Join(ctx, r)
			require.NoError(t, err)
		}
		_, err := c.Join(ctx, "r3")
		require.ErrorIs(t, err, &engine.Error{Code: engine.CodeTooManyRooms})
	})

	// No other session was affected: the bystander saw nothing and still
	// gets room events.
	require.Zero(t, bystander.Buffered())
	require.NoError(t, e.To("lobby").Emit("still-here", nil))
	require.Equal(t, "still-here", next(t, bystander).Event)
	// Handler-level refusals (bad payload, leave of an unjoined room) are
	// answers, not protocol errors: the other cases count as bad frames.
	require.GreaterOrEqual(t, e.Stats().BadFrames, uint64(len(cases)-2))
}

func TestBatchOfFrames(t *testing.T) {
	e := chatEngine(t, engine.Config{})
	c := dialUser(t, e, "alice")
	require.NoError(t, c.Send([]byte(`[{"t":"join","room":"x","id":1},{"t":"emit","ev":"chat","d":{"room":"x","text":"a"},"id":2}]`)))
	a := next(t, c)
	require.Equal(t, uint64(1), a.ID)
	require.Nil(t, a.Err)
	a = next(t, c)
	require.Equal(t, uint64(2), a.ID)
	require.Nil(t, a.Err)
}

func TestHandlerPanicIsRecovered(t *testing.T) {
	e := chatEngine(t, engine.Config{})
	e.On("boom", func(ctx context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		panic("kaboom")
	})
	e.On("fail", func(ctx context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return nil, errors.New("database password is hunter2")
	})
	ctx := ctxT(t)
	c := dialUser(t, e, "alice")
	_, err := c.EmitWithAck(ctx, "boom", nil)
	require.ErrorIs(t, err, &engine.Error{Code: engine.CodeInternal})
	require.Equal(t, uint64(1), e.Stats().HandlerPanics)

	_, err = c.EmitWithAck(ctx, "fail", nil)
	require.ErrorIs(t, err, &engine.Error{Code: engine.CodeInternal})
	require.NotContains(t, err.Error(), "hunter2", "plain errors are not shown to clients")

	// Without an ack id the failure still reaches the client, as an error frame.
	require.NoError(t, c.Emit("boom", nil))
	f := next(t, c)
	require.Equal(t, engine.TypeError, f.Type)
	require.Equal(t, engine.CodeInternal, f.Err.Code)

	// The session and the engine keep working.
	_, err = c.Join(ctx, "lobby")
	require.NoError(t, err)
	ack, err := c.EmitWithAck(ctx, "chat", chatMsg{Room: "lobby", Text: "still alive"})
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(ack))
}

func TestServerEmitWithAck(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := ctxT(t)
	c := dialUser(t, e, "")
	s := c.Session()

	type result struct {
		data json.RawMessage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		d, err := s.EmitWithAck(ctx, "question", map[string]int{"q": 6})
		done <- result{d, err}
	}()
	f := next(t, c)
	require.Equal(t, "question", f.Event)
	require.NotZero(t, f.ID)
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeAck, ID: f.ID, Data: json.RawMessage(`42`)}))
	r := <-done
	require.NoError(t, r.err)
	require.JSONEq(t, `42`, string(r.data))

	// An error ack comes back as the client's *Error.
	go func() {
		d, err := s.EmitWithAck(ctx, "question", nil)
		done <- result{d, err}
	}()
	f = next(t, c)
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeAck, ID: f.ID, Err: &engine.Error{Code: "nope", Message: "no"}}))
	r = <-done
	require.ErrorIs(t, r.err, &engine.Error{Code: "nope"})

	// A client that never answers: the context decides.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := s.EmitWithAck(short, "question", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	f = next(t, c)
	// A late ack to a request that gave up is reported as unknown.
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeAck, ID: f.ID}))
	require.Equal(t, engine.CodeUnknownAck, next(t, c).Err.Code)

	// A session that ends fails the waiting request.
	go func() {
		d, err := s.EmitWithAck(ctx, "question", nil)
		done <- result{d, err}
	}()
	next(t, c)
	c.Close()
	r = <-done
	require.ErrorIs(t, r.err, engine.ErrSessionClosed)
	_, err = s.EmitWithAck(ctx, "question", nil)
	require.ErrorIs(t, err, engine.ErrSessionClosed)
}

func TestHandlerCanAwaitClientAck(t *testing.T) {
	// A handler that asks the client something and waits must not block
	// the client's answer: acks are resolved outside the handler goroutine.
	e := newEngine(t, engine.Config{})
	e.On("confirm", func(ctx context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return s.EmitWithAck(wctx, "sure?", nil)
	})
	c := dialUser(t, e, "")
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeEmit, Event: "confirm", ID: 1}))
	q := next(t, c)
	require.Equal(t, "sure?", q.Event)
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeAck, ID: q.ID, Data: json.RawMessage(`"yes"`)}))
	a := next(t, c)
	require.Equal(t, uint64(1), a.ID)
	require.JSONEq(t, `"yes"`, string(a.Data))
}

func TestHandlersRunInOrderAndOverloadIsReported(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var order []int
	e := newEngine(t, engine.Config{MaxPendingFrames: 3})
	e.On("step", engine.Typed(func(ctx context.Context, s *engine.Session, n int) (any, error) {
		if n == 0 {
			<-release
		}
		mu.Lock()
		order = append(order, n)
		mu.Unlock()
		return n, nil
	}))
	c := dialUser(t, e, "")
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeEmit, Event: "step", Data: json.RawMessage(`0`), ID: 100}))
	// The first frame may still be queued or already running: send enough
	// to pass the bound either way.
	for i := 1; i <= 5; i++ {
		require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeEmit, Event: "step", Data: json.RawMessage(strconv.Itoa(i)), ID: uint64(100 + i)}))
	}
	close(release)
	var acked []uint64
	overloaded := 0
	for range 6 {
		f := next(t, c)
		require.Equal(t, engine.TypeAck, f.Type)
		if f.Err != nil {
			require.Equal(t, engine.CodeOverloaded, f.Err.Code)
			overloaded++
			continue
		}
		acked = append(acked, f.ID)
	}
	require.GreaterOrEqual(t, overloaded, 2, "frames past MaxPendingFrames are refused, not lost silently")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, order, len(acked))
	for i := 1; i < len(order); i++ {
		require.Less(t, order[i-1], order[i], "handlers of a session run in arrival order")
	}
}

func TestDisconnectCleansRoomsAndPresence(t *testing.T) {
	var mu sync.Mutex
	var reasons []engine.CloseReason
	e := newEngine(t, engine.Config{
		Authenticate: headerAuth,
		OnDisconnect: func(s *engine.Session, r engine.CloseReason) {
			mu.Lock()
			reasons = append(reasons, r)
			mu.Unlock()
		},
	})
	ctx := ctxT(t)
	c := dialUser(t, e, "alice")
	for _, r := range []string{"a", "b", "c"} {
		_, err := c.Join(ctx, r)
		require.NoError(t, err)
	}
	rooms, err := e.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, rooms)
	require.Equal(t, 1, e.Stats().Sessions)

	c.Close()
	rooms, err = e.Rooms(ctx)
	require.NoError(t, err)
	require.Empty(t, rooms)
	p, err := e.Presence(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, p)
	require.Zero(t, e.PresenceCount("b"))
	sessions, err := e.Store().SessionsOf(ctx, "alice")
	require.NoError(t, err)
	require.Empty(t, sessions)
	require.Zero(t, e.Stats().Sessions)
	require.Zero(t, e.Stats().Rooms, "empty rooms without history vanish")
	require.Nil(t, e.Session(c.Session().ID()))
	require.True(t, c.Session().Closed())
	require.ErrorIs(t, c.Session().Emit("x", nil), engine.ErrSessionClosed)
	require.ErrorIs(t, c.Session().Receive([]byte(`{}`)), engine.ErrSessionClosed)

	mu.Lock()
	require.Equal(t, []engine.CloseReason{engine.ReasonNormal}, reasons)
	mu.Unlock()
	reason, closed := c.CloseReason()
	require.True(t, closed)
	require.Equal(t, engine.CloseNormal, reason.Code)
}

func TestHistoryOffsetsHaveNoGaps(t *testing.T) {
	e := newEngine(t, engine.Config{HistorySize: 5000})
	ctx := ctxT(t)
	c := dialUser(t, e, "")
	_, err := c.Join(ctx, "feed")
	require.NoError(t, err)

	const publishers, each = 4, 500
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				require.NoError(t, e.To("feed").Emit("tick", []int{p, i}))
			}
		})
	}
	wg.Wait()
	lastPerPublisher := map[int]int{}
	for want := uint64(1); want <= publishers*each; want++ {
		f := next(t, c)
		require.Equal(t, want, f.Offset, "offsets arrive in order with no gap")
		var pi [2]int
		require.NoError(t, json.Unmarshal(f.Data, &pi))
		if last, ok := lastPerPublisher[pi[0]]; ok {
			require.Equal(t, last+1, pi[1], "each publisher's events keep their order")
		}
		lastPerPublisher[pi[0]] = pi[1]
	}
	pos, ok := e.RoomPosition("feed")
	require.True(t, ok)
	require.Equal(t, uint64(publishers*each), pos.Offset)
}

func TestRecoverFromPosition(t *testing.T) {
	e := newEngine(t, engine.Config{HistorySize: 100})
	ctx := ctxT(t)
	watcher := dialUser(t, e, "")
	_, err := watcher.Join(ctx, "feed")
	require.NoError(t, err)
	require.NoError(t, e.To("feed").Emit("n", 0))

	c := dialUser(t, e, "")
	res, err := c.Join(ctx, "feed")
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.Position.Offset)
	from := res.Position
	c.Close() // cut off

	for i := 1; i <= 50; i++ {
		require.NoError(t, e.To("feed").Emit("n", i))
	}

	back := dialUser(t, e, "")
	res, err = back.JoinFrom(ctx, engine.Frame{Room: "feed", Since: &from})
	require.NoError(t, err)
	require.True(t, res.Recovered)
	require.Equal(t, 50, res.Replayed)
	require.Equal(t, uint64(51), res.Position.Offset)
	for i := 1; i <= 50; i++ {
		f := next(t, back)
		require.Equal(t, uint64(i+1), f.Offset)
		require.JSONEq(t, strconv.Itoa(i), string(f.Data))
	}
	require.NoError(t, e.To("feed").Emit("n", 51))
	require.Equal(t, uint64(52), next(t, back).Offset, "live events follow the replay without a gap")
	require.Zero(t, back.Buffered())

	// A gap wider than the history is reported, not papered over.
	for i := range 150 {
		require.NoError(t, e.To("feed").Emit("n", i))
	}
	late := dialUser(t, e, "")
	res, err = late.JoinFrom(ctx, engine.Frame{Room: "feed", Since: &from})
	require.NoError(t, err)
	require.False(t, res.Recovered)
	require.Zero(t, res.Replayed)

	// So is a position from another epoch of the room.
	res, err = late.JoinFrom(ctx, engine.Frame{Room: "feed2", Since: &engine.Position{Epoch: "old", Offset: 3}})
	require.NoError(t, err)
	require.False(t, res.Recovered)
}

func TestEmptyRoomKeepsHistoryForReturningMember(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := ctxT(t)
	c := dialUser(t, e, "")
	res, err := c.Join(ctx, "solo")
	require.NoError(t, err)
	require.NoError(t, e.To("solo").Emit("n", 1))
	next(t, c)
	c.Close()
	require.NoError(t, e.To("solo").Emit("n", 2), "published while the room is empty")

	back := dialUser(t, e, "")
	from := engine.Position{Epoch: res.Position.Epoch, Offset: 1}
	res, err = back.JoinFrom(ctx, engine.Frame{Room: "solo", Since: &from})
	require.NoError(t, err)
	require.True(t, res.Recovered)
	f := next(t, back)
	require.Equal(t, uint64(2), f.Offset)
	require.JSONEq(t, `2`, string(f.Data))
}

func TestJoinWithRecentHistory(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := ctxT(t)
	w := dialUser(t, e, "")
	_, err := w.Join(ctx, "chat")
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		require.NoError(t, e.To("chat").Emit("m", i))
	}
	c := dialUser(t, e, "")
	res, err := c.JoinFrom(ctx, engine.Frame{Room: "chat", History: 3})
	require.NoError(t, err)
	require.Equal(t, 3, res.Replayed)
	for _, want := range []uint64{8, 9, 10} {
		require.Equal(t, want, next(t, c).Offset)
	}
}

func TestSlowConsumerIsClosedOthersUnaffected(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := ctxT(t)
	fast := dialUser(t, e, "")
	slow, err := memory.Dial(e, memory.Config{QueueBytes: 4 << 10})
	require.NoError(t, err)
	for _, c := range []*memory.Client{fast, slow} {
		_, err := c.Join(ctx, "room")
		require.NoError(t, err)
	}
	const n = 500
	payload := strings.Repeat("x", 100)
	got := make(chan uint64, n)
	go func() {
		for range n {
			f, err := fast.Next(ctx)
			if err != nil {
				return
			}
			got <- f.Offset
		}
	}()
	for range n {
		require.NoError(t, e.To("room").Emit("m", payload))
	}
	for want := uint64(1); want <= n; want++ {
		require.Equal(t, want, <-got)
	}
	select {
	case <-slow.Done():
	case <-ctx.Done():
		t.Fatal("slow consumer not closed")
	}
	reason, _ := slow.CloseReason()
	require.Equal(t, engine.CloseSlowConsumer, reason.Code)
	require.Equal(t, uint64(1), e.Stats().SlowDisconnects)
	_, closed := fast.CloseReason()
	require.False(t, closed)
	// The frames still queued for it were dropped, as over a network
	// transport: it reads the end of the session, and recovers from history.
	_, err = slow.Next(ctx)
	require.ErrorIs(t, err, memory.ErrClosed)
	require.Zero(t, slow.Buffered())
}

func TestShutdownSendsGoingAway(t *testing.T) {
	e := engine.New(engine.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c, err := memory.Dial(e, memory.Config{})
	require.NoError(t, err)
	require.NoError(t, e.Shutdown(ctxT(t)))
	reason, closed := c.CloseReason()
	require.True(t, closed)
	require.Equal(t, engine.ReasonGoingAway, reason)
	_, err = memory.Dial(e, memory.Config{})
	require.ErrorIs(t, err, engine.ErrClosed)
	require.NoError(t, e.Shutdown(ctxT(t)), "Shutdown is idempotent")
}

func TestServerJoinsAndLeavesUser(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: headerAuth})
	ctx := ctxT(t)
	t1, t2 := dialUser(t, e, "alice"), dialUser(t, e, "alice")
	require.NoError(t, e.JoinUser("alice", "team"))
	require.NoError(t, e.To("team").Emit("hello", nil))
	require.Equal(t, "hello", next(t, t1).Event)
	require.Equal(t, "hello", next(t, t2).Event)
	members, err := e.Store().Members(ctx, "team")
	require.NoError(t, err)
	require.Len(t, members, 2)
	e.LeaveUser("alice", "team")
	require.NoError(t, e.To("team").Emit("hello", nil))
	require.Zero(t, t1.Buffered()+t2.Buffered())
	require.ErrorIs(t, t1.Session().Leave("team"), &engine.Error{Code: engine.CodeNotInRoom})
}

func TestOnConnectJoinsAndPingPong(t *testing.T) {
	e := newEngine(t, engine.Config{
		Authenticate: headerAuth,
		OnConnect: func(s *engine.Session) {
			require.NoError(t, s.Join("user:"+s.UserID()))
		},
	})
	c := dialUser(t, e, "alice")
	require.Equal(t, []string{"user:alice"}, c.Session().Rooms())
	require.NoError(t, e.To("user:alice").Emit("inbox", 1))
	require.Equal(t, "inbox", next(t, c).Event)

	require.NoError(t, c.Send([]byte(`{"t":"ping"}`)))
	require.Equal(t, engine.TypePong, next(t, c).Type)
}

func TestVolatileRoomEventsAreNotKept(t *testing.T) {
	e := newEngine(t, engine.Config{})
	ctx := ctxT(t)
	a := dialUser(t, e, "")
	_, err := a.Join(ctx, "room")
	require.NoError(t, err)
	require.NoError(t, e.To("room").Emit("kept", 1))
	require.NoError(t, e.To("room").Volatile().Except(a.Session()).Emit("typing", "x"))
	require.NoError(t, e.To("room").Volatile().Emit("typing", "y"))
	f := next(t, a)
	require.Equal(t, uint64(1), f.Offset)
	f = next(t, a)
	require.Equal(t, "typing", f.Event)
	require.Equal(t, "room", f.Room)
	require.Zero(t, f.Offset, "volatile events carry no offset")
	require.JSONEq(t, `"y"`, string(f.Data))

	b := dialUser(t, e, "")
	res, err := b.JoinFrom(ctx, engine.Frame{Room: "room", History: 10})
	require.NoError(t, err)
	require.Equal(t, 1, res.Replayed, "only the kept event is in history")
	require.Equal(t, uint64(1), res.Position.Offset)
}

func TestJoinAndLeaveHooks(t *testing.T) {
	var mu sync.Mutex
	var log []string
	var e *engine.Engine
	e = newEngine(t, engine.Config{
		OnJoin: func(s *engine.Session, room string) {
			mu.Lock()
			log = append(log, "join "+room)
			mu.Unlock()
			require.NoError(t, e.To(room).Emit("count", e.PresenceCount(room)), "hooks may emit")
		},
		OnLeave: func(s *engine.Session, room string) {
			mu.Lock()
			log = append(log, "leave "+room)
			mu.Unlock()
		},
	})
	ctx := ctxT(t)
	c := dialUser(t, e, "")
	_, err := c.Join(ctx, "a")
	require.NoError(t, err)
	_, err = c.Join(ctx, "a") // already in: no second hook
	require.NoError(t, err)
	require.NoError(t, c.Session().Join("b"))
	require.NoError(t, c.Leave(ctx, "a"))
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"join a", "join b", "leave a", "leave b"}, log)
}

// A panic in a lifecycle hook is contained: it is counted, the session ends
// cleanly (OnConnect) or goes on (OnJoin), and nothing unwinds into the
// transport's goroutine.
func TestHookPanicsAreContained(t *testing.T) {
	var disconnected atomic.Int64
	e := newEngine(t, engine.Config{
		Authenticate: headerAuth,
		OnConnect: func(s *engine.Session) {
			if s.UserID() == "boom" {
				panic("connect")
			}
		},
		OnJoin:       func(*engine.Session, string) { panic("join") },
		OnDisconnect: func(*engine.Session, engine.CloseReason) { disconnected.Add(1); panic("disconnect") },
	})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-User", "boom")
	_, err := memory.Dial(e, memory.Config{Request: r})
	require.Error(t, err, "a panicking OnConnect refuses the session")
	require.EqualValues(t, 1, disconnected.Load())

	c := dialUser(t, e, "alice")
	_, err = c.Join(ctxT(t), "lobby")
	require.NoError(t, err, "the join happened; only the hook panicked")
	require.Equal(t, 1, e.PresenceCount("lobby"))
	c.Close()
	require.Eventually(t, func() bool { return disconnected.Load() == 2 }, 10*time.Second, time.Millisecond)
	require.EqualValues(t, 4, e.Stats().HandlerPanics)
	require.Zero(t, e.Stats().Sessions)
}

// An ack the shallow router cannot read (an escaped "t") is still resolved
// at once, not queued behind the handler that is waiting for it.
func TestEscapedAckReachesAWaitingHandler(t *testing.T) {
	e := newEngine(t, engine.Config{Authenticate: headerAuth})
	e.On("ask", func(ctx context.Context, s *engine.Session, _ json.RawMessage) (any, error) {
		return s.EmitWithAck(ctx, "question", nil)
	})
	c := dialUser(t, e, "alice")
	ctx := ctxT(t)
	require.NoError(t, c.SendFrame(engine.Frame{Type: engine.TypeEmit, Event: "ask", ID: 1}))
	q, err := c.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "question", q.Event)
	require.NoError(t, c.Send(fmt.Appendf(nil, `{"t":"\u0061ck","id":%d,"d":"yes"}`, q.ID)))
	a, err := c.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, engine.TypeAck, a.Type)
	require.Equal(t, uint64(1), a.ID)
	require.Nil(t, a.Err)
	require.JSONEq(t, `"yes"`, string(a.Data))
}
