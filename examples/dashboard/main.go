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
	"flag"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/hubbubhq/hubbub/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "localhost:8081", "address to listen on (host:port)")
	load := flag.Float64("load", 50, "events per second published to the load room (0: no load)")
	subs := flag.Int("subscribers", 20, "in-process sessions in the load room")
	every := flag.Duration("every", time.Second, "time between two samples")
	flag.Parse()

	ln, url, err := serve.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := newServer(options{Interval: *every, Load: *load, Subscribers: *subs, Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("hubbub dashboard: open %s (load: %g events/s to %d subscribers; Ctrl-C stops)\n", url, *load, *subs)
	if err := serve.Run(ln, srv, srv.Close); err != nil {
		log.Fatal(err)
	}
}
