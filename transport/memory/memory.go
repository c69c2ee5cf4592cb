// Package memory is an in-process transport for a hubbub engine, in the
// spirit of net/http/httptest: a Client is a session with no network, for
// the engine's own tests and for applications that unit-test their handlers.
//
// A Client speaks the wire protocol (docs/PROTOCOL.md) through the same seam
// as the network transports: its frames go through Session.Receive and the
// engine's frames land in a bounded send queue that the test reads with
// Next. A test that stops reading sees exactly what a slow network client
// sees: when the queue overflows, the session is closed as a slow consumer.
package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/internal/sendq"
)

// DefaultQueueBytes bounds a client's send queue when Config.QueueBytes is 0.
const DefaultQueueBytes = 1 << 20

// Config configures Dial. The zero value dials with a plain GET request and
// a 1 MiB send queue.
type Config struct {
	// Request is what the engine's connect hook sees; nil uses
	// httptest.NewRequest("GET", "/", nil).
	Request *http.Request
	// QueueBytes bounds the frames the engine may queue for the client
	// before it is closed as a slow consumer. Default DefaultQueueBytes.
	QueueBytes int
}

// ErrClosed is returned (wrapped with the close reason) by Next and Request
// once the session has ended and its queue is drained.
var ErrClosed = errors.New("memory: session closed")

// Client is one in-memory session. Sending (Send, Emit, EmitNoAck) is safe
// from any goroutine; reading (Next, Request, Join, Leave, EmitWithAck)
// must be done from one goroutine at a time.
type Client struct {
	sess   *engine.Session
	conn   *conn
	hello  engine.Frame
	nextID atomic.Uint64
	ahead  []engine.Frame // frames read while waiting for an ack
}

type conn struct {
	q      *sendq.Queue
	once   sync.Once
	done   chan struct{}
	reason engine.CloseReason

	scratch [][]byte // reused by Discard
}

func (c *conn) Send(frame []byte) error { return c.q.Push(frame) }

// SendVolatile drops a volatile frame the queue cannot take, as the
// network transports do (engine.BoundedConn).
func (c *conn) SendVolatile(frame []byte) bool { return c.q.PushDroppable(frame) == nil }

var _ engine.BoundedConn = (*conn)(nil)

// FitsReplay reports whether a recovery replay fits the send queue
// (engine.BoundedConn).
func (c *conn) FitsReplay(frames [][]byte) bool { return c.q.FitsReplay(frames) }

func (c *conn) Close(r engine.CloseReason) error {
	c.once.Do(func() {
		c.reason = r
		c.q.Close(r.Code) // for a slow consumer, drops what is queued, as network transports do
		close(c.done)
	})
	return nil
}

// Dial authenticates cfg.Request with the engine's connect hook and opens a
// session. It consumes the hello frame. A refused connection returns the
// hook's error.
func Dial(e *engine.Engine, cfg Config) (*Client, error) {
	r := cfg.Request
	if r == nil {
		r = httptest.NewRequest(http.MethodGet, "/", nil)
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	id, err := e.Authenticate(r)
	if err != nil {
		return nil, err
	}
	c := &conn{q: sendq.New(cfg.QueueBytes), done: make(chan struct{})}
	s, err := e.Open(c, id)
	if err != nil {
		return nil, err
	}
	cl := &Client{sess: s, conn: c}
	if err := json.Unmarshal(c.q.Pop(), &cl.hello); err != nil || cl.hello.Type != engine.TypeHello {
		return nil, fmt.Errorf("memory: first frame is not hello: %v", err)
	}
	return cl, nil
}

// Session returns the engine's session for this client.
func (c *Client) Session() *engine.Session { return c.sess }

// Hello returns the hello frame the session started with.
func (c *Client) Hello() engine.Frame { return c.hello }

// Send feeds a raw client message (a frame or a JSON array of frames) to
// the engine.
func (c *Client) Send(msg []byte) error { return c.sess.Receive(msg) }

// SendFrame encodes f and feeds it to the engine.
func (c *Client) SendFrame(f engine.Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return c.Send(b)
}

// Emit sends an event without asking for an ack.
func (c *Client) Emit(event string, data any) error {
	d, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return c.SendFrame(engine.Frame{Type: engine.TypeEmit, Event: event, Data: d})
}

// Request sends f with a fresh ack id and returns the ack that answers it.
// Frames that arrive before the ack are kept for Next, in order.
func (c *Client) Request(ctx context.Context, f engine.Frame) (engine.Frame, error) {
	f.ID = c.nextID.Add(1)
	if err := c.SendFrame(f); err != nil {
		return engine.Frame{}, err
	}
	for {
		g, err := c.read(ctx)
		if err != nil {
			return engine.Frame{}, err
		}
		if g.Type == engine.TypeAck && g.ID == f.ID {
			return g, nil
		}
		c.ahead = append(c.ahead, g) // kept for Next, in order
	}
}

// EmitWithAck sends an event and waits for its ack. An error ack is
// returned as its *engine.Error.
func (c *Client) EmitWithAck(ctx context.Context, event string, data any) (json.RawMessage, error) {
	d, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	a, err := c.Request(ctx, engine.Frame{Type: engine.TypeEmit, Event: event, Data: d})
	if err != nil {
		return nil, err
	}
	if a.Err != nil {
		return nil, a.Err
	}
	return a.Data, nil
}

// Join joins a room and returns the join result. Events replayed for the
// join (JoinOptions) are kept for Next, before any live event.
func (c *Client) Join(ctx context.Context, room string) (engine.JoinResult, error) {
	return c.JoinFrom(ctx, engine.Frame{Room: room})
}

// JoinFrom joins with options set in f (Room, Since, History).
func (c *Client) JoinFrom(ctx context.Context, f engine.Frame) (engine.JoinResult, error) {
	f.Type = engine.TypeJoin
	a, err := c.Request(ctx, f)
	if err != nil {
		return engine.JoinResult{}, err
	}
	if a.Err != nil {
		return engine.JoinResult{}, a.Err
	}
	var res engine.JoinResult
	err = json.Unmarshal(a.Data, &res)
	return res, err
}

// Leave leaves a room.
func (c *Client) Leave(ctx context.Context, room string) error {
	a, err := c.Request(ctx, engine.Frame{Type: engine.TypeLeave, Room: room})
	if err != nil {
		return err
	}
	if a.Err != nil {
		return a.Err
	}
	return nil
}

// Next returns the next frame from the engine, waiting until one arrives,
// ctx ends, or the session is closed and every queued frame was read.
func (c *Client) Next(ctx context.Context) (engine.Frame, error) {
	if len(c.ahead) > 0 {
		f := c.ahead[0]
		c.ahead = c.ahead[1:]
		return f, nil
	}
	return c.read(ctx)
}

func (c *Client) read(ctx context.Context) (engine.Frame, error) {
	for {
		if b := c.conn.q.Pop(); b != nil {
			var f engine.Frame
			if err := json.Unmarshal(b, &f); err != nil {
				return f, fmt.Errorf("memory: engine sent invalid JSON %q: %w", b, err)
			}
			return f, nil
		}
		select {
		case <-c.conn.done:
			if n, _ := c.conn.q.Len(); n > 0 {
				continue
			}
			return engine.Frame{}, fmt.Errorf("%w: %d %s", ErrClosed, c.conn.reason.Code, c.conn.reason.Text)
		case <-c.conn.q.Ready():
		case <-ctx.Done():
			return engine.Frame{}, ctx.Err()
		}
	}
}

// Discard drops every queued frame without decoding it and returns how
// many there were: the cheapest way for a benchmark to consume deliveries.
func (c *Client) Discard() int {
	n := len(c.ahead)
	c.ahead = nil
	c.conn.scratch = c.conn.q.Drain(c.conn.scratch[:0])
	n += len(c.conn.scratch)
	clear(c.conn.scratch)
	return n
}

// Buffered returns how many frames are queued and not yet read.
func (c *Client) Buffered() int {
	n, _ := c.conn.q.Len()
	return n + len(c.ahead)
}

// CloseReason returns why the session was closed, and false while it is
// open.
func (c *Client) CloseReason() (engine.CloseReason, bool) {
	select {
	case <-c.conn.done:
		return c.conn.reason, true
	default:
		return engine.CloseReason{}, false
	}
}

// Done is closed when the session has been closed.
func (c *Client) Done() <-chan struct{} { return c.conn.done }

// Close ends the session as a client would by disconnecting.
func (c *Client) Close() { c.sess.Close(engine.ReasonNormal) }
