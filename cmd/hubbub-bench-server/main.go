// hubbub-bench-server runs a hubbub engine with every transport (WebSocket
// at /ws) and the control endpoints of the peer benchmarks, for
// cmd/hubbub-load and scripts/compare.sh:
//
//	GET  /pid                   the process id
//	GET  /subscribers           sessions in room "bench"
//	GET  /stats                 engine.Stats and runtime figures (JSON)
//	POST /burst?count=K&size=S  publish K payloads of S bytes to room "bench"
//
// Profiling: -cpuprofile writes a CPU profile from start to exit (SIGINT or
// SIGTERM); -debug serves net/http/pprof on a second address, e.g.
//
//	go tool pprof -seconds 5 http://127.0.0.1:6060/debug/pprof/profile
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // on the -debug address only (http.DefaultServeMux)
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hubbubhq/hubbub/cmd/internal/benchsrv"
	"github.com/hubbubhq/hubbub/cmd/internal/proc"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8100", "listen address")
	debug := flag.String("debug", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file, from start to exit")
	queue := flag.Int("queue-bytes", 0, "WebSocket send queue per connection in bytes (0: transport default)")
	writes := flag.Int("ws-writes", 0, "ws.Config.MaxWritesPerSecond (0 or negative: no bound, the default)")
	lagWait := flag.Duration("lag-wait", 0, "engine.Config.MaxLagWait (0: engine default, negative: publishers never wait)")
	sseWrites := flag.Int("sse-writes", 0, "sse.Config.MaxWritesPerSecond (0: transport default, negative: no bound)")
	verbose := flag.Bool("v", false, "log info lines (refused connections, bad frames)")
	flag.Parse()
	log.SetPrefix("hubbub-bench-server: ")

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if limit, ok := proc.RaiseFileLimit(10_064); !ok {
		log.Printf("warning: open-file limit is %d", limit)
	}
	stopProfile, err := proc.StartCPUProfile(*cpuprofile)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	if *debug != "" {
		go func() { log.Print(http.ListenAndServe(*debug, nil)) }()
	}

	srv := benchsrv.New(benchsrv.Config{Logger: logger, Engine: engine.Config{MaxLagWait: *lagWait}, WS: ws.Config{QueueBytes: *queue, MaxWritesPerSecond: *writes},
		SSE: sse.Config{MaxWritesPerSecond: *sseWrites}})
	hs := &http.Server{Addr: *addr, Handler: srv}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Printf("pid %d listening on %s, transports %v", os.Getpid(), *addr, benchsrv.Transports())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Printf("%v: shutting down", s)
	case err := <-errc:
		log.Print(err) // deferred profile still written
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		log.Print(err)
	}
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
