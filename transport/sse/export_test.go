package sse

import "time"

// Attached reports whether the session with this token is registered and
// whether a stream or poll is attached to it.
func Attached(h *Handler, token string) (attached, known bool) {
	h.mu.Lock()
	s := h.sessions[token]
	h.mu.Unlock()
	if s == nil {
		return false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rd != nil, true
}

// Registered returns how many sessions (open or recently closed) the
// handler knows.
func Registered(h *Handler) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Expire runs the grace timer of the session with this token now, as if
// the grace period had ended. It returns false if a reader is attached.
func Expire(h *Handler, token string) bool {
	h.mu.Lock()
	s := h.sessions[token]
	h.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	if s.rd != nil {
		s.mu.Unlock()
		return false
	}
	s.due = time.Now()
	s.mu.Unlock()
	s.expire()
	return true
}
