package engine

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/hubbubhq/hubbub/protocol"
)

type ackReply struct {
	data   json.RawMessage
	err    *Error
	closed bool
}

// pendingAcks tracks server-to-client requests waiting for the client's ack.
type pendingAcks struct {
	mu     sync.Mutex
	next   uint64
	wait   map[uint64]chan ackReply
	closed bool
}

func (p *pendingAcks) add(ch chan ackReply) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, false
	}
	if p.wait == nil {
		p.wait = make(map[uint64]chan ackReply)
	}
	p.next++
	p.wait[p.next] = ch
	return p.next, true
}

func (p *pendingAcks) remove(id uint64) {
	p.mu.Lock()
	delete(p.wait, id)
	p.mu.Unlock()
}

// resolve delivers the client's ack; false when no request has that id.
func (p *pendingAcks) resolve(id uint64, data json.RawMessage, err *Error) bool {
	p.mu.Lock()
	ch, ok := p.wait[id]
	delete(p.wait, id)
	p.mu.Unlock()
	if ok {
		ch <- ackReply{data: data, err: err}
	}
	return ok
}

func (p *pendingAcks) failAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, ch := range p.wait {
		ch <- ackReply{closed: true}
		delete(p.wait, id)
	}
}

// EmitWithAck sends an event to this session and waits for the client's
// acknowledgement, returning its payload. It returns ctx's error when ctx
// ends first (give it a deadline: a client that never answers is waited for
// until the session ends), ErrSessionClosed when the session ends, and the
// client's *Error when it answered with an error ack.
func (s *Session) EmitWithAck(ctx context.Context, event string, data any) (json.RawMessage, error) {
	if err := s.e.checkName(event); err != nil {
		return nil, err
	}
	d, err := s.e.encodePayload(data)
	if err != nil {
		return nil, err
	}
	ch := make(chan ackReply, 1)
	id, ok := s.acks.add(ch)
	if !ok {
		return nil, ErrSessionClosed
	}
	defer s.acks.remove(id)
	if !s.send(protocol.AppendEmit(nil, event, "", 0, id, d)) {
		return nil, ErrSessionClosed
	}
	select {
	case r := <-ch:
		switch {
		case r.closed:
			return nil, ErrSessionClosed
		case r.err != nil:
			return nil, r.err
		}
		return r.data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
