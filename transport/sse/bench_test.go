package sse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/ssewire"
	"github.com/hubbubhq/hubbub/transport/sse"
)

// benchServer is an engine whose sessions join room "bench" on connect,
// served over SSE on loopback.
type benchServer struct {
	e   *engine.Engine
	h   *sse.Handler
	srv *httptest.Server
	tr  *http.Transport
	hc  *http.Client
}

func newBenchServer(b *testing.B, scfg sse.Config) *benchServer {
	b.Helper()
	e := engine.New(engine.Config{
		Logger:      quiet,
		HistorySize: -1,
		OnConnect:   func(s *engine.Session) { _ = s.Join("bench") },
	})
	scfg.Logger = quiet
	h := sse.New(e, scfg)
	mux := http.NewServeMux()
	mux.Handle("/sse", h)
	srv := httptest.NewServer(mux)
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	return &benchServer{e: e, h: h, srv: srv, tr: tr, hc: &http.Client{Transport: tr}}
}

func (s *benchServer) close(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.e.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	_ = s.h.Close()
	s.srv.Close()
	s.tr.CloseIdleConnections()
}

var emitPrefix = []byte(`{"t":"emit"`)

// BenchmarkStreamFanout publishes to a room of 1,000 SSE subscribers on
// loopback and counts every frame every subscriber parses. One op is one
// message delivered to all of them. Messages go in bursts (1: one message
// at a time, round trip bound; 100: several frames per flush), and the
// next burst waits until every subscriber has counted the last one, so
// queues stay bounded. Client-side parsing runs on the same two cores and
// is included in the time and allocations.
func BenchmarkStreamFanout(b *testing.B) {
	for _, burst := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=1000/burst=%d", burst), func(b *testing.B) { benchFanout(b, 1000, burst) })
	}
}

func benchFanout(b *testing.B, subscribers, burst int) {
	s := newBenchServer(b, sse.Config{})
	defer s.close(b)

	var (
		target  atomic.Int64 // messages each subscriber must count before it reports
		events  atomic.Int64 // SSE events read, all subscribers
		counted sync.WaitGroup
		readers sync.WaitGroup
		ready   sync.WaitGroup
		bodies  []io.Closer
	)
	ready.Add(subscribers)
	for range subscribers {
		resp, err := s.hc.Get(s.srv.URL + "/sse")
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
		readers.Go(func() {
			r := ssewire.NewReader(resp.Body)
			var got int64
			first := true
			for {
				ev, err := r.Next()
				if err != nil {
					return
				}
				if first {
					first = false
					ready.Done() // the hello: the session is in the room
				}
				events.Add(1)
				n := int64(bytes.Count(ev.Data, emitPrefix))
				if n == 0 {
					continue
				}
				before := got
				got += n
				if t := target.Load(); before < t && got >= t {
					counted.Done()
				}
			}
		})
	}
	ready.Wait()
	payload := json.RawMessage(`"` + strings.Repeat("x", 64) + `"`)
	events.Store(0)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(burst, b.N-sent)
		counted.Add(subscribers)
		target.Store(int64(sent + n))
		for range n {
			if err := s.e.To("bench").Emit("m", payload); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
		counted.Wait()
	}
	elapsed := time.Since(start)
	b.StopTimer()

	deliveries := float64(b.N) * float64(subscribers)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(deliveries/float64(events.Load()), "frames/event")
	if st := s.e.Stats(); st.SlowDisconnects != 0 {
		b.Fatalf("%d slow disconnects", st.SlowDisconnects)
	}
	for _, c := range bodies {
		c.Close()
	}
	readers.Wait()
}

// BenchmarkLongPoll measures long-poll delivery: pollers clients each
// poll in a loop while the server publishes to their room, keeping at most
// 2,000 messages ahead of the slowest. One op is one message delivered to
// every poller.
func BenchmarkLongPoll(b *testing.B) {
	for _, pollers := range []int{1, 100} {
		b.Run(fmt.Sprintf("pollers=%d", pollers), func(b *testing.B) { benchLongPoll(b, pollers) })
	}
}

func benchLongPoll(b *testing.B, pollers int) {
	const window = 2000
	s := newBenchServer(b, sse.Config{})
	defer s.close(b)

	type answer struct {
		Session string            `json:"session"`
		Cursor  uint64            `json:"cursor"`
		Frames  []json.RawMessage `json:"frames"`
	}
	get := func(u string) (answer, error) {
		var a answer
		resp, err := s.hc.Get(u)
		if err != nil {
			return a, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return a, fmt.Errorf("poll: %d %s", resp.StatusCode, body)
		}
		return a, json.NewDecoder(resp.Body).Decode(&a)
	}

	var (
		slowest = make([]atomic.Int64, pollers) // messages each poller has counted
		polls   atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, pollers)
		goal    atomic.Int64
	)
	goal.Store(int64(b.N))
	opened := make([]answer, pollers)
	for i := range opened {
		a, err := get(s.srv.URL + "/sse?mode=poll")
		if err != nil {
			b.Fatal(err)
		}
		opened[i] = a
	}
	payload := json.RawMessage(`"` + strings.Repeat("x", 64) + `"`)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range pollers {
		wg.Go(func() {
			cursor, token := opened[i].Cursor, opened[i].Session
			for slowest[i].Load() < goal.Load() {
				a, err := get(s.srv.URL + "/sse?mode=poll&session=" + token + "&cursor=" + strconv.FormatUint(cursor, 10))
				if err != nil {
					errs <- err
					return
				}
				polls.Add(1)
				cursor = a.Cursor
				slowest[i].Add(int64(len(a.Frames)))
			}
		})
	}
	minCounted := func() int64 {
		m := slowest[0].Load()
		for i := range slowest {
			m = min(m, slowest[i].Load())
		}
		return m
	}
	for sent := 0; sent < b.N; {
		if int64(sent)-minCounted() >= window {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if err := s.e.To("bench").Emit("m", payload); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	deliveries := float64(b.N) * float64(pollers)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(deliveries/float64(polls.Load()), "frames/poll")
}
