package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hubbubhq/hubbub/internal/ssewire"
)

// SSE is the Server-Sent Events transport (transport/sse on the server):
// frames come down one text/event-stream response, and go up as POST
// requests tied to the session by its token. Dial's url is the handler's
// mount point, http(s)://host/sse (ws:// and wss:// are accepted and mean
// http:// and https://).
//
// When the stream drops (network failure, proxy timeout, server write
// timeout, or nothing received for IdleTimeout), the connection reopens it
// on its own with the last event id in Last-Event-ID, so the session goes
// on with its rooms and presence and without any frame lost or repeated.
// When that fails for ResumeTimeout, or the server says the frames cannot
// be replayed (a "resync" frame), Read returns an error: the Client then
// opens a new session and rejoins its rooms with "since", recovering the
// missed events from the rooms' history.
//
// The zero value is ready to use.
type SSE struct {
	// Client sends the requests. Nil gives each connection an http.Client
	// of its own, with a transport cloned from http.DefaultTransport, whose
	// connections Close releases. A Client given here needs no timeout:
	// the stream is a request that lasts as long as the connection.
	Client *http.Client
	// ResumeTimeout bounds how long a dropped stream is retried on the
	// same session before Read gives up. Keep it below the server's grace
	// period. Default DefaultResumeTimeout (10 s).
	ResumeTimeout time.Duration
	// IdleTimeout is how long a stream may deliver nothing, not even the
	// server's heartbeat comments, before it is taken for dead and
	// resumed. Keep it above the server's heartbeat interval. Default
	// DefaultStreamIdleTimeout (45 s).
	IdleTimeout time.Duration
}

type sseConn struct {
	*httpBase
	idle time.Duration

	// Used by Read only (and Dial before it).
	st      *stream
	rd      *ssewire.Reader
	lastID  string // the id of the last event read: the resume point
	first   []byte // the hello event's data, read by Dial
	pending error  // ends reading after the frames delivered before it
}

// stream is one response of the event stream, cancelled by its idle
// timer or its connection's Close.
type stream struct {
	body   io.ReadCloser
	cancel context.CancelFunc
	timer  *time.Timer
	idle   time.Duration
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if n > 0 {
		s.timer.Reset(s.idle)
	}
	return n, err
}

func (s *stream) close() {
	s.timer.Stop()
	s.cancel()
	s.body.Close()
}

// Dial opens a session: a GET whose response is the event stream. It
// returns once the first event (the hello frame) arrived, which also gives
// the session token. A refusal (401, 403, 503, …) is returned as an
// *protocol.Error with the server's code and reason.
func (s SSE) Dial(ctx context.Context, url string, header http.Header) (Conn, error) {
	b, err := newHTTPBase(s.Client, url, header, s.ResumeTimeout)
	if err != nil {
		return nil, err
	}
	c := &sseConn{httpBase: b, idle: s.IdleTimeout}
	if c.idle <= 0 {
		c.idle = DefaultStreamIdleTimeout
	}
	// The stream outlives ctx, which bounds only the wait for the hello.
	stop := context.AfterFunc(ctx, func() { b.cancel() })
	defer stop()
	fail := func(err error) (Conn, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		c.closeStream()
		b.closed.Store(true)
		b.cancel()
		if b.ownHC {
			b.hc.CloseIdleConnections()
		}
		return nil, err
	}
	if err := c.openStream(""); err != nil {
		return fail(err)
	}
	ev, err := c.rd.Next()
	if err != nil {
		return fail(fmt.Errorf("hubbub client: SSE stream ended before the hello: %w", err))
	}
	tok, _, ok := strings.Cut(ev.ID, ".")
	if !ok || tok == "" {
		return fail(fmt.Errorf("hubbub client: the first SSE event has no session id (id %q)", ev.ID))
	}
	if !stop() {
		return fail(ctx.Err())
	}
	c.token, c.lastID = tok, ev.ID
	c.first = bytes.Clone(ev.Data)
	return c, nil
}

// openStream sends the GET of a stream, resuming after lastID unless it is
// empty. A refusal is an *protocol.Error; other errors are network errors.
func (c *sseConn) openStream(lastID string) error {
	ctx, cancel := context.WithCancel(c.ctx)
	req, err := c.request(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	timer := time.AfterFunc(c.idle, cancel)
	resp, err := c.hc.Do(req)
	if err != nil {
		timer.Stop()
		cancel()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		timer.Stop()
		cancel()
		return refused(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		timer.Stop()
		cancel()
		return fmt.Errorf("hubbub client: the SSE response is %q, not text/event-stream", ct)
	}
	c.st = &stream{body: resp.Body, cancel: cancel, timer: timer, idle: c.idle}
	c.rd = ssewire.NewReader(c.st)
	return nil
}

func (c *sseConn) closeStream() {
	if c.st != nil {
		c.st.close()
		c.st = nil
	}
}

// Read returns the data of the next event: one frame or a JSON array of
// frames. A close frame ends reading with a *CloseError, after the frames
// before it; so does a resync frame (code 4008: open a new session and
// recover). A dropped stream is resumed within ResumeTimeout.
func (c *sseConn) Read(ctx context.Context) ([]byte, error) {
	if c.first != nil {
		msg := c.first
		c.first = nil
		return c.deliver(msg)
	}
	for {
		if c.pending != nil {
			return nil, c.pending
		}
		if c.closed.Load() {
			return nil, errConnClosed
		}
		ev, err := c.rd.Next()
		if err == nil {
			c.lastID = c.rd.LastEventID()
			return c.deliver(bytes.Clone(ev.Data))
		}
		if err := c.resumeStream(err); err != nil {
			c.pending = err
		}
	}
}

func (c *sseConn) deliver(msg []byte) ([]byte, error) {
	out, end := inspect(msg)
	if end != nil {
		c.ended.Store(true)
		c.pending = end
		c.closeStream()
		if out == nil {
			return nil, end
		}
	}
	return out, nil
}

// resumeStream reopens a dropped stream after the last event read.
func (c *sseConn) resumeStream(cause error) error {
	c.closeStream()
	deadline := time.Now().Add(c.resume)
	delay := 50 * time.Millisecond
	for {
		if c.closed.Load() {
			return errConnClosed
		}
		err := c.openStream(c.lastID)
		if err == nil {
			return nil
		}
		if final(err) {
			// The session is gone (404, 410), or the server refuses.
			return fmt.Errorf("hubbub client: SSE stream lost (%v) and not resumed: %w", cause, err)
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("hubbub client: SSE stream lost (%v) and not resumed within %v: %w", cause, c.resume, err)
		}
		if !c.sleep(delay) {
			return errConnClosed
		}
		delay = min(delay*2, time.Second)
	}
}
