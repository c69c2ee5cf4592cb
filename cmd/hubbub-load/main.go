// hubbub-load connects N subscribers to room "bench" of a hubbub bench
// server (cmd/hubbub-bench-server) over one transport, samples the server's
// idle memory, triggers a burst of K messages of S bytes and counts every
// delivery. It prints one JSON line:
//
//	{"transport":"ws","clients":1000,"count":1000,"size":64,"deliveries":1000000,"lost":0,
//	 "seconds":0.61,"deliveries_per_sec":1639344,"p50_ms":…,"p99_ms":…,"max_ms":…,
//	 "rss_before_mb":…,"rss_idle_mb":…,"bytes_per_conn":…}
//
// With -extra the line also carries diagnostics (dial and publish times,
// frames received, disconnects, load average, the server's /stats, error).
// The exit status is 1 when the run failed or lost messages.
//
// Usage:
//
//	hubbub-bench-server -addr 127.0.0.1:8100 &
//	hubbub-load -server http://127.0.0.1:8100 -transport ws -clients 1000 -count 1000 -size 64
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/hubbubhq/hubbub/cmd/internal/load"
	"github.com/hubbubhq/hubbub/cmd/internal/proc"
)

func main() {
	var cfg load.Config
	flag.StringVar(&cfg.Transport, "transport", "ws", "transport: "+strings.Join(load.Transports(), ", "))
	flag.StringVar(&cfg.Server, "server", "http://127.0.0.1:8100", "base URL of the bench server")
	flag.IntVar(&cfg.Clients, "clients", 1000, "subscribers")
	flag.IntVar(&cfg.Count, "count", 1000, "messages in the burst")
	flag.IntVar(&cfg.Size, "size", 64, "payload bytes per message")
	flag.IntVar(&cfg.DialConcurrency, "dial-concurrency", 32, "subscribes in flight")
	flag.IntVar(&cfg.DialRate, "dial-rate", 2000, "subscribes started per second (negative: unpaced)")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "max time from the burst until every client has all messages (default 40s)")
	flag.DurationVar(&cfg.Idle, "idle", 0, "give up after no delivery for this long once /burst returned (default 5s)")
	flag.DurationVar(&cfg.Settle, "settle", 0, "pause after all subscribed before sampling idle RSS (default 1s)")
	flag.IntVar(&cfg.PID, "pid", 0, "server PID for RSS (default: GET /pid)")
	extra := flag.Bool("extra", false, "add diagnostics to the JSON line")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	cpuprofile := flag.String("cpuprofile", "", "write the load tool's own CPU profile to this file")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("hubbub-load: ")
	if !*quiet {
		cfg.Logf = log.Printf
	}

	// Each client is one socket here (and one in the server).
	if limit, ok := proc.RaiseFileLimit(uint64(cfg.Clients) + 64); !ok {
		log.Fatalf("open-file limit %d is too low for %d clients: raise the hard limit (ulimit -Hn)", limit, cfg.Clients)
	}
	stopProfile, err := proc.StartCPUProfile(*cpuprofile)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res := load.Run(ctx, cfg)
	fmt.Println(string(res.JSON(*extra)))
	if res.Extra.Error != "" || res.Extra.TimedOut != "" || res.Lost != 0 {
		if res.Extra.Error != "" {
			log.Print(res.Extra.Error)
		}
		stopProfile() // os.Exit skips the deferred stop
		os.Exit(1)
	}
}
