package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
)

// Mount the SSE transport on the application's own mux. A browser opens
// the stream with new EventSource("/events") and posts frames to
// "/events?session=<token>", the token being the part of each event's id
// before the dot.
func Example() {
	e := engine.New(engine.Config{})
	e.On("chat", func(_ context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return "ok", e.To("lobby").Except(s).Emit("chat", data)
	})

	h := sse.New(e, sse.Config{
		// Pages from the server's own origin may always connect; list any
		// other origin that serves the app.
		AllowedOrigins: []string{"https://app.example.com"},
	})
	mux := http.NewServeMux()
	mux.Handle("/events", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "the app") })

	srv := httptest.NewServer(mux) // in production: (&http.Server{Handler: mux}).ListenAndServe()
	defer srv.Close()

	// The stream: what EventSource does, by hand.
	resp, err := srv.Client().Get(srv.URL + "/events")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	var id string
	next := func() engine.Frame { // the next event's frame (one frame per event here)
		var f engine.Frame
		for lines.Scan() {
			line := lines.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				_ = json.Unmarshal([]byte(v), &f)
				return f
			}
		}
		return f
	}
	hello := next()
	fmt.Println(hello.Type, hello.Version)

	// Frames go up by POST; the answers come down the stream.
	token, _, _ := strings.Cut(id, ".")
	post, err := srv.Client().Post(srv.URL+"/events?session="+token, "application/json",
		strings.NewReader(`{"t":"join","room":"lobby","id":1}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	post.Body.Close()
	fmt.Println(post.StatusCode)
	ack := next()
	fmt.Println(ack.Type, ack.ID)

	// Shutdown: the engine closes every session with 1001 (a final close
	// frame on each stream), then the handler ends streams and timers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.Shutdown(ctx)
	_ = h.Close()
	end := next()
	fmt.Printf("%s %d %s\n", end.Type, end.Close.Code, end.Close.Text)
	// Output:
	// hello 1
	// 204
	// ack 1
	// close 1001 server shutting down
}
