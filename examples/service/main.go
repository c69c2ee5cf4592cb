// Command service is a backend job that reports into a chat room through
// the Go client: the shape of a real integration, where a CI runner, a
// payment worker or a deploy script tells the people watching a page what
// it is doing.
//
// It connects to the chat example as "build-bot", joins a room, and posts
// the steps of simulated builds every few seconds, waiting for the server's
// acknowledgement of each. Mention it in the room ("@build-bot status") and
// it answers. It reconnects by itself when the chat restarts.
//
//	go run ./examples/chat                  # terminal 1
//	go run ./examples/service               # terminal 2
//	open http://localhost:8080/?room=builds # and watch
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hubbubhq/hubbub/client"
)

func main() {
	cfg := config{Log: slog.Default()}
	flag.StringVar(&cfg.URL, "url", "ws://localhost:8080/ws", "the chat's WebSocket endpoint")
	flag.StringVar(&cfg.Name, "name", "build-bot", "the name to post as")
	flag.StringVar(&cfg.Room, "room", "builds", "the room to post to")
	flag.DurationVar(&cfg.Every, "every", 3*time.Second, "time between two status lines")
	flag.IntVar(&cfg.Count, "count", 0, "status lines to post before exiting (0: until Ctrl-C)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil && !errors.Is(err, context.Canceled) {
		cfg.Log.Error("build-bot stopped", "err", err)
		os.Exit(1)
	}
}

type config struct {
	URL   string        // WebSocket endpoint, e.g. ws://localhost:8080/ws
	Name  string        // user name (the chat's ?name=)
	Room  string        // room to post to
	Every time.Duration // between two status lines
	Count int           // lines to post; 0 for no limit
	Log   *slog.Logger
}

// chatMessage is what the chat's "chat" event carries, both ways.
type chatMessage struct {
	Room string `json:"room,omitempty"`
	ID   string `json:"id"`
	From string `json:"from,omitempty"`
	Text string `json:"text"`
}

// run connects, joins cfg.Room and posts status lines until ctx ends or
// cfg.Count lines were posted.
func run(ctx context.Context, cfg config) error {
	c, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	c.OnState(func(s client.State) {
		switch s.Kind {
		case "disconnect":
			cfg.Log.Warn("build-bot: disconnected; reconnecting", "err", s.Err)
		case "reconnect":
			cfg.Log.Info("build-bot: reconnected; rejoined the rooms", "session", s.Session)
		}
	})
	if _, err := c.Join(ctx, cfg.Room); err != nil {
		return fmt.Errorf("joining %q: %w", cfg.Room, err)
	}
	cfg.Log.Info("build-bot: posting", "room", cfg.Room, "url", cfg.URL)

	b := &bot{c: c, cfg: cfg}
	// Answer mentions: handlers run on the client's own goroutine, one at
	// a time, and may send.
	c.On("chat", func(ctx context.Context, data json.RawMessage, m client.Meta) (any, error) {
		var msg chatMessage
		if err := json.Unmarshal(data, &msg); err != nil || m.Room != cfg.Room {
			return nil, nil
		}
		if strings.Contains(strings.ToLower(msg.Text), "@"+strings.ToLower(cfg.Name)) {
			b.post(ctx, fmt.Sprintf("@%s %s", msg.From, b.status()))
		}
		return nil, nil
	})

	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for posted := 0; cfg.Count == 0 || posted < cfg.Count; posted++ {
		b.post(ctx, b.step())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// dial connects, retrying while the chat is not up yet.
func dial(ctx context.Context, cfg config) (*client.Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("name", cfg.Name) // the chat's way to say who we are (a real service sends a token)
	u.RawQuery = q.Encode()
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		c, err := client.Dial(ctx, u.String(), client.Options{Logger: cfg.Log})
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		cfg.Log.Warn("build-bot: cannot reach the chat yet (is `go run ./examples/chat` running?)", "url", cfg.URL, "err", err, "retry in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// bot simulates a build pipeline and posts its progress.
type bot struct {
	c   *client.Client
	cfg config

	mu      sync.Mutex
	build   int       // current build number
	stage   int       // index in stages of the next step; -1 before a build starts
	started time.Time // of the current build
	last    string    // last status line
	sent    int       // messages posted, for ids
}

var stages = []string{"checkout", "compile", "unit tests", "integration tests", "package"}

// step advances the pipeline and returns the line to post.
func (b *bot) step() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var line string
	switch {
	case b.build == 0 || b.stage > len(stages):
		b.build++
		b.stage = 0
		b.started = time.Now()
		line = fmt.Sprintf("▶ build #%d started (commit %07x)", b.build, uint32(b.build)*2654435761>>4)
	case b.stage == len(stages):
		line = fmt.Sprintf("✓ build #%d passed in %s", b.build, time.Since(b.started).Round(time.Second))
		b.stage++
	case b.build%4 == 0 && stages[b.stage] == "integration tests":
		line = fmt.Sprintf("✗ build #%d failed: integration tests (TestCheckout timed out)", b.build)
		b.stage = len(stages) + 1 // the next step starts a new build
	default:
		line = fmt.Sprintf("build #%d: %s (%d/%d)…", b.build, stages[b.stage], b.stage+1, len(stages))
		b.stage++
	}
	b.last = line
	return line
}

// status describes the build in progress, for mentions.
func (b *bot) status() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == "" {
		return "no build yet"
	}
	return "latest: " + b.last
}

// post sends one line and waits for the server's acknowledgement, for at
// most 10 s. A line that is not acknowledged (disconnected, refused) is
// logged and not retried: the next status line supersedes it.
func (b *bot) post(ctx context.Context, text string) {
	b.mu.Lock()
	b.sent++
	id := fmt.Sprintf("%s-%d-%d", b.cfg.Name, time.Now().UnixNano(), b.sent)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.c.EmitWithAck(ctx, "chat", chatMessage{Room: b.cfg.Room, ID: id, Text: text}); err != nil {
		b.cfg.Log.Warn("build-bot: not posted", "text", text, "err", err)
		return
	}
	b.cfg.Log.Info("build-bot: posted", "text", text)
}
