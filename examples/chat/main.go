// Command chat is a small chat on hubbub: pick a name, join or create
// rooms, see who is online and who is typing, get the recent history when
// joining and a ✓ when the server has your message.
//
//	go run ./examples/chat              # then open http://localhost:8080/ in two tabs
//	go run ./examples/chat -addr :9000  # listen elsewhere (all interfaces)
//	go run ./examples/chat -no-websocket # refuse WebSocket: watch the pages fall back to SSE
//
// The page takes its settings from the URL: ?name=alice&room=lobby joins at
// once, and ?transport=sse or ?transport=longpoll forces a transport of the
// browser client (by default it tries WebSocket, then SSE, then long-poll).
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"

	"github.com/hubbubhq/hubbub/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (host:port)")
	noWS := flag.Bool("no-websocket", false, "refuse WebSocket upgrades (403), as some proxies do: browsers fall back to SSE")
	flag.Parse()

	ln, url, err := serve.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := newServer(slog.Default())
	var h http.Handler = srv
	if *noWS {
		h = refuseWebSocket(srv)
	}
	fmt.Printf("hubbub chat: open %s in two browser tabs (Ctrl-C stops)\n", url)
	if err := serve.Run(ln, h, srv.Close); err != nil {
		log.Fatal(err)
	}
}
