// Package hubtest holds test helpers shared by the transports' tests:
// recorders for the engine's disconnect hook and for log lines.
package hubtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
)

// Wait bounds how long a helper waits for a condition. Nothing is timed:
// it only keeps a broken test from hanging.
const Wait = 10 * time.Second

// Disconnects records the engine's OnDisconnect calls by session id. Use
// its Hook method as engine.Config.OnDisconnect.
type Disconnects struct {
	mu sync.Mutex
	by map[string]engine.CloseReason
}

// Hook is an engine.Config.OnDisconnect function.
func (d *Disconnects) Hook(s *engine.Session, r engine.CloseReason) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = make(map[string]engine.CloseReason)
	}
	d.by[s.ID()] = r
}

// Get returns the reason a session ended with, and false while it is open.
func (d *Disconnects) Get(sid string) (engine.CloseReason, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.by[sid]
	return r, ok
}

// Await waits for the session's disconnect and returns its reason.
func (d *Disconnects) Await(t testing.TB, sid string) engine.CloseReason {
	t.Helper()
	require.Eventually(t, func() bool { _, ok := d.Get(sid); return ok }, Wait, time.Millisecond)
	r, _ := d.Get(sid)
	return r
}

// LogRecorder is a slog.Handler that keeps each record as its message
// followed by " key=value" attributes, to count log lines.
type LogRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *LogRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *LogRecorder) WithGroup(string) slog.Handler            { return r }

// Handle records one log line.
func (r *LogRecorder) Handle(_ context.Context, rec slog.Record) error {
	var sb strings.Builder
	sb.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, sb.String())
	r.mu.Unlock()
	return nil
}

// Count returns how many recorded lines contain s.
func (r *LogRecorder) Count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}
