package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/ws"
)

// Mount the WebSocket transport on the application's own mux, next to its
// other routes, and shut it down after the engine.
func Example() {
	e := engine.New(engine.Config{})
	e.On("chat", func(_ context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return nil, e.To("lobby").Except(s).Emit("chat", data)
	})

	h := ws.New(e, ws.Config{
		// Pages served from the server's own origin may always connect;
		// list any other origin that serves the app.
		AllowedOrigins: []string{"https://app.example.com"},
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "the app") })

	srv := httptest.NewServer(mux) // in production: (&http.Server{Handler: mux}).ListenAndServe()
	defer srv.Close()

	// A client: a browser's new WebSocket(url), here gorilla's dialer.
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, msg, _ := c.ReadMessage()
	var hello engine.Frame
	_ = json.Unmarshal(msg, &hello)
	fmt.Println(hello.Type, hello.Version)

	// Shutdown: the engine closes every session with 1001, then the
	// handler waits for the connections to end and stops melody.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.Shutdown(ctx)
	_ = h.Close()

	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println(ce.Code, ce.Text)
	}
	// Output:
	// hello 1
	// 1001 server shutting down
}
