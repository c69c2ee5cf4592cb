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
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on (host:port)")
	noWS := flag.Bool("no-websocket", false, "refuse WebSocket upgrades (403), as some proxies do: browsers fall back to SSE")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := newServer(slog.Default())
	var h http.Handler = srv
	if *noWS {
		h = refuseWebSocket(srv)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}

	fmt.Printf("hubbub chat: open %s in two browser tabs (Ctrl-C stops)\n", pageURL(ln.Addr()))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close() // clients get 1001 "server shutting down" and reconnect later
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// pageURL is the URL to print for a listening address: localhost for
// loopback and unspecified hosts, so that it can be clicked.
func pageURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsLoopback() || tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}
