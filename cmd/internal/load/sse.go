package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The SSE transport (transport/sse, docs/TRANSPORTS.md) at <base>/sse:
// "sse" reads one event stream per client, "longpoll" polls. Both send the
// join up with a POST.
func init() {
	transports["sse"] = sseTransport{poll: false}
	transports["longpoll"] = sseTransport{poll: true}
}

// httpTransport is shared by the SSE and long-poll clients. Each stream or
// poll holds one connection; POSTs use short-lived ones (Connection:
// close) so that no idle connection inflates the server's memory figures.
var httpTransport = &http.Transport{
	MaxIdleConnsPerHost: 1 << 16,
	IdleConnTimeout:     time.Minute,
	DisableCompression:  true,
}

var httpClient = &http.Client{Transport: httpTransport}

type sseTransport struct{ poll bool }

func (t sseTransport) Subscribe(ctx context.Context, base, room string) (Stream, error) {
	u := base + "/sse"
	var st Stream
	var token string
	if t.poll {
		p := &pollStream{url: u}
		p.ctx, p.cancel = context.WithCancel(context.Background())
		msg, err := p.get(ctx, u+"?mode=poll", nil)
		if err != nil {
			p.cancel()
			return nil, err
		}
		if token = jsonString(msg, `"session":"`); token == "" {
			return nil, fmt.Errorf("poll: no session in %.100q", msg)
		}
		p.token = token
		p.first = msg
		st = p
	} else {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, bytes.TrimSpace(b))
		}
		s := &sseStream{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 4096)}
		st = s
		s.onID = func(id []byte) {
			if token == "" {
				if i := bytes.IndexByte(id, '.'); i > 0 {
					token = string(id[:i])
				}
			}
		}
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	post := func(msg []byte) error {
		if token == "" {
			return errors.New("no session token yet")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"?session="+token, bytes.NewReader(msg))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Close = true
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST: HTTP %d", resp.StatusCode)
		}
		return nil
	}
	if err := handshake(st, post, room); err != nil {
		st.Close()
		return nil, err
	}
	if s, ok := st.(*sseStream); ok {
		s.onID = nil
	}
	return st, nil
}

// sseStream reads one event stream; Read returns each event's data.
type sseStream struct {
	body io.ReadCloser
	r    *bufio.Reader
	onID func(id []byte)
}

func (s *sseStream) Read(buf []byte) ([]byte, error) {
	buf = buf[:0]
	data := false
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, line...) // a data line longer than the buffer
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.r.ReadSlice('\n')
				buf = append(buf, line...)
			}
			if err != nil {
				return buf, err
			}
			buf = bytes.TrimRight(buf, "\r\n")
			data = true
			continue
		}
		if err != nil {
			return buf, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if data {
				return buf, nil
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if data {
				buf = append(buf, '\n')
			}
			buf = append(buf, bytes.TrimPrefix(line[5:], []byte(" "))...)
			data = true
		case bytes.HasPrefix(line, []byte("id:")) && s.onID != nil:
			s.onID(bytes.TrimSpace(line[3:]))
		}
	}
}

func (s *sseStream) Close() error { return s.body.Close() }

// pollStream long-polls; Read returns each answer's frames as one JSON
// array (an answer without frames is skipped).
type pollStream struct {
	url, token string
	cursor     uint64
	first      []byte // the answer that opened the session
	ctx        context.Context
	cancel     context.CancelFunc
}

func (p *pollStream) get(ctx context.Context, u string, buf []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return buf, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return buf, err
	}
	defer resp.Body.Close()
	buf, err = readAll(buf[:0], resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("poll: HTTP %d: %.200s", resp.StatusCode, bytes.TrimSpace(buf))
	}
	if err != nil {
		return buf, err
	}
	c := jsonNumber(buf, `"cursor":`)
	if c < 0 {
		return buf, fmt.Errorf("poll: no cursor in %.100q", buf)
	}
	p.cursor = uint64(c)
	return buf, nil
}

var framesKey = []byte(`"frames":`)

func (p *pollStream) Read(buf []byte) ([]byte, error) {
	for {
		var msg []byte
		if p.first != nil {
			msg, p.first = p.first, nil
		} else {
			var err error
			u := p.url + "?mode=poll&session=" + p.token + "&cursor=" + strconv.FormatUint(p.cursor, 10)
			if msg, err = p.get(p.ctx, u, buf); err != nil {
				return msg, err
			}
		}
		i := bytes.Index(msg, framesKey)
		if i < 0 {
			return msg, fmt.Errorf("poll: no frames in %.100q", msg)
		}
		frames := bytes.TrimRight(msg[i+len(framesKey):], " \r\n}")
		if len(frames) > 2 { // not "[]"
			return frames, nil
		}
	}
}

func (p *pollStream) Close() error {
	p.cancel()
	return nil
}

// jsonString returns the string after key (which ends in a quote), or "".
func jsonString(b []byte, key string) string {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return ""
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return ""
	}
	return string(b[:j])
}

// jsonNumber returns the unsigned number after key, or -1.
func jsonNumber(b []byte, key string) int64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return -1
	}
	b = b[i+len(key):]
	var n int64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	if j == 0 {
		return -1
	}
	return n
}
