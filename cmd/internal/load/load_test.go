package load_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/cmd/internal/benchsrv"
	"github.com/hubbubhq/hubbub/cmd/internal/load"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the bench server in-process and the load tool against it
// over every transport: 50 clients × 20 messages, nothing lost.
func TestSmoke(t *testing.T) {
	srv := benchsrv.New(benchsrv.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Close(ctx))
		hs.Close()
	})
	for _, tr := range load.Transports() {
		t.Run(tr, func(t *testing.T) {
			res := load.Run(context.Background(), load.Config{
				Transport: tr, Server: hs.URL, Clients: 50, Count: 20, Size: 64,
				Timeout: 20 * time.Second, Settle: -1, PID: os.Getpid(), Logf: t.Logf,
			})
			line := res.JSON(true)
			t.Logf("%s", line)
			require.Empty(t, res.Extra.Error)
			require.Empty(t, res.Extra.TimedOut)
			require.EqualValues(t, 50*20, res.Deliveries)
			require.Zero(t, res.Lost)
			require.Zero(t, res.Extra.Duplicates)
			require.Zero(t, res.Extra.Malformed)
			require.Equal(t, 50, res.Extra.Complete)
			require.Positive(t, res.DeliveriesPerSec)
			require.Positive(t, res.Extra.PublishSeconds)
			require.Len(t, res.Extra.P99ByTenthMs, 10)
			for i, p99 := range res.Extra.P99ByTenthMs {
				require.Positive(t, p99, "tenth %d of the burst", i)
			}
			require.Contains(t, string(line), `"read_gap_p99_ms":`)

			var m map[string]any
			require.NoError(t, json.Unmarshal(res.JSON(false), &m))
			require.Len(t, m, 14, "the headline line has exactly 14 fields")
		})
	}
}

func TestPayloads(t *testing.T) {
	var got []string
	collect := func(p []byte) { got = append(got, string(p)) }
	load.Payloads([]byte(`{"t":"emit","ev":"msg","room":"bench","off":1,"d":"m0.5.xx"}`), collect)
	load.Payloads([]byte(`[{"t":"emit","ev":"msg","room":"bench","off":2,"d":"m1.6.xx"},{"t":"ack","id":1,"d":{"room":"bench"}},{"t":"emit","ev":"msg","room":"bench","off":3,"d":"m2.7.xx"}]`), collect)
	load.Payloads([]byte(`{"t":"hello","v":1,"sid":"abc","user":"abc"}`), collect)
	require.Equal(t, []string{"m0.5.xx", "m1.6.xx", "m2.7.xx"}, got)
}
