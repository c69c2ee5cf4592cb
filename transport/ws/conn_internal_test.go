package ws

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/sendq"
)

// Once a frame is refused for a full queue, later frames are refused even
// after the queue drained: the client must never get frame n+1 without n.
func TestSendRefusesAfterOverflow(t *testing.T) {
	h := &Handler{cfg: Config{QueueBytes: 256}.withDefaults()}
	c := newConn(h, "test") // no melody session: nothing is written
	frame := make([]byte, 64)
	var err error
	for err == nil {
		err = c.Send(frame)
	}
	require.ErrorIs(t, err, sendq.ErrFull)
	require.NotEmpty(t, c.q.Drain(nil)) // as if the message in flight was written
	require.ErrorIs(t, c.Send(frame), sendq.ErrClosed)
}

func TestCloseReasonIsSendable(t *testing.T) {
	require.Equal(t, 1000, sendableCode(1005))
	require.Equal(t, 1000, sendableCode(1006))
	require.Equal(t, 1000, sendableCode(999))
	require.Equal(t, 1001, sendableCode(1001))
	require.Equal(t, 4008, sendableCode(4008))
	long := string(make([]byte, 200))
	require.Len(t, truncateReason(long), maxReasonBytes)
	// Never cut a rune in half: 61 two-byte runes plus one that would
	// straddle the limit.
	s := ""
	for range 62 {
		s += "é"
	}
	require.Equal(t, s[:122], truncateReason(s))
}

// gorilla keeps the reader Hijack hands over as the connection's reader only
// when the Upgrader's ReadBufferSize is 0 and the reader is larger than 256
// bytes (gorilla v1.5.3, server.go:191); otherwise every connection gets a
// 4 KiB reader of its own. This mirrors that check on the reader Hijack
// returns.
func TestReadBufferIsKeptByGorilla(t *testing.T) {
	e := engine.New(engine.Config{Logger: slog.New(slog.DiscardHandler)})
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	h := New(e, Config{Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	require.Zero(t, h.m.Upgrader.ReadBufferSize)

	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	_, brw, err := (&upgradeWriter{conn: c1}).Hijack()
	require.NoError(t, err)
	brw.Reader.Reset(c1) // gorilla's bufioReaderSize
	p, err := brw.Reader.Peek(0)
	require.NoError(t, err)
	require.Greater(t, cap(p), 256)
	require.Equal(t, readBufferSize, cap(p))
}

// A connection is in the Handler's live map from its handshake to its end,
// and leaves no entry behind.
func TestLiveMapFollowsConnections(t *testing.T) {
	e := engine.New(engine.Config{Logger: slog.New(slog.DiscardHandler)})
	h := New(e, Config{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	live := h.live.Len

	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		require.NoError(t, err)
		_, _, err = c.ReadMessage() // hello: onConnect has run
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Equal(t, 3, live())
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return live() == 0 }, 10*time.Second, time.Millisecond)
}
