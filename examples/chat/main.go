// Command chat is a small chat on hubbub: pick a name, join or create
// rooms, see who is online and who is typing, get the recent history when
// joining and a ✓ when the server has your message.
//
//	go run ./examples/chat              # then open http://localhost:8080/ in two tabs
//	go run ./examples/chat -addr :9000  # listen elsewhere (all interfaces)
//
// The page takes its settings from the URL: ?name=alice&room=lobby joins at
// once, and ?transport=sse or ?transport=longpoll forces a transport of the
// browser client (WebSocket is the default).
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
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := newServer(slog.Default())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}

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
