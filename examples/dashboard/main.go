// Command dashboard shows hubbub pushing data to browsers on its own
// initiative: every second the server samples its Go runtime (goroutines,
// heap, GC) and its engine (sessions, rooms, events published and
// delivered per second) and emits the figures to every viewer, whose page
// draws them as live charts.
//
//	go run ./examples/dashboard                        # http://localhost:8081/
//	go run ./examples/dashboard -load 2000 -subscribers 100
//
// The load generator publishes -load events per second to a room of
// -subscribers in-process sessions, so that the charts have something to
// show; -load 0 turns it off.
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
	addr := flag.String("addr", "localhost:8081", "address to listen on (host:port)")
	load := flag.Float64("load", 50, "events per second published to the load room (0: no load)")
	subs := flag.Int("subscribers", 20, "in-process sessions in the load room")
	every := flag.Duration("every", time.Second, "time between two samples")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := newServer(options{Interval: *every, Load: *load, Subscribers: *subs, Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("hubbub dashboard: open %s (load: %g events/s to %d subscribers; Ctrl-C stops)\n", pageURL(ln.Addr()), *load, *subs)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
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
