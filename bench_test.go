package hubbub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/memory"
	"github.com/hubbubhq/hubbub/transport/ws"
)

func quietEngine(tb testing.TB, cfg engine.Config) *engine.Engine {
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(cfg)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

// joinClients connects n in-memory clients to room.
func joinClients(tb testing.TB, e *engine.Engine, n int, room string) []*memory.Client {
	clients := make([]*memory.Client, n)
	for i := range clients {
		c, err := memory.Dial(e, memory.Config{QueueBytes: 64 << 20})
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.Session().Join(room); err != nil {
			tb.Fatal(err)
		}
		clients[i] = c
	}
	return clients
}

// BenchmarkFanout measures one room event encoded once and queued to every
// member of a room on the in-memory transport: the engine's share of a
// broadcast. Deliveries are counted and must equal members × events.
func BenchmarkFanout(b *testing.B) {
	payload := json.RawMessage(`{"text":"hello, room","from":"bench"}`)
	for _, members := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			e := quietEngine(b, engine.Config{})
			clients := joinClients(b, e, members, "bench")
			drainEvery := max(1, 100000/members) // bounds queued frames to ~100k
			delivered := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := e.To("bench").Emit("msg", payload); err != nil {
					b.Fatal(err)
				}
				if i%drainEvery == drainEvery-1 {
					for _, c := range clients {
						delivered += c.Discard()
					}
				}
			}
			for _, c := range clients {
				delivered += c.Discard()
			}
			b.StopTimer()
			if want := b.N * members; delivered != want {
				b.Fatalf("delivered %d frames, want %d", delivered, want)
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(delivered)/sec, "deliveries/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/delivery")
		})
	}
}

// BenchmarkJoin measures sessions joining one room, including the store
// write and history setup; the target is 10,000 joins in under a second.
func BenchmarkJoin(b *testing.B) {
	const n = 10000
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		e := quietEngine(b, engine.Config{})
		clients := make([]*memory.Client, n)
		for i := range clients {
			c, err := memory.Dial(e, memory.Config{})
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = c
		}
		b.StartTimer()
		for _, c := range clients {
			if err := c.Session().Join("bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if got := e.PresenceCount("bench"); got != n {
			b.Fatalf("presence %d, want %d", got, n)
		}
		for _, c := range clients {
			c.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/join")
}

// BenchmarkDispatch measures one inbound emit with an ack: decode, run the
// handler on the session's worker, encode the ack.
func BenchmarkDispatch(b *testing.B) {
	e := quietEngine(b, engine.Config{})
	e.On("echo", func(ctx context.Context, s *engine.Session, data json.RawMessage) (any, error) {
		return data, nil
	})
	c, err := memory.Dial(e, memory.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msg := []byte(`{"t":"emit","ev":"echo","id":1,"d":{"n":1}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Send(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWSFanout measures room events fanned out to 1,000 subscribers
// over real loopback WebSocket connections (-short: 50), from Emit to the
// subscribers' read loops, every delivered frame counted: the engine, the
// WebSocket transport with its write coalescing, and the kernel. Client and
// server share the process and the CPUs, so allocs/op includes the
// subscribers' reads. One op is one event to every subscriber; events are
// published in windows of 256 so that no send queue overflows.
// cmd/hubbub-load measures the same over separate processes.
//
// publisher=held is the default: Emit waits while many subscribers have
// fallen 32 events behind (engine.Config.MaxLagWait). Here the subscribers'
// reading goroutines share the server's run queues, so a held publisher
// waits behind them for a CPU each time it resumes. publisher=free turns
// the wait off and measures what the fan-out path itself can carry.
func BenchmarkWSFanout(b *testing.B) {
	members := 1000
	if testing.Short() {
		members = 50
	}
	for _, p := range []struct {
		name    string
		lagWait time.Duration
	}{{"held", 0}, {"free", -1}} {
		b.Run(fmt.Sprintf("members=%d/publisher=%s", members, p.name), func(b *testing.B) {
			benchWSFanout(b, members, p.lagWait)
		})
	}
}

func benchWSFanout(b *testing.B, members int, lagWait time.Duration) {
	{
		e := quietEngine(b, engine.Config{MaxLagWait: lagWait})
		h := ws.New(e, ws.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), QueueBytes: 16 << 20})
		mux := http.NewServeMux()
		mux.Handle("/ws", h)
		srv := httptest.NewServer(mux)
		var delivered atomic.Int64
		var readers sync.WaitGroup
		// Cleanups run last-in first-out: close the connections, wait for
		// the readers, stop the server (then the engine).
		b.Cleanup(srv.Close)
		b.Cleanup(readers.Wait)
		b.Cleanup(func() { _ = h.Close() })
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
		for range members {
			c := dialJoined(b, url, "bench")
			readers.Add(1)
			go func() {
				defer readers.Done()
				emitTag := []byte(`{"t":"emit"`)
				buf := make([]byte, 0, 4096)
				for {
					_, r, err := c.NextReader()
					if err != nil {
						c.Close()
						return
					}
					buf = buf[:0]
					for err == nil {
						if len(buf) == cap(buf) {
							buf = append(buf, 0)[:len(buf)]
						}
						var n int
						n, err = r.Read(buf[len(buf):cap(buf)])
						buf = buf[:len(buf)+n]
					}
					delivered.Add(int64(bytes.Count(buf, emitTag)))
				}
			}()
		}
		waitFor := func(want int64) {
			deadline := time.Now().Add(30 * time.Second)
			for delivered.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("delivered %d frames, want %d", delivered.Load(), want)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}

		payload := json.RawMessage(`{"text":"hello, room","from":"bench"}`)
		const window = 256
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := e.To("bench").Emit("msg", payload); err != nil {
				b.Fatal(err)
			}
			if i%window == window-1 {
				waitFor(int64(i+1-window) * int64(members))
			}
		}
		want := int64(b.N) * int64(members)
		waitFor(want)
		b.StopTimer()
		if got := delivered.Load(); got != want {
			b.Fatalf("delivered %d frames, want %d", got, want)
		}
		if st := e.Stats(); st.SlowDisconnects != 0 {
			b.Fatalf("%d slow-consumer disconnects", st.SlowDisconnects)
		}
		b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
	}
}

// dialJoined opens a WebSocket to a hubbub server, reads the hello frame,
// joins room and returns once the join is acked.
func dialJoined(tb testing.TB, url, room string) *websocket.Conn {
	tb.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() []engine.Frame {
		_, msg, err := c.ReadMessage()
		if err != nil {
			tb.Fatal(err)
		}
		var frames []engine.Frame
		if err := engine.SplitBatch(msg, func(raw []byte) {
			var f engine.Frame
			if err := json.Unmarshal(raw, &f); err != nil {
				tb.Fatal(err)
			}
			frames = append(frames, f)
		}); err != nil {
			tb.Fatal(err)
		}
		return frames
	}
	if f := read(); f[0].Type != engine.TypeHello {
		tb.Fatalf("first frame %+v, want hello", f[0])
	}
	if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"t":"join","room":%q,"id":1}`, room)); err != nil {
		tb.Fatal(err)
	}
	for {
		for _, f := range read() {
			if f.Type == engine.TypeAck && f.ID == 1 {
				if f.Err != nil {
					tb.Fatalf("join: %v", f.Err)
				}
				c.SetReadDeadline(time.Time{})
				return c
			}
		}
	}
}
