package hubbub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/memory"
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
