package ws

// Behind reports whether h holds publishers back (backlog.behind).
func Behind(h *Handler) bool { return h.backlog.behind() }
