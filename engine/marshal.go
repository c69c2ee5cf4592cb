package engine

import "encoding/json"

// marshalData encodes a payload once. A json.RawMessage is used as it is
// after validation; nil stays nil; anything else goes through json.Marshal
// (so a []byte becomes a base64 string, as encoding/json does).
func marshalData(v any) ([]byte, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, NewError(CodeBadPayload, "payload is not valid JSON")
		}
		return d, nil
	default:
		return json.Marshal(v)
	}
}
