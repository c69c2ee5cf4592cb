package load

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbubhq/hubbub/engine"
)

// Transport opens subscriber connections to a hubbub server over one
// transport. Adding a transport (sse, longpoll) is one file with an
// implementation that registers itself in transports.
type Transport interface {
	// Subscribe connects to the server at base (http://host:port), reads
	// the hello frame and joins room. It returns once the server has acked
	// the join, so every event published afterwards reaches the stream.
	Subscribe(ctx context.Context, base, room string) (Stream, error)
}

// Stream is one subscriber connection. Read is called from one goroutine.
type Stream interface {
	// Read returns the next transport message (one frame or a JSON array
	// of frames), appended to buf[:0] so that buf's storage is reused.
	Read(buf []byte) ([]byte, error)
	// Close ends the connection and unblocks Read.
	Close() error
}

var transports = map[string]Transport{
	"ws": wsTransport{dialer: &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}},
}

// Transports lists the transports the load tool speaks.
func Transports() []string {
	names := make([]string, 0, len(transports))
	for n := range transports {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// wsTransport speaks the protocol over WebSocket at <base>/ws.
type wsTransport struct{ dialer *websocket.Dialer }

type wsStream struct{ c *websocket.Conn }

func (t wsTransport) Subscribe(ctx context.Context, base, room string) (Stream, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	c, resp, err := t.dialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	s := &wsStream{c: c}
	if dl, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(dl)
		c.SetWriteDeadline(dl)
	}
	if err := handshake(s, func(msg []byte) error { return c.WriteMessage(websocket.TextMessage, msg) }, room); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	c.SetWriteDeadline(time.Time{})
	return s, nil
}

func (s *wsStream) Read(buf []byte) ([]byte, error) {
	_, r, err := s.c.NextReader()
	if err != nil {
		return buf[:0], err
	}
	return readAll(buf[:0], r)
}

func (s *wsStream) Close() error { return s.c.Close() }

// readAll is io.ReadAll into buf's storage.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// handshake reads the hello frame, sends a join for room with ack id 1 and
// reads until the ack, for any message-oriented transport.
func handshake(s Stream, write func([]byte) error, room string) error {
	var frames []engine.Frame
	next := func() (engine.Frame, error) {
		for len(frames) == 0 {
			msg, err := s.Read(nil)
			if err != nil {
				return engine.Frame{}, err
			}
			if frames, err = decode(msg); err != nil {
				return engine.Frame{}, err
			}
		}
		f := frames[0]
		frames = frames[1:]
		return f, nil
	}
	f, err := next()
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if f.Type != engine.TypeHello {
		return fmt.Errorf("first frame is %q, not hello", f.Type)
	}
	join := fmt.Appendf(nil, `{"t":"join","room":%q,"id":1}`, room)
	if err := write(join); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	for {
		f, err := next()
		if err != nil {
			return fmt.Errorf("join ack: %w", err)
		}
		switch {
		case f.Type == engine.TypeAck && f.ID == 1 && f.Err != nil:
			return fmt.Errorf("join refused: %s: %s", f.Err.Code, f.Err.Message)
		case f.Type == engine.TypeAck && f.ID == 1:
			return nil
		case f.Type == engine.TypeError && f.Err != nil:
			return fmt.Errorf("error frame: %s: %s", f.Err.Code, f.Err.Message)
		}
	}
}

// decode splits a transport message into frames.
func decode(msg []byte) ([]engine.Frame, error) {
	var frames []engine.Frame
	var derr error
	err := engine.SplitBatch(msg, func(raw []byte) {
		var f engine.Frame
		if err := json.Unmarshal(raw, &f); err != nil && derr == nil {
			derr = err
		}
		frames = append(frames, f)
	})
	return frames, cmp.Or(err, derr)
}

// dataKey precedes a string payload in an emit frame. Server frames have a
// fixed field order ending in "d" (docs/PROTOCOL.md), and the benchmark
// payload has no characters that JSON escapes.
var dataKey = []byte(`"d":"`)

// Payloads calls fn with every string payload in a transport message (one
// emit frame or a JSON array of them), without decoding the JSON. Frames
// without a string payload (acks, presence) are skipped. fn must not
// retain the slice.
func Payloads(msg []byte, fn func(payload []byte)) {
	for {
		i := bytes.Index(msg, dataKey)
		if i < 0 {
			return
		}
		msg = msg[i+len(dataKey):]
		j := bytes.IndexByte(msg, '"')
		if j < 0 {
			return
		}
		fn(msg[:j])
		msg = msg[j+1:]
	}
}

// getText GETs url and returns the trimmed body of a 200 answer.
func getText(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return string(bytes.TrimSpace(b)), err
}
