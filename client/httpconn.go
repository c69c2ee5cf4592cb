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
	"sync"
	"sync/atomic"
	"time"

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
