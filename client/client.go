// Package client is hubbub's Go client: for backend services that publish
// or subscribe, for tests, and for the load tool. It speaks the wire
// protocol (docs/PROTOCOL.md) over WebSocket (the default), Server-Sent
// Events (SSE) or long-poll (LongPoll), reconnects with exponential
// backoff and jitter, rejoins its rooms after a reconnect and recovers the
// events it missed from the rooms' history.
//
// A Client is safe for concurrent use. Event handlers run one at a time, in
// the order events arrived, on a goroutine of their own, so a handler may
// call EmitWithAck.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hubbubhq/hubbub/protocol"
)

// Errors reported by the client.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("hubbub client: closed")
	// ErrDisconnected is returned by requests that were waiting for an ack
	// when the connection dropped, and by sends while disconnected.
	ErrDisconnected = errors.New("hubbub client: disconnected")
)

// Options configure Dial. The zero value dials without credentials and
// reconnects forever with a 250 ms to 10 s backoff.
type Options struct {
	// Header is sent with the connection request (cookies, custom auth).
	Header http.Header
	// Token, if set, is sent as "Authorization: Bearer <token>".
	Token string
	// Transport chooses how to connect: WebSocket{}, SSE{} or LongPoll{}.
	// Nil uses WebSocket.
	Transport Transport
	// NoReconnect disables reconnecting after the connection drops.
	NoReconnect bool
	// BackoffMin and BackoffMax bound the delay between reconnect attempts;
	// it doubles after each failure, with ±50 % jitter. Defaults 250 ms
	// and 10 s.
	BackoffMin, BackoffMax time.Duration
	// HandlerQueue bounds events waiting for handlers. When it is full
	// the client stops reading, and the server eventually closes the
	// connection as a slow consumer; the client then reconnects and
	// recovers. Default 1024.
	HandlerQueue int
	// Logger receives reconnects and dropped handler errors. Nil uses
	// slog.Default().
	Logger *slog.Logger
}

// Meta describes where an event came from.
type Meta struct {
	Room   string // empty for events not sent to a room
	Offset uint64 // the event's offset in the room's history
}

// Handler handles an event from the server. When the server asked for an
// acknowledgement, the return values are sent back as the ack (an
// *protocol.Error keeps its code; other errors become "internal").
type Handler func(ctx context.Context, data json.RawMessage, m Meta) (any, error)

// State is a connection state change, delivered to OnState.
type State struct {
	Kind    string // "disconnect", "reconnect_attempt", "reconnect", "resync" (Dial returning is the first connect)
	Session string // reconnect: the new session id
	Attempt int    // reconnect_attempt: 1, 2, …
	Room    string // resync: the room whose missed events could not be recovered
	Err     error  // disconnect: why
}

// Client is a connection to a hubbub server that survives reconnects.
type Client struct {
	url  string
	opts Options
	tr   Transport
	log  *slog.Logger

	mu        sync.Mutex
	conn      Conn // nil while disconnected
	sid       string
	closed    bool
	nextID    uint64
	pending   map[uint64]chan protocol.Frame
	rooms     map[string]*roomState // joined rooms
	handlers  map[string]Handler
	onPres    func(protocol.Frame)
	onErr     func(*protocol.Error)
	onState   func(State)
	connected chan struct{} // closed while connected; replaced on disconnect

	events chan protocol.Frame
	done   chan struct{}
	wg     sync.WaitGroup
}

// Dial connects to url and waits for the server's hello frame: ws:// or
// wss:// for WebSocket, the SSE handler's http:// or https:// URL for SSE
// and LongPoll. A refused connection returns an *protocol.Error with the
// server's code and reason (HTTP 401/403 before any upgrade or stream).
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 250 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.HandlerQueue <= 0 {
		opts.HandlerQueue = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tr := opts.Transport
	if tr == nil {
		tr = WebSocket{}
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if opts.Token != "" {
		header.Set("Authorization", "Bearer "+opts.Token)
	}
	opts.Header = header
	c := &Client{
		url: url, opts: opts, tr: tr, log: opts.Logger,
		pending:   make(map[uint64]chan protocol.Frame),
		rooms:     make(map[string]*roomState),
		handlers:  make(map[string]Handler),
		connected: make(chan struct{}),
		events:    make(chan protocol.Frame, opts.HandlerQueue),
		done:      make(chan struct{}),
	}
	conn, hello, rest, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.attach(conn, hello)
	c.wg.Add(2)
	go c.dispatch()
	go c.run(conn, rest)
	return c, nil
}

// connect dials once and reads the hello frame. rest holds the frames
// that came in the same message after the hello (transports that batch,
// such as SSE and long-poll, may send the hello with the frames queued
// behind it); they are routed before anything else is read.
func (c *Client) connect(ctx context.Context) (conn Conn, hello protocol.Frame, rest [][]byte, err error) {
	conn, err = c.tr.Dial(ctx, c.url, c.opts.Header)
	if err != nil {
		return nil, hello, nil, err
	}
	herr := func() error {
		msg, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		first := true
		serr := protocol.SplitBatch(msg, func(raw []byte) {
			if first {
				first = false
				err = json.Unmarshal(raw, &hello)
				return
			}
			rest = append(rest, raw)
		})
		if serr != nil {
			return serr
		}
		return err
	}()
	if herr == nil && hello.Type != protocol.TypeHello {
		herr = fmt.Errorf("hubbub client: first frame is %q, not hello", hello.Type)
	}
	if herr != nil {
		conn.Close()
		return nil, hello, nil, herr
	}
	return conn, hello, rest, nil
}

// SessionID returns the current session id (it changes after a reconnect).
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// On registers the handler for a server event, replacing any earlier one.
// Events without a handler are dropped after logging at debug level.
func (c *Client) On(event string, h Handler) {
	c.mu.Lock()
	c.handlers[event] = h
	c.mu.Unlock()
}

// OnPresence registers a function for presence notices (Event "join" or
// "leave", Room, User, Meta).
func (c *Client) OnPresence(fn func(protocol.Frame)) {
	c.mu.Lock()
	c.onPres = fn
	c.mu.Unlock()
}

// OnError registers a function for error frames: bad input the server
// reported without an ack id.
func (c *Client) OnError(fn func(*protocol.Error)) {
	c.mu.Lock()
	c.onErr = fn
	c.mu.Unlock()
}

// OnState registers a function for connection state changes.
func (c *Client) OnState(fn func(State)) {
	c.mu.Lock()
	c.onState = fn
	c.mu.Unlock()
}

func (c *Client) state(s State) {
	c.mu.Lock()
	fn := c.onState
	c.mu.Unlock()
	if fn != nil {
		fn(s)
	}
}

// Emit sends an event without waiting for the server. It returns
// ErrDisconnected while the connection is down (nothing is buffered: use
// EmitWithAck to know an event arrived).
func (c *Client) Emit(ctx context.Context, event string, data any) error {
	d, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return c.send(ctx, protocol.Frame{Type: protocol.TypeEmit, Event: event, Data: d})
}

// EmitWithAck sends an event and waits for the handler's acknowledgement,
// until ctx ends. An error ack is returned as *protocol.Error; a connection
// that drops before the ack returns ErrDisconnected (the event may or may
// not have been handled).
func (c *Client) EmitWithAck(ctx context.Context, event string, data any) (json.RawMessage, error) {
	d, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	a, err := c.request(ctx, protocol.Frame{Type: protocol.TypeEmit, Event: event, Data: d})
	if err != nil {
		return nil, err
	}
	return a.Data, nil
}

// JoinOption changes a join.
type JoinOption func(*protocol.Frame)

// WithHistory asks the server to replay up to n recent events of the room
// before live ones.
func WithHistory(n int) JoinOption { return func(f *protocol.Frame) { f.History = n } }

// Join enters a room and remembers it: after a reconnect the client joins
// it again from the last position it saw, so the server replays what was
// missed. When that gap is no longer in the room's history, OnState gets a
// "resync" for the room.
func (c *Client) Join(ctx context.Context, room string, opts ...JoinOption) (protocol.JoinResult, error) {
	f := protocol.Frame{Type: protocol.TypeJoin, Room: room}
	for _, o := range opts {
		o(&f)
	}
	res, err := c.join(ctx, f)
	if err != nil {
		c.mu.Lock()
		if st := c.rooms[room]; st != nil && st.pos == nil && !st.joining {
			delete(c.rooms, room) // never joined
		}
		c.mu.Unlock()
	}
	return res, err
}

// roomState is what the client knows of a room it is in.
type roomState struct {
	// pos is the last position seen: the join ack's, moved on by every
	// room event; nil until the first join is acknowledged.
	pos *protocol.Position
	// joining: a join is in flight. Events that arrive before its ack
	// (replayed ones, live ones emitted meanwhile) are of the room's
	// current epoch, which pos may not be; their highest offset is kept in
	// seen and the ack's position is moved past it, so none is replayed
	// again after a reconnect.
	joining bool
	seen    uint64
}

// join sends a join frame and records the room's position from its ack
// and the events that came before it.
func (c *Client) join(ctx context.Context, f protocol.Frame) (protocol.JoinResult, error) {
	c.mu.Lock()
	st := c.rooms[f.Room]
	if st == nil {
		st = new(roomState)
		c.rooms[f.Room] = st
	}
	st.joining, st.seen = true, 0
	c.mu.Unlock()
	a, err := c.request(ctx, f)
	var res protocol.JoinResult
	if err == nil {
		err = json.Unmarshal(a.Data, &res)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.joining = false
	if err != nil {
		return res, err
	}
	pos := res.Position
	pos.Offset = max(pos.Offset, st.seen)
	st.pos = &pos
	return res, nil
}

// Leave leaves a room and forgets it.
func (c *Client) Leave(ctx context.Context, room string) error {
	c.mu.Lock()
	delete(c.rooms, room)
	c.mu.Unlock()
	_, err := c.request(ctx, protocol.Frame{Type: protocol.TypeLeave, Room: room})
	return err
}

// Rooms returns the rooms the client is in (and rejoins after reconnects).
func (c *Client) Rooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	return out
}

// Connected returns a channel that is closed while the client is
// connected; after a disconnect, call it again for the next connection.
func (c *Client) Connected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

func (c *Client) send(ctx context.Context, f protocol.Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.mu.Lock()
	conn, closed := c.conn, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case conn == nil:
		return ErrDisconnected
	}
	return conn.Write(ctx, b)
}

// request sends f with a fresh id and waits for its ack.
func (c *Client) request(ctx context.Context, f protocol.Frame) (protocol.Frame, error) {
	ch := make(chan protocol.Frame, 1)
	c.mu.Lock()
	c.nextID++
	f.ID = c.nextID
	c.pending[f.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, f.ID)
		c.mu.Unlock()
	}()
	if err := c.send(ctx, f); err != nil {
		return protocol.Frame{}, err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return a, ErrDisconnected
		}
		if a.Err != nil {
			return a, a.Err
		}
		return a, nil
	case <-ctx.Done():
		return protocol.Frame{}, ctx.Err()
	case <-c.done:
		return protocol.Frame{}, ErrClosed
	}
}

// Close ends the connection (code 1000) and stops reconnecting. Requests
// still waiting return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conn := c.conn
	c.mu.Unlock()
	close(c.done)
	if conn != nil {
		conn.Close()
	}
	c.wg.Wait()
	return nil
}

// run reads from conn until it fails, then reconnects, until Close. rest
// are frames that came with the hello.
func (c *Client) run(conn Conn, rest [][]byte) {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.routeRaw(rest)
		err := c.read(conn)
		c.detach(conn)
		if c.isClosed() {
			return
		}
		c.state(State{Kind: "disconnect", Err: err})
		if c.opts.NoReconnect || !retryable(err) {
			c.log.Info("hubbub client: not reconnecting", "err", err)
			return
		}
		var hello protocol.Frame
		conn, hello, rest = c.reconnect()
		if conn == nil {
			return // closed while waiting
		}
		c.attach(conn, hello)
		c.state(State{Kind: "reconnect", Session: hello.Session})
		c.rejoin(conn)
	}
}

// routeRaw routes frames that are already split.
func (c *Client) routeRaw(frames [][]byte) {
	for _, raw := range frames {
		var f protocol.Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			c.log.Warn("hubbub client: server sent a malformed frame", "err", err)
			continue
		}
		c.route(f)
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) attach(conn Conn, hello protocol.Frame) {
	c.mu.Lock()
	c.conn = conn
	c.sid = hello.Session
	close(c.connected)
	closed := c.closed
	c.mu.Unlock()
	if closed {
		conn.Close()
	}
}

// detach forgets a dead connection and fails the requests waiting on it.
func (c *Client) detach(conn Conn) {
	conn.Close()
	c.mu.Lock()
	c.conn = nil
	c.connected = make(chan struct{})
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// reconnect dials with backoff until it succeeds or the client is closed.
func (c *Client) reconnect() (Conn, protocol.Frame, [][]byte) {
	delay := c.opts.BackoffMin
	for attempt := 1; ; attempt++ {
		c.state(State{Kind: "reconnect_attempt", Attempt: attempt})
		wait := time.Duration(float64(delay) * (0.5 + rand.Float64())) // ±50 % jitter
		select {
		case <-c.done:
			return nil, protocol.Frame{}, nil
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		conn, hello, rest, err := c.connect(ctx)
		cancel()
		if err == nil {
			return conn, hello, rest
		}
		c.log.Info("hubbub client: reconnect failed", "attempt", attempt, "err", err)
		delay = min(delay*2, c.opts.BackoffMax)
	}
}

// rejoin enters every remembered room again from its last position. It
// runs on its own goroutine because the acks arrive through read.
func (c *Client) rejoin(conn Conn) {
	c.mu.Lock()
	rooms := make(map[string]*protocol.Position, len(c.rooms))
	for r, st := range c.rooms {
		var since *protocol.Position
		if st.pos != nil {
			pos := *st.pos
			since = &pos
		}
		rooms[r] = since
	}
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for room, pos := range rooms {
			f := protocol.Frame{Type: protocol.TypeJoin, Room: room, Since: pos}
			res, err := c.join(ctx, f)
			switch {
			case err != nil:
				c.log.Warn("hubbub client: rejoin failed", "room", room, "err", err)
			case pos != nil && !res.Recovered:
				c.state(State{Kind: "resync", Room: room})
			}
		}
	}()
}

// retryable reports whether a disconnect is worth a reconnect: not when
// the server refused us by policy or the session ended normally.
func retryable(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case protocol.CloseNormal, protocol.ClosePolicy:
			return false
		}
	}
	return true
}

// read dispatches inbound frames until the connection fails.
func (c *Client) read(conn Conn) error {
	for {
		msg, err := conn.Read(context.Background())
		if err != nil {
			return err
		}
		var ferr error
		if err := protocol.SplitBatch(msg, func(raw []byte) {
			var f protocol.Frame
			if err := json.Unmarshal(raw, &f); err != nil {
				ferr = err
				return
			}
			c.route(f)
		}); err != nil || ferr != nil {
			c.log.Warn("hubbub client: server sent a malformed message", "err", errors.Join(err, ferr))
		}
	}
}

func (c *Client) route(f protocol.Frame) {
	switch f.Type {
	case protocol.TypeAck:
		c.mu.Lock()
		ch, ok := c.pending[f.ID]
		delete(c.pending, f.ID)
		c.mu.Unlock()
		if ok {
			ch <- f
		}
	case protocol.TypeEmit:
		if f.Room != "" && f.Offset != 0 && !c.advance(f.Room, f.Offset) {
			return // a duplicate from a replay
		}
		select {
		case c.events <- f:
		case <-c.done:
		}
	case protocol.TypePresence:
		c.mu.Lock()
		fn := c.onPres
		c.mu.Unlock()
		if fn != nil {
			fn(f)
		}
	case protocol.TypeError:
		c.mu.Lock()
		fn := c.onErr
		c.mu.Unlock()
		if fn != nil && f.Err != nil {
			fn(f.Err)
		}
	}
}

// advance records a room event's offset; false when it was already seen.
func (c *Client) advance(room string, off uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.rooms[room]
	switch {
	case !ok:
		return true // not tracked (left, or joined by the server)
	case st.joining:
		if off <= st.seen {
			return false
		}
		st.seen = off
		return true
	case st.pos == nil:
		return true
	case off <= st.pos.Offset:
		return false // a duplicate from a replay
	}
	st.pos.Offset = off
	return true
}

// dispatch runs handlers in arrival order.
func (c *Client) dispatch() {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-c.done; cancel() }()
	for f := range c.events {
		c.mu.Lock()
		h := c.handlers[f.Event]
		c.mu.Unlock()
		if h == nil {
			if f.ID != 0 {
				c.reply(ctx, f.ID, nil, protocol.NewError(protocol.CodeUnknownEvent, "no handler for %q", f.Event))
			}
			continue
		}
		out, err := h(ctx, f.Data, Meta{Room: f.Room, Offset: f.Offset})
		if f.ID != 0 {
			c.reply(ctx, f.ID, out, err)
		}
	}
}

func (c *Client) reply(ctx context.Context, id uint64, out any, err error) {
	a := protocol.Frame{Type: protocol.TypeAck, ID: id}
	if err != nil {
		var we *protocol.Error
		if !errors.As(err, &we) {
			we = &protocol.Error{Code: protocol.CodeInternal, Message: err.Error()}
		}
		a.Err = we
	} else if out != nil {
		d, merr := json.Marshal(out)
		if merr != nil {
			a.Err = &protocol.Error{Code: protocol.CodeInternal, Message: merr.Error()}
		} else {
			a.Data = d
		}
	}
	if err := c.send(ctx, a); err != nil {
		c.log.Debug("hubbub client: ack not sent", "id", id, "err", err)
	}
}
