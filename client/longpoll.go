package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// LongPoll is the long-poll transport (transport/sse in mode=poll): frames
// come down as the answers of GET requests that wait for them, and go up
// as POST requests, as with SSE. Use it where streaming does not get
// through (a proxy that buffers responses). Dial's url is the handler's
// mount point, as for SSE.
//
// A poll that fails is retried with the same cursor for up to
// ResumeTimeout, so the session goes on without loss; after that, or when
// the server says the frames cannot be replayed, Read returns an error and
// the Client recovers through a new session, as for SSE.
//
// The zero value is ready to use.
type LongPoll struct {
	// Client sends the requests; nil works as for SSE.
	Client *http.Client
	// ResumeTimeout bounds how long failing polls are retried on the same
	// session. Default DefaultResumeTimeout (10 s).
	ResumeTimeout time.Duration
	// RequestTimeout bounds one poll. Keep it above the server's
	// PollTimeout. Default DefaultPollRequestTimeout (60 s).
	RequestTimeout time.Duration
}

type pollConn struct {
	*httpBase
	reqTimeout time.Duration

	// Used by Read only (and Dial before it).
	cursor  uint64
	first   []byte
	pending error
}

type pollAnswer struct {
	Session string          `json:"session"`
	Cursor  uint64          `json:"cursor"`
	Frames  json.RawMessage `json:"frames"`
}

// Dial opens a session with a first poll, answered at once with the hello
// frame and the session token. A refusal is returned as an *protocol.Error.
func (l LongPoll) Dial(ctx context.Context, url string, header http.Header) (Conn, error) {
	b, err := newHTTPBase(l.Client, url, header, l.ResumeTimeout)
	if err != nil {
		return nil, err
	}
	c := &pollConn{httpBase: b, reqTimeout: l.RequestTimeout}
	if c.reqTimeout <= 0 {
		c.reqTimeout = DefaultPollRequestTimeout
	}
	ans, err := c.poll(ctx, b.urlWith("mode", "poll"))
	if err != nil {
		b.closed.Store(true)
		b.cancel()
		if b.ownHC {
			b.hc.CloseIdleConnections()
		}
		return nil, err
	}
	c.token, c.cursor = ans.Session, ans.Cursor
	if c.token == "" {
		c.Close()
		return nil, errors.New("hubbub client: the opening poll's answer has no session token")
	}
	c.first = ans.Frames
	return c, nil
}

// poll sends one poll request.
func (c *pollConn) poll(ctx context.Context, u string) (pollAnswer, error) {
	var ans pollAnswer
	ctx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	req, err := c.request(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ans, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ans, refused(resp)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return ans, err
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return ans, fmt.Errorf("hubbub client: malformed poll answer: %w", err)
	}
	return ans, nil
}

// Read returns the frames of the next poll that brought any, as a JSON
// array. Empty polls are repeated; a failed poll is retried with the same
// cursor within ResumeTimeout. Close, resync and replaced frames end
// reading as for SSE.
func (c *pollConn) Read(ctx context.Context) ([]byte, error) {
	if c.first != nil {
		msg := c.first
		c.first = nil
		if out, ok := c.deliver(msg); ok {
			return out, nil
		}
	}
	for {
		if c.pending != nil {
			return nil, c.pending
		}
		if c.closed.Load() {
			return nil, errConnClosed
		}
		ans, err := c.pollResuming()
		if err != nil {
			c.pending = err
			continue
		}
		c.cursor = max(c.cursor, ans.Cursor)
		if out, ok := c.deliver(ans.Frames); ok {
			return out, nil
		}
	}
}

// deliver returns what of frames to hand to the Client, if anything.
func (c *pollConn) deliver(frames json.RawMessage) ([]byte, bool) {
	frames = bytes.TrimSpace(frames)
	if len(frames) == 0 || bytes.Equal(frames, []byte("[]")) || bytes.Equal(frames, []byte("null")) {
		return nil, false
	}
	out, end := inspect(frames)
	if end != nil {
		c.ended.Store(true)
		c.pending = end
	}
	return out, out != nil
}

// pollResuming polls after the cursor, retrying failures within
// ResumeTimeout.
func (c *pollConn) pollResuming() (pollAnswer, error) {
	var deadline time.Time
	delay := 50 * time.Millisecond
	for {
		ans, err := c.poll(c.ctx, c.urlWith("mode", "poll", "session", c.token, "cursor", strconv.FormatUint(c.cursor, 10)))
		if err == nil {
			return ans, nil
		}
		if c.closed.Load() {
			return ans, errConnClosed
		}
		if final(err) {
			return ans, fmt.Errorf("hubbub client: poll refused: %w", err)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.resume)
		}
		if time.Now().Add(delay).After(deadline) {
			return ans, fmt.Errorf("hubbub client: polls failed for %v: %w", c.resume, err)
		}
		if !c.sleep(delay) {
			return ans, errConnClosed
		}
		delay = min(delay*2, time.Second)
	}
}
