package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/client"
	"github.com/hubbubhq/hubbub/engine"
)

func startServer(t *testing.T, opts options) (*server, *httptest.Server) {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := newServer(opts)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs
}

// A viewer gets samples pushed without asking, with the load generator's
// events counted in the engine's figures.
func TestSamplesArePushed(t *testing.T) {
	_, hs := startServer(t, options{Interval: 100 * time.Millisecond, Load: 200, Subscribers: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", client.Options{NoReconnect: true})
	require.NoError(t, err)
	defer c.Close()
	got := make(chan sample, 100)
	c.On("stats", func(_ context.Context, d json.RawMessage, _ client.Meta) (any, error) {
		var s sample
		require.NoError(t, json.Unmarshal(d, &s))
		got <- s
		return nil, nil
	})
	_, err = c.Join(ctx, statsRoom)
	require.NoError(t, err)
	_, err = c.Join(ctx, loadRoom)
	require.Equal(t, engine.CodeForbidden, err.(*engine.Error).Code, "viewers watch the stats room only")

	var last sample
	for last.Delivered < 100 { // the load reaches the subscribers
		select {
		case last = <-got:
		case <-ctx.Done():
			t.Fatalf("no load in the figures; last sample %+v", last)
		}
	}
	require.Equal(t, 5, last.Sessions, "3 subscribers, the stats keeper, this viewer")
	require.Equal(t, 4, last.InProcess)
	require.Equal(t, 2, last.Rooms)
	require.Positive(t, last.Goroutines)
	require.Positive(t, last.HeapAlloc)
	require.Positive(t, last.PublishedPerSec)
	require.Positive(t, last.DeliveredPerSec)
	require.Equal(t, 200.0, last.Load)
}

func TestNoLoad(t *testing.T) {
	s, _ := startServer(t, options{Interval: time.Hour, Load: 0, Subscribers: 10})
	require.Len(t, s.subs, 1, "only the stats keeper")
	require.Equal(t, 0, s.sample(sample{}).Subscribers)
}
