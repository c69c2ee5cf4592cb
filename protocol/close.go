package protocol

import "strconv"

// CloseCode says why a session ended. Codes follow WebSocket close codes
// (RFC 6455 §7.4), so the WebSocket transport sends them as they are;
// other transports deliver them in a final close frame.
type CloseCode int

// Close codes used by the server and its transports.
const (
	CloseNormal       CloseCode = 1000 // the client or the application ended the session
	CloseGoingAway    CloseCode = 1001 // the server is shutting down: reconnect and recover
	CloseProtocol     CloseCode = 1002 // the peer broke the protocol
	CloseUnsupported  CloseCode = 1003 // the peer sent a kind of message the server does not take (binary)
	CloseNoStatus     CloseCode = 1005 // a close without a code (never sent)
	CloseAbnormal     CloseCode = 1006 // the connection was lost without a close (never sent on a WebSocket)
	CloseInvalidData  CloseCode = 1007 // a text message was not valid UTF-8
	ClosePolicy       CloseCode = 1008 // the session broke a rule (origin, auth, limits)
	CloseTooBig       CloseCode = 1009 // a message exceeded the size limit
	CloseInternal     CloseCode = 1011 // the server failed
	CloseSlowConsumer CloseCode = 4008 // the send queue overflowed: reconnect and recover from history
)

var closeNames = map[CloseCode]string{
	CloseNormal:       "normal",
	CloseGoingAway:    "going away",
	CloseProtocol:     "protocol error",
	CloseUnsupported:  "unsupported data",
	CloseNoStatus:     "no status",
	CloseAbnormal:     "abnormal closure",
	CloseInvalidData:  "invalid data",
	ClosePolicy:       "policy violation",
	CloseTooBig:       "message too big",
	CloseInternal:     "internal error",
	CloseSlowConsumer: "slow consumer",
}

// String returns the code's name and number, as "slow consumer (4008)",
// or just the number for a code this package does not name.
func (c CloseCode) String() string {
	n := strconv.Itoa(int(c))
	if name, ok := closeNames[c]; ok {
		return name + " (" + n + ")"
	}
	return n
}

// CloseReason is a close code with a text for people.
type CloseReason struct {
	Code CloseCode `json:"code"`
	Text string    `json:"reason"`
}

// Reasons the server itself uses.
var (
	ReasonNormal    = CloseReason{Code: CloseNormal, Text: "closed"}
	ReasonGoingAway = CloseReason{Code: CloseGoingAway, Text: "server shutting down"}
	ReasonSlow      = CloseReason{Code: CloseSlowConsumer, Text: "slow consumer: send queue full; reconnect and recover"}
)
