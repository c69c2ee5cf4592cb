package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbubhq/hubbub/internal/ssewire"
	"github.com/hubbubhq/hubbub/protocol"
)

// Defaults of the SSE and LongPoll transports.
const (
	// DefaultResumeTimeout bounds how long a dropped stream or a failed
	// poll is retried on the same session (the server keeps a session for
	// its grace period, 30 s by default).
	DefaultResumeTimeout = 10 * time.Second
	// DefaultStreamIdleTimeout: a stream that delivers nothing, not even a
	// heartbeat comment (every 15 s by default), for this long is taken for
	// dead and resumed.
	DefaultStreamIdleTimeout = 45 * time.Second
	// DefaultPollRequestTimeout bounds one poll request. The server answers
	// an idle poll with an empty batch after its PollTimeout (25 s by
	// default).
	DefaultPollRequestTimeout = 60 * time.Second
	// DefaultPostTimeout bounds one POST of frames, and the DELETE of Close.
	DefaultPostTimeout = 10 * time.Second
)

// maxPostBatch bounds the body of a POST that carries the messages of
// several concurrent Writes; a single larger message goes alone. It stays
// well under the server's MaxFrameBytes (64 KiB by default), which applies
// to a whole POST body.
const maxPostBatch = 16 << 10

// errConnClosed is returned by Read and Write after Close.
var errConnClosed = errors.New("hubbub client: connection closed")

// transientError is a refusal worth retrying on the same session: a
// gateway or server error (500, 502, 504, …) or 429, as proxies answer.
// 503 is not: the server is shutting down.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// refused turns a non-2xx answer into an *protocol.Error, marked transient
// when retrying may help.
func refused(resp *http.Response) error {
	err := refusal(resp)
	if resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable) {
		return transientError{err}
	}
	return err
}

// final reports whether err ends the retries of a session: a refusal by
// the server (unknown or ended session, 4xx, 503), not a network failure.
func final(err error) bool {
	var we *protocol.Error
	var te transientError
	return errors.As(err, &we) && !errors.As(err, &te)
}

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

// httpBase is what SSE and long-poll connections share: the session's
// URL, headers and token, the POST writer and Close.
type httpBase struct {
	hc      *http.Client
	ownHC   bool
	url     *url.URL // the mount point with the dialer's query
	header  http.Header
	token   string // the session token, set before Dial returns
	resume  time.Duration
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	closed  atomic.Bool
	ended   atomic.Bool // the server ended the session (close or resync frame): no DELETE
	post    poster
	closeMu sync.Mutex
}

func newHTTPBase(hc *http.Client, rawURL string, header http.Header, resume time.Duration) (*httpBase, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("hubbub client: cannot use a %q URL for SSE or long-poll", u.Scheme)
	}
	own := hc == nil
	if own {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if resume <= 0 {
		resume = DefaultResumeTimeout
	}
	b := &httpBase{hc: hc, ownHC: own, url: u, header: header.Clone(), resume: resume}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.post.b = b
	return b, nil
}

// urlWith returns the mount URL with these query parameters set (name,
// value pairs) and the dialer's own parameters kept.
func (b *httpBase) urlWith(kv ...string) string {
	u := *b.url
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (b *httpBase) request(ctx context.Context, method, u string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range b.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Write sends msg in a POST. Concurrent writes are combined into one POST
// (a JSON array of their frames) while an earlier POST is in flight.
func (b *httpBase) Write(ctx context.Context, msg []byte) error {
	if b.closed.Load() {
		return errConnClosed
	}
	return b.post.write(ctx, msg)
}

// Close ends the session at once (DELETE, no grace period) and releases
// the connection's requests. It is idempotent.
func (b *httpBase) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed.Swap(true) {
		return nil
	}
	b.cancel()
	if b.token != "" && !b.ended.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultPostTimeout)
		if req, err := b.request(ctx, http.MethodDelete, b.urlWith("session", b.token), nil); err == nil {
			if resp, err := b.hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
			}
		}
		cancel()
	}
	if b.ownHC {
		b.hc.CloseIdleConnections()
	}
	return nil
}

// sleep waits d, or less if the connection is closed; false then.
func (b *httpBase) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// poster sends the messages of Write in POST requests. One writer at a
// time posts (the leader); messages written meanwhile queue and go
// together in the next POST, in the order they were written.
type poster struct {
	b     *httpBase
	mu    sync.Mutex
	busy  bool
	queue []*postReq
}

type postReq struct {
	msg  []byte
	res  chan error    // the POST's outcome
	lead chan struct{} // a token: this writer posts the next batch
}

func (p *poster) write(ctx context.Context, msg []byte) error {
	r := &postReq{msg: msg, res: make(chan error, 1), lead: make(chan struct{}, 1)}
	p.mu.Lock()
	p.queue = append(p.queue, r)
	if !p.busy {
		p.busy = true
		r.lead <- struct{}{}
	}
	p.mu.Unlock()
	for {
		select {
		case err := <-r.res:
			return err
		case <-r.lead:
			p.sendBatch()
		case <-ctx.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			for i, q := range p.queue {
				if q == r {
					p.queue = append(p.queue[:i], p.queue[i+1:]...)
					select {
					case <-r.lead: // pass the turn on
						p.handOffLocked()
					default:
					}
					return ctx.Err()
				}
			}
			// Already in a POST: its outcome is unknown to the caller.
			return ctx.Err()
		}
	}
}

// handOffLocked gives the next queued writer its turn.
func (p *poster) handOffLocked() {
	if len(p.queue) > 0 {
		p.queue[0].lead <- struct{}{}
	} else {
		p.busy = false
	}
}

// sendBatch posts the writers at the head of the queue, the leader first.
func (p *poster) sendBatch() {
	p.mu.Lock()
	n, size := 0, 0
	for n < len(p.queue) {
		l := len(p.queue[n].msg)
		if n > 0 && size+l+1 > maxPostBatch {
			break
		}
		size += l + 1
		n++
	}
	batch := make([]*postReq, n)
	copy(batch, p.queue)
	p.queue = append(p.queue[:0], p.queue[n:]...)
	p.mu.Unlock()

	var body []byte
	if len(batch) == 1 {
		body = batch[0].msg
	} else {
		body = make([]byte, 0, size+2)
		body = append(body, '[')
		first := true
		for _, r := range batch {
			inner := bytes.TrimSpace(r.msg)
			if len(inner) > 0 && inner[0] == '[' && inner[len(inner)-1] == ']' {
				inner = bytes.TrimSpace(inner[1 : len(inner)-1])
			}
			if len(inner) == 0 {
				continue
			}
			if !first {
				body = append(body, ',')
			}
			first = false
			body = append(body, inner...)
		}
		body = append(body, ']')
	}
	err := p.b.doPost(body)
	for _, r := range batch {
		r.res <- err
	}
	p.mu.Lock()
	p.handOffLocked()
	p.mu.Unlock()
}

func (b *httpBase) doPost(body []byte) error {
	ctx, cancel := context.WithTimeout(b.ctx, DefaultPostTimeout)
	defer cancel()
	req, err := b.request(ctx, http.MethodPost, b.urlWith("session", b.token), body)
	if err != nil {
		return err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		if b.closed.Load() {
			return errConnClosed
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil
	}
	return refused(resp)
}

// inspect looks for the frames that end a session's reading (close,
// resync, replaced) in msg. It returns what to deliver (msg itself, the
// frames before the ending one, or nil) and the error that ends reading.
func inspect(msg []byte) ([]byte, error) {
	// Room events may carry these words in their payload; only the full
	// parse below decides.
	if !bytes.Contains(msg, []byte(`"close"`)) && !bytes.Contains(msg, []byte(`"resync"`)) && !bytes.Contains(msg, []byte(`"replaced"`)) {
		return msg, nil
	}
	var (
		before [][]byte
		end    error
	)
	err := protocol.SplitBatch(msg, func(raw []byte) {
		if end != nil {
			return
		}
		var f struct {
			Type  string                `json:"t"`
			Close *protocol.CloseReason `json:"close"`
			Err   *protocol.Error       `json:"err"`
		}
		if json.Unmarshal(raw, &f) == nil {
			switch f.Type {
			case protocol.TypeClose:
				ce := &CloseError{Code: protocol.CloseNoStatus}
				if f.Close != nil {
					ce.Code, ce.Reason = f.Close.Code, f.Close.Text
				}
				end = ce
				return
			case protocol.TypeResync:
				reason := "not recovered"
				if f.Err != nil {
					reason = "not recovered: " + f.Err.Message
				}
				end = &CloseError{Code: protocol.CloseSlowConsumer, Reason: reason}
				return
			case protocol.TypeReplaced:
				msg := "another reader took this session"
				if f.Err != nil {
					msg = f.Err.Message
				}
				end = &protocol.Error{Code: protocol.CodeReplaced, Message: msg}
				return
			}
		}
		before = append(before, raw)
	})
	if err != nil || end == nil {
		return msg, nil // the Client reports malformed messages
	}
	if len(before) == 0 {
		return nil, end
	}
	return protocol.AppendBatch(nil, before), end
}

// ---------------------------------------------------------------------------
// SSE

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

// ---------------------------------------------------------------------------
// Long-poll

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
