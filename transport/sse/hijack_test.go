package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
)

// unwrapping is middleware's usual ResponseWriter wrapper: it exposes the
// writer it wraps, so http.ResponseController can take the connection.
type unwrapping struct{ http.ResponseWriter }

func (u unwrapping) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// hiding wraps a ResponseWriter so that it can flush but not hand over
// its connection, like an HTTP/2 response.
type hiding struct {
	http.ResponseWriter
	http.Flusher
}

// middleware wraps every request's ResponseWriter with wrap and counts the
// requests that returned. With gzip it also marks the response as a
// compressed body, as compression middleware does before it wraps the
// writer in a compressor.
func middleware(wrap func(http.ResponseWriter) http.ResponseWriter, gzip bool, returned *atomic.Int64) func(*httptest.Server) {
	return func(srv *httptest.Server) {
		next := srv.Config.Handler
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if gzip {
				w.Header().Set("Content-Encoding", "gzip")
			}
			next.ServeHTTP(wrap(w), r)
			returned.Add(1)
		})
	}
}

// Over HTTP/1.1 a stream takes its connection from net/http: the request
// returns at once while the stream goes on, and the response head carries
// no body encoding (the events are written as they are) and closes the
// connection at the end.
func TestStreamTakesTheConnection(t *testing.T) {
	var returned atomic.Int64
	v := start(t, engine.Config{}, sse.Config{},
		middleware(func(w http.ResponseWriter) http.ResponseWriter { return unwrapping{w} }, true, &returned))
	c := v.dial(t) // a body marked as gzip would not decode
	require.Equal(t, "nosniff", c.resp.Header.Get("X-Content-Type-Options"))
	require.Eventually(t, func() bool { return returned.Load() == 1 }, wait, time.Millisecond,
		"the stream's request returned")

	c.join("lobby") // a POST: one more request
	require.NoError(t, v.e.To("lobby").Emit("news", 1))
	require.Equal(t, engine.Frame{Type: engine.TypeEmit, Event: "news", Room: "lobby", Offset: 1, Data: raw(`1`)}, c.next())
}

// Where the connection cannot be taken, the stream runs in its request,
// through the ResponseWriter, and works the same.
func TestStreamWithoutTakingTheConnection(t *testing.T) {
	var returned atomic.Int64
	v := start(t, engine.Config{}, sse.Config{},
		middleware(func(w http.ResponseWriter) http.ResponseWriter { return hiding{w, w.(http.Flusher)} }, false, &returned))
	c := v.dial(t)
	c.join("lobby")
	require.NoError(t, v.e.To("lobby").Emit("news", 1))
	require.Equal(t, engine.Frame{Type: engine.TypeEmit, Event: "news", Room: "lobby", Offset: 1, Data: raw(`1`)}, c.next())
	require.EqualValues(t, 1, returned.Load(), "only the join's request returned; the stream's is still running")
}

// rawStream sends a stream request on a plain TCP connection and returns
// the connection and the response head's lines.
func rawStream(t *testing.T, v *env, extra string) (net.Conn, *bufio.Reader, []string) {
	t.Helper()
	conn, err := net.Dial("tcp", v.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(wait)))
	_, err = conn.Write([]byte("GET /sse HTTP/1.1\r\nHost: hubbub\r\n\r\n" + extra))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	var head []string
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return conn, br, head
		}
		head = append(head, line)
	}
}

// The head of a stream that took its connection: 200 with a Date, the
// handler's and the middleware's fields, and Connection: close; no field
// that describes the body's encoding, none with an invalid name, no
// trailer, values trimmed as net/http trims them.
func TestStreamHead(t *testing.T) {
	var returned atomic.Int64
	v := start(t, engine.Config{}, sse.Config{}, func(srv *httptest.Server) {
		next := srv.Config.Handler
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Encoding", "gzip")
			h["Bad Name"] = []string{"x"}
			h["X-Evil\r\nSet-Cookie: pwned=1\r\nX-A"] = []string{"x"}
			h[http.TrailerPrefix+"X-T"] = []string{"x"}
			h.Set("X-Padded", "  v  ")
			next.ServeHTTP(w, r)
			returned.Add(1)
		})
	})
	_, br, head := rawStream(t, v, "")
	require.Equal(t, "HTTP/1.1 200 OK", head[0])
	fields := map[string]string{}
	for _, l := range head[1:] {
		k, val, ok := strings.Cut(l, ": ")
		require.True(t, ok, "field line %q", l)
		fields[k] = val
	}
	require.Equal(t, "text/event-stream", fields["Content-Type"])
	require.Equal(t, "close", fields["Connection"])
	require.Equal(t, "v", fields["X-Padded"])
	_, err := time.Parse(http.TimeFormat, fields["Date"])
	require.NoError(t, err, "Date %q", fields["Date"])
	for _, k := range []string{"Content-Encoding", "Bad Name", "Set-Cookie", "X-A", "Trailer:X-T", "Transfer-Encoding", "Content-Length"} {
		require.NotContains(t, fields, k)
	}
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "retry: "), "the body starts with the retry hint, not a chunk size: %q", line)
}

// A client that sends anything on its stream's connection after the
// request ends that stream (the server does not read and drop its bytes).
func TestStreamEndsWhenClientSends(t *testing.T) {
	v := start(t, engine.Config{}, sse.Config{})
	conn, br, _ := rawStream(t, v, "")
	_, err := br.ReadString('\n') // the retry hint: the stream runs
	require.NoError(t, err)
	_, err = conn.Write([]byte("GET /sse HTTP/1.1\r\nHost: hubbub\r\n\r\n"))
	require.NoError(t, err)
	// The server closes the connection: EOF, or a reset as the bytes it
	// did not read were still queued; not the deadline.
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the connection was still open at the deadline")
}

// Handler.Close waits for streams that took their connection: while a
// stream's last write is blocked, Close does not return.
func TestCloseWaitsForTakenStreams(t *testing.T) {
	g := &gate{}
	v := start(t, engine.Config{}, sse.Config{}, g.setup)
	v.dial(t)
	g.close()
	closed := make(chan error, 1)
	go func() { closed <- v.h.Close() }()
	select {
	case <-closed:
		g.open()
		t.Fatal("Close returned while a stream was still writing")
	case <-time.After(100 * time.Millisecond):
	}
	g.open()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Close did not return once the stream could write")
	}
}

// Over HTTP/2 a stream cannot take its connection: it runs in its request
// and delivers the same events.
func TestStreamOverHTTP2(t *testing.T) {
	e := engine.New(engine.Config{Logger: quiet})
	h := sse.New(e, sse.Config{Logger: quiet})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		require.NoError(t, e.Shutdown(context.Background()))
		require.NoError(t, h.Close())
		srv.Close()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 2, resp.ProtoMajor)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	br := bufio.NewReader(resp.Body)
	var data string
	for found := false; !found; {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		data, found = strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
	}
	var hello engine.Frame
	require.NoError(t, json.Unmarshal([]byte(data), &hello))
	require.Equal(t, engine.TypeHello, hello.Type)
	require.Equal(t, 1, e.Stats().Sessions)
}
