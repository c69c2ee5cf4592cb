package engine

// CloseReason says why a session ended. Codes follow WebSocket close codes
// (RFC 6455 §7.4) so the WebSocket transport sends them as they are; other
// transports deliver them in a final "close" frame.
type CloseReason struct {
	Code int    `json:"code"`
	Text string `json:"reason"`
}

// Close codes used by the engine and its transports.
const (
	CloseNormal       = 1000 // the client or the application ended the session
	CloseGoingAway    = 1001 // the server is shutting down: reconnect, possibly elsewhere
	CloseProtocol     = 1002 // the peer broke the protocol
	CloseUnsupported  = 1003 // the peer sent a kind of message the server does not take (binary)
	ClosePolicy       = 1008 // the session broke a rule (origin, auth, limits)
	CloseTooBig       = 1009 // a message exceeded the size limit
	CloseInternal     = 1011 // the server failed
	CloseSlowConsumer = 4008 // the send queue overflowed: reconnect and recover from history
)

// Reasons the engine itself uses.
var (
	ReasonNormal    = CloseReason{Code: CloseNormal, Text: "closed"}
	ReasonGoingAway = CloseReason{Code: CloseGoingAway, Text: "server shutting down"}
	ReasonSlow      = CloseReason{Code: CloseSlowConsumer, Text: "slow consumer: send queue full; reconnect and recover"}
)
