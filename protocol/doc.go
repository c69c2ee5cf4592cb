// Package protocol is hubbub's wire vocabulary, shared by the server, its
// transports and its clients: the frames and their types, error codes,
// close codes and reasons, room positions, the join result, the presence
// entry, the transport frames (resync, replaced), the body of a refused
// request, and the framing of several frames in one transport message.
// docs/PROTOCOL.md describes the protocol; this package is its Go form.
//
// It imports nothing of hubbub, so a client (github.com/hubbubhq/hubbub/client
// or one written from the documentation) needs nothing of the server.
//
// Frames are JSON objects. Clients decode them into Frame; the server
// encodes outbound frames with the Append functions, which append to a
// caller's buffer and allocate nothing of their own, so a broadcast is
// encoded once and its bytes shared by every recipient. Peek reads the
// routing members of an inbound frame without decoding it.
package protocol
