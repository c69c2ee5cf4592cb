package main

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	hubbubjs "github.com/hubbubhq/hubbub/client/js"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/memory"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

//go:embed static
var static embed.FS

const (
	statsRoom = "stats" // viewers join it; the server emits a sample to it every interval
	loadRoom  = "load"  // the load generator's subscribers and publisher meet here
)

// options configure the dashboard server.
type options struct {
	Interval    time.Duration // between two samples; default 1 s
	Load        float64       // events per second published to the load room; 0 for none
	Subscribers int           // in-process sessions in the load room (each gets every load event)
	Logger      *slog.Logger
}

// sample is what every viewer receives each interval.
type sample struct {
	T      int64   `json:"t"`      // Unix milliseconds
	Uptime float64 `json:"uptime"` // seconds

	// The Go runtime.
	Goroutines  int     `json:"goroutines"`
	HeapAlloc   uint64  `json:"heap_alloc"` // bytes of live and not yet collected heap objects
	Sys         uint64  `json:"sys"`        // bytes obtained from the OS
	NumGC       uint32  `json:"gc"`         // completed GC cycles
	GCPause     uint64  `json:"gc_pause_ns"`
	GCPerSecond float64 `json:"gc_per_sec"`

	// The engine (engine.Stats) and rates over the last interval.
	engine.Stats
	First           bool    `json:"first,omitempty"` // the first sample has no rates
	PublishedPerSec float64 `json:"published_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`
	ReceivedPerSec  float64 `json:"received_per_sec"`

	// The load generator's settings, and the sessions the server holds
	// itself (load subscribers, and one that keeps the stats room open).
	Load        float64 `json:"load"`
	Subscribers int     `json:"subscribers"`
	InProcess   int     `json:"in_process"`
}

type server struct {
	engine *engine.Engine
	ws     *ws.Handler
	sse    *sse.Handler
	mux    *http.ServeMux
	opts   options
	start  time.Time

	ctx    context.Context // ends at Close: stops the sampler and the load generator
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*memory.Client
}

// newServer builds the dashboard and starts its sampler and, with
// opts.Load > 0, its load generator. Close stops everything.
func newServer(opts options) (*server, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &server{mux: http.NewServeMux(), opts: opts, start: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.engine = engine.New(engine.Config{
		Logger: opts.Logger,
		// Only the dashboard's two rooms; viewers are anonymous.
		AuthorizeJoin: func(_ context.Context, _ *engine.Session, room string) error {
			if room != statsRoom {
				return engine.NewError(engine.CodeForbidden, "viewers may join %q only", statsRoom)
			}
			return nil
		},
		HistorySize: 120, // two minutes of samples at 1 s: a new viewer's chart starts full
	})
	s.ws = ws.New(s.engine, ws.Config{Logger: opts.Logger})
	s.mux.Handle("/ws", s.ws)
	// The same sessions over Server-Sent Events and long-poll, for networks
	// where WebSocket does not get through (the browser client falls back).
	s.sse = sse.New(s.engine, sse.Config{Logger: opts.Logger})
	s.mux.Handle("/sse", s.sse)
	s.mux.Handle("/hubbub.js", hubbubjs.Handler())
	page, _ := fs.Sub(static, "static")
	s.mux.Handle("/", http.FileServerFS(page))

	// The stats room exists from the start, so samples are kept for the
	// first viewer even before anyone watches.
	if err := s.subscribe(statsRoom); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Load > 0 {
		for range opts.Subscribers {
			if err := s.subscribe(loadRoom); err != nil {
				s.Close()
				return nil, err
			}
		}
		s.wg.Add(1)
		go s.generate()
	}
	s.wg.Add(1)
	go s.sampleLoop()
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the sampler and the load, closes every session with 1001
// and waits for the connections to end.
func (s *server) Close() {
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.engine.Shutdown(ctx)
	_ = s.ws.Close()
	_ = s.sse.Close()
}

// subscribe adds an in-process session to room and reads (and drops)
// everything it receives until Close.
func (s *server) subscribe(room string) error {
	c, err := memory.Dial(s.engine, memory.Config{})
	if err != nil {
		return err
	}
	if err := c.Session().Join(room); err != nil {
		c.Close()
		return err
	}
	s.subs = append(s.subs, c)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer c.Close()
		for {
			if _, err := c.Next(s.ctx); err != nil {
				return
			}
			c.Discard() // the rest of what is queued, without decoding it
		}
	}()
	return nil
}

// generate publishes opts.Load events per second to the load room, in
// small bursts every 20 ms.
func (s *server) generate() {
	defer s.wg.Done()
	const tick = 20 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var credit float64
	var n uint64
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		credit += s.opts.Load * tick.Seconds()
		for ; credit >= 1; credit-- {
			n++
			_ = s.engine.To(loadRoom).Emit("tick", map[string]any{"n": n, "t": time.Now().UnixMilli()})
		}
	}
}

// sampleLoop emits a sample to the stats room every interval.
func (s *server) sampleLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	var prev sample
	for {
		cur := s.sample(prev)
		_ = s.engine.To(statsRoom).Emit("stats", cur)
		prev = cur
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes the current figures, with rates against prev.
func (s *server) sample(prev sample) sample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms) // stops the world for a few µs: fine once a second
	now := time.Now()
	cur := sample{
		T:           now.UnixMilli(),
		Uptime:      now.Sub(s.start).Seconds(),
		Goroutines:  runtime.NumGoroutine(),
		HeapAlloc:   ms.HeapAlloc,
		Sys:         ms.Sys,
		NumGC:       ms.NumGC,
		GCPause:     ms.PauseNs[(ms.NumGC+255)%256],
		Stats:       s.engine.Stats(),
		Load:        s.opts.Load,
		Subscribers: s.opts.Subscribers,
		InProcess:   len(s.subs),
	}
	if s.opts.Load <= 0 {
		cur.Subscribers = 0
	}
	cur.First = prev.T == 0
	if !cur.First {
		dt := float64(cur.T-prev.T) / 1000
		if dt > 0 {
			cur.PublishedPerSec = float64(cur.Published-prev.Published) / dt
			cur.DeliveredPerSec = float64(cur.Delivered-prev.Delivered) / dt
			cur.ReceivedPerSec = float64(cur.Received-prev.Received) / dt
			cur.GCPerSecond = float64(cur.NumGC-prev.NumGC) / dt
		}
	}
	return cur
}
