package sse_test

import (
	"net/http"
	"net/http/httptest"
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
	c := v.dial(t)
	require.Empty(t, c.resp.Header.Get("Content-Encoding"))
	require.True(t, c.resp.Close, "Connection: close")
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
