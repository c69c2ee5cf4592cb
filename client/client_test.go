package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type server struct {
	e      *engine.Engine
	sse    *sse.Handler
	url    string // ws://…/ws
	sseURL string // http://…/sse, for SSE and long-poll
}

// serve runs an engine with a chat handler over WebSocket (/ws) and SSE
// and long-poll (/sse) on loopback. Users are named by the Authorization
// bearer token; "bad" is refused (401), "banned" forbidden (403).
func serve(t *testing.T, cfg engine.Config, scfg ...sse.Config) *server {
	t.Helper()
	cfg.Logger = quiet
	cfg.Authenticate = func(r *http.Request) (engine.Identity, error) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" || tok == "bad" {
			return engine.Identity{}, engine.NewError(engine.CodeUnauthorized, "bad token")
		}
		if tok == "banned" {
			return engine.Identity{}, engine.NewError(engine.CodeForbidden, "banned")
		}
		return engine.Identity{UserID: tok}, nil
	}
	e := engine.New(cfg)
	type msg struct{ Room, Text string }
	e.On("chat", engine.Typed(func(ctx context.Context, s *engine.Session, m msg) (any, error) {
		return "ok", e.To(m.Room).Except(s).Emit("chat", map[string]string{"from": s.UserID(), "text": m.Text})
	}))
	e.On("slow", func(ctx context.Context, s *engine.Session, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	var sc sse.Config
	if len(scfg) > 0 {
		sc = scfg[0]
	}
	sc.Logger = quiet
	wh := ws.New(e, ws.Config{Logger: quiet})
	sh := sse.New(e, sc)
	mux := http.NewServeMux()
	mux.Handle("/ws", wh)
	mux.Handle("/sse", sh)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = e.Shutdown(ctx)
		require.NoError(t, wh.Close())
		require.NoError(t, sh.Close())
		srv.Close()
	})
	return &server{e: e, sse: sh, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", sseURL: srv.URL + "/sse"}
}

// urlFor returns the URL to dial with opts.Transport.
func (s *server) urlFor(opts client.Options) string {
	switch opts.Transport.(type) {
	case client.SSE, *client.SSE, client.LongPoll, *client.LongPoll:
		return s.sseURL
	}
	return s.url
}

func dial(t *testing.T, s *server, user string, opts client.Options) *client.Client {
	t.Helper()
	opts.Token = user
	opts.Logger = quiet
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 10 * time.Millisecond
		opts.BackoffMax = 50 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, s.urlFor(opts), opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// transports are the client transports every test below runs over.
var transports = []struct {
	name string
	tr   client.Transport
}{
	{"websocket", nil},
	{"sse", client.SSE{}},
	{"longpoll", client.LongPoll{}},
}

// eachTransport runs f as a subtest per transport.
func eachTransport(t *testing.T, f func(t *testing.T, tr client.Transport)) {
	for _, x := range transports {
		t.Run(x.name, func(t *testing.T) { f(t, x.tr) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// inbox collects a client's "chat" events.
type inbox struct {
	ch chan json.RawMessage
}

func listen(c *client.Client, event string) *inbox {
	in := &inbox{ch: make(chan json.RawMessage, 10000)}
	c.On(event, func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
		in.ch <- data
		return nil, nil
	})
	return in
}

func (in *inbox) next(t *testing.T) json.RawMessage {
	t.Helper()
	select {
	case d := <-in.ch:
		return d
	case <-time.After(wait):
		t.Fatal("no event arrived")
		return nil
	}
}

func TestTwoClientsChat(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		alice, bob := dial(t, s, "alice", client.Options{Transport: tr}), dial(t, s, "bob", client.Options{Transport: tr})
		ctx := ctxT(t)
		bobIn, aliceIn := listen(bob, "chat"), listen(alice, "chat")
		_, err := alice.Join(ctx, "lobby")
		require.NoError(t, err)
		_, err = bob.Join(ctx, "lobby")
		require.NoError(t, err)

		ack, err := alice.EmitWithAck(ctx, "chat", map[string]string{"room": "lobby", "text": "hi bob"})
		require.NoError(t, err)
		require.JSONEq(t, `"ok"`, string(ack))
		require.JSONEq(t, `{"from":"alice","text":"hi bob"}`, string(bobIn.next(t)))

		require.NoError(t, bob.Emit(ctx, "chat", map[string]string{"room": "lobby", "text": "hi alice"}))
		require.JSONEq(t, `{"from":"bob","text":"hi alice"}`, string(aliceIn.next(t)))
		require.Empty(t, bobIn.ch, "the sender is excluded")
		require.NotEmpty(t, alice.SessionID())
	})
}

func TestAckErrorsAndTimeout(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		ctx := ctxT(t)

		_, err := c.EmitWithAck(ctx, "nope", nil)
		require.ErrorIs(t, err, &engine.Error{Code: engine.CodeUnknownEvent})

		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = c.EmitWithAck(short, "slow", nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)

		_, err = c.Join(ctx, "")
		require.ErrorIs(t, err, &engine.Error{Code: engine.CodeInvalidName})
	})
}

func TestServerAsksClient(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		c.On("add", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
			var xs []int
			if err := json.Unmarshal(data, &xs); err != nil {
				return nil, err
			}
			return xs[0] + xs[1], nil
		})
		c.On("refuse", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
			return nil, engine.NewError("no_way", "not today")
		})
		sess := s.e.Session(c.SessionID())
		require.NotNil(t, sess)
		ctx := ctxT(t)
		got, err := sess.EmitWithAck(ctx, "add", []int{2, 3})
		require.NoError(t, err)
		require.JSONEq(t, `5`, string(got))
		_, err = sess.EmitWithAck(ctx, "refuse", nil)
		require.ErrorIs(t, err, &engine.Error{Code: "no_way"})
	})
}

func TestRefusedConnection(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		opts := client.Options{Token: "bad", Logger: quiet, Transport: tr}
		_, err := client.Dial(ctxT(t), s.urlFor(opts), opts)
		require.ErrorIs(t, err, &engine.Error{Code: engine.CodeUnauthorized})
		require.Contains(t, err.Error(), "bad token")
		opts.Token = "banned"
		_, err = client.Dial(ctxT(t), s.urlFor(opts), opts)
		require.ErrorIs(t, err, &engine.Error{Code: engine.CodeForbidden})
		require.Contains(t, err.Error(), "banned")
	})
}

func TestReconnectRejoinsAndRecovers(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		var mu sync.Mutex
		var states []string
		c := dial(t, s, "alice", client.Options{Transport: tr})
		c.OnState(func(st client.State) {
			mu.Lock()
			states = append(states, st.Kind)
			mu.Unlock()
		})
		ctx := ctxT(t)
		offsets := make(chan uint64, 1000)
		c.On("n", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
			offsets <- m.Offset
			return nil, nil
		})
		_, err := c.Join(ctx, "feed")
		require.NoError(t, err)
		// A watcher keeps the room (and its history) alive.
		w := dial(t, s, "watcher", client.Options{Transport: tr})
		_, err = w.Join(ctx, "feed")
		require.NoError(t, err)

		require.NoError(t, s.e.To("feed").Emit("n", 1))
		require.Equal(t, uint64(1), <-offsets)

		first := c.SessionID()
		connected := c.Connected()
		<-connected
		// The server drops the client; events published while it is away must
		// arrive after it reconnects, once each, in order.
		s.e.Session(first).Close(engine.CloseReason{Code: engine.CloseInternal, Text: "test drop"})
		for i := 2; i <= 50; i++ {
			require.NoError(t, s.e.To("feed").Emit("n", i))
		}
		for want := uint64(2); want <= 50; want++ {
			select {
			case got := <-offsets:
				require.Equal(t, want, got)
			case <-time.After(wait):
				t.Fatalf("offset %d never arrived", want)
			}
		}
		require.NotEqual(t, first, c.SessionID())
		require.Equal(t, []string{"feed"}, c.Rooms())
		require.NoError(t, s.e.To("feed").Emit("n", 51))
		require.Equal(t, uint64(51), <-offsets)
		require.Empty(t, offsets, "no duplicates")
		mu.Lock()
		defer mu.Unlock()
		require.Contains(t, states, "disconnect")
		require.Contains(t, states, "reconnect")
	})
}

func TestResyncWhenGapIsTooOld(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{HistorySize: 5})
		c := dial(t, s, "alice", client.Options{Transport: tr})
		resync := make(chan string, 1)
		c.OnState(func(st client.State) {
			if st.Kind == "resync" {
				resync <- st.Room
			}
		})
		ctx := ctxT(t)
		_, err := c.Join(ctx, "feed")
		require.NoError(t, err)
		w := dial(t, s, "watcher", client.Options{Transport: tr})
		_, err = w.Join(ctx, "feed")
		require.NoError(t, err)
		// Hold the client away until 20 events (more than the history) passed.
		sid := c.SessionID()
		gate := make(chan struct{})
		c.OnState(func(st client.State) {
			if st.Kind == "reconnect_attempt" {
				<-gate
			}
			if st.Kind == "resync" {
				resync <- st.Room
			}
		})
		s.e.Session(sid).Close(engine.CloseReason{Code: engine.CloseInternal, Text: "test drop"})
		require.Eventually(t, func() bool { return s.e.Session(sid) == nil }, wait, time.Millisecond)
		for i := range 20 {
			require.NoError(t, s.e.To("feed").Emit("n", i))
		}
		close(gate)
		select {
		case room := <-resync:
			require.Equal(t, "feed", room)
		case <-time.After(wait):
			t.Fatal("no resync")
		}
	})
}

func TestServerShutdownIsGoingAway(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr client.Transport) {
		s := serve(t, engine.Config{})
		c := dial(t, s, "alice", client.Options{NoReconnect: true, Transport: tr})
		got := make(chan error, 1)
		c.OnState(func(st client.State) {
			if st.Kind == "disconnect" {
				got <- st.Err
			}
		})
		require.NoError(t, s.e.Shutdown(ctxT(t)))
		select {
		case err := <-got:
			var ce *client.CloseError
			require.True(t, errors.As(err, &ce), "got %v", err)
			require.Equal(t, engine.CloseGoingAway, ce.Code)
		case <-time.After(wait):
			t.Fatal("no disconnect")
		}
		require.ErrorIs(t, c.Emit(ctxT(t), "chat", nil), client.ErrDisconnected)
		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Emit(ctxT(t), "chat", nil), client.ErrClosed)
	})
}
