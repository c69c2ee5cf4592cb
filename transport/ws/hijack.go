package ws

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// upgradeWriter is the http.ResponseWriter melody's upgrader sees for a
// connection already taken from net/http: Hijack hands over the
// connection with a small read buffer; an error answer (status, headers,
// body) is written to the connection as HTTP/1.1 with Connection: close.
type upgradeWriter struct {
	conn     net.Conn
	sock     *socket       // conn as gorilla sees it after Hijack
	req      *http.Request // a copy with only what the handshake reads
	header   http.Header
	hijacked bool
	wrote    bool
	closed   bool
}

// wsHeaders are the request headers the WebSocket handshake reads.
var wsHeaders = []string{"Connection", "Upgrade", "Sec-Websocket-Version", "Sec-Websocket-Key",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Origin"}

// hijack takes the connection from net/http. taken reports whether it did
// (on an error after that, the connection is already closed, so no HTTP
// answer can be written).
func hijack(w http.ResponseWriter, r *http.Request, c *conn) (u *upgradeWriter, taken bool, err error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, false, errors.New("the ResponseWriter cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, false, err
	}
	if brw.Reader.Buffered() > 0 {
		conn.Close()
		return nil, true, errors.New("client sent data before the handshake completed")
	}
	hdr := make(http.Header, len(wsHeaders))
	for _, k := range wsHeaders {
		if v, ok := r.Header[k]; ok {
			hdr[k] = v
		}
	}
	req := &http.Request{Method: r.Method, URL: r.URL, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Header: hdr, Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI}
	sock := newSocket(conn, c)
	c.mu.Lock()
	c.sock = sock
	c.mu.Unlock()
	return &upgradeWriter{conn: conn, sock: sock, req: req, header: make(http.Header)}, true, nil
}

func (u *upgradeWriter) Header() http.Header { return u.header }

func (u *upgradeWriter) WriteHeader(status int) {
	if u.wrote || u.hijacked {
		return
	}
	u.wrote = true
	b := []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	u.header.Set("Connection", "close")
	for k, vs := range u.header {
		for _, v := range vs {
			b = append(b, k+": "+v+"\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	_, _ = u.conn.Write(b)
}

func (u *upgradeWriter) Write(p []byte) (int, error) {
	if u.hijacked {
		return 0, http.ErrHijacked
	}
	u.WriteHeader(http.StatusOK)
	return u.conn.Write(p)
}

// Hijack hands the connection to the upgrader with a readBufferSize read
// buffer, which gorilla keeps as the connection's reader.
func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if u.hijacked || u.wrote {
		return nil, nil, http.ErrHijacked
	}
	u.hijacked = true
	// The handshake holds its own references for as long as it needs
	// them; the connection must not keep the request alive.
	u.req, u.header = nil, nil
	return u.sock, bufio.NewReadWriter(bufio.NewReaderSize(u.sock, readBufferSize), bufio.NewWriterSize(u.sock, 16)), nil
}

// finish closes a connection that was not upgraded.
func (u *upgradeWriter) finish() {
	if !u.hijacked && !u.closed {
		u.closed = true
		u.conn.Close()
	}
}
