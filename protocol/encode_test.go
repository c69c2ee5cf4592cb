package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/protocol"
)

// TestAppendDecodes checks that every frame the server encodes by
// appending decodes into the Frame a client reads, with the same fields.
func TestAppendDecodes(t *testing.T) {
	e := &protocol.Error{Code: protocol.CodeForbidden, Message: "no \"way\"\n"}
	for _, tc := range []struct {
		name string
		raw  []byte
		want protocol.Frame
	}{
		{"hello", protocol.AppendHello(nil, "s1", "ana"), protocol.Frame{Type: protocol.TypeHello, Version: protocol.Version, Session: "s1", User: "ana"}},
		{"emit to a room", protocol.AppendEmit(nil, "chat", "lobby", 7, 0, []byte(`{"x":1}`)), protocol.Frame{Type: protocol.TypeEmit, Event: "chat", Room: "lobby", Offset: 7, Data: json.RawMessage(`{"x":1}`)}},
		{"emit with ack", protocol.AppendEmit(nil, "ask", "", 0, 3, nil), protocol.Frame{Type: protocol.TypeEmit, Event: "ask", ID: 3}},
		{"volatile", protocol.AppendVolatile(nil, "cursor", "doc", []byte(`[1,2]`)), protocol.Frame{Type: protocol.TypeEmit, Event: "cursor", Room: "doc", Data: json.RawMessage(`[1,2]`)}},
		{"ack", protocol.AppendAck(nil, 9, []byte(`"ok"`)), protocol.Frame{Type: protocol.TypeAck, ID: 9, Data: json.RawMessage(`"ok"`)}},
		{"error ack", protocol.AppendAckError(nil, 9, e), protocol.Frame{Type: protocol.TypeAck, ID: 9, Err: e}},
		{"error frame", protocol.AppendErrorFrame(nil, e), protocol.Frame{Type: protocol.TypeError, Err: e}},
		{"presence", protocol.AppendPresence(nil, "lobby", protocol.PresenceJoin, "ana", []byte(`{"n":"A"}`)), protocol.Frame{Type: protocol.TypePresence, Event: "join", Room: "lobby", User: "ana", Meta: json.RawMessage(`{"n":"A"}`)}},
		{"close", protocol.AppendClose(nil, protocol.ReasonSlow), protocol.Frame{Type: protocol.TypeClose, Close: &protocol.ReasonSlow}},
		{"resync", protocol.AppendTransportFrame(nil, protocol.TypeResync, e), protocol.Frame{Type: protocol.TypeResync, Err: e}},
		{"unicode names", protocol.AppendEmit(nil, "é\u2028", "☃", 1, 0, nil), protocol.Frame{Type: protocol.TypeEmit, Event: "é\u2028", Room: "☃", Offset: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, json.Valid(tc.raw), "%s", tc.raw)
			var got protocol.Frame
			require.NoError(t, json.Unmarshal(tc.raw, &got))
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAppendBatchSplits(t *testing.T) {
	frames := [][]byte{protocol.AppendAck(nil, 1, nil), protocol.AppendAck(nil, 2, nil)}
	require.Equal(t, frames[0], protocol.AppendBatch(nil, frames[:1]), "one frame is sent as it is")
	batch := protocol.AppendBatch(nil, frames)
	var got [][]byte
	require.NoError(t, protocol.SplitBatch(batch, func(f []byte) { got = append(got, f) }))
	require.Equal(t, frames, got)
}

func TestCloseCodeString(t *testing.T) {
	require.Equal(t, "slow consumer (4008)", protocol.CloseSlowConsumer.String())
	require.Equal(t, "abnormal closure (1006)", protocol.CloseAbnormal.String())
	require.Equal(t, "4999", protocol.CloseCode(4999).String())
	b, err := json.Marshal(protocol.ReasonGoingAway)
	require.NoError(t, err)
	require.JSONEq(t, `{"code":1001,"reason":"server shutting down"}`, string(b), "a code is a number on the wire")
}

func TestParseRefusal(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   protocol.Error
	}{
		{403, `{"error":"forbidden","reason":"origin x not allowed"}`, protocol.Error{Code: "forbidden", Message: "origin x not allowed"}},
		{401, `nope`, protocol.Error{Code: protocol.CodeUnauthorized, Message: "HTTP 401: nope"}},
		{403, ``, protocol.Error{Code: protocol.CodeForbidden, Message: "HTTP 403: "}},
		{503, `{}`, protocol.Error{Code: protocol.CodeUnavailable, Message: "HTTP 503: {}"}},
		{502, `<html>`, protocol.Error{Code: "http_502", Message: "HTTP 502: <html>"}},
	} {
		require.Equal(t, &tc.want, protocol.ParseRefusal(tc.status, []byte(tc.body)), "%d %s", tc.status, tc.body)
	}
}
