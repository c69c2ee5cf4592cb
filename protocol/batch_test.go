package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitArray(t *testing.T) {
	for _, c := range splitCases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			err := splitArray([]byte(c.in), func(elem []byte) { got = append(got, string(elem)) })
			if c.err {
				require.Error(t, err)
				require.Empty(t, got, "fn called before the error")
				return
			}
			require.NoError(t, err)
			require.Equal(t, len(c.want), len(got), "elements: %q", got)
			for i := range c.want {
				require.Equal(t, c.want[i], got[i])
			}
			requireSplitMatchesJSON(t, []byte(c.in), got)
		})
	}
	err := splitArray([]byte(`{}`), func([]byte) {})
	require.ErrorIs(t, err, errNotArray)
}

// requireSplitMatchesJSON compares elements with what json.Unmarshal into
// []json.RawMessage gives.
func requireSplitMatchesJSON(t *testing.T, in []byte, got []string) {
	t.Helper()
	var want []json.RawMessage
	require.NoError(t, json.Unmarshal(in, &want))
	require.Equal(t, len(want), len(got), "element count for %q", in)
	for i := range want {
		require.True(t, bytes.Equal(want[i], []byte(got[i])), "element %d of %q: splitArray %q, json %q", i, in, got[i], want[i])
	}
}

func TestSplitBatch(t *testing.T) {
	t.Run("arrays", func(t *testing.T) {
		for _, c := range splitCases {
			if c.err || !strings.HasPrefix(strings.TrimLeft(c.in, " \t\r\n"), "[") {
				continue
			}
			var got []string
			require.NoError(t, SplitBatch([]byte(c.in), func(f []byte) { got = append(got, string(f)) }), c.name)
			require.Equal(t, len(c.want), len(got), c.name)
			for i := range c.want {
				require.Equal(t, c.want[i], got[i], c.name)
			}
		}
	})
	t.Run("single object passes through whole", func(t *testing.T) {
		for _, in := range []string{`{"t":"ping"}`, " \n{\"t\":\"emit\",\"d\":[1,2]} ", `{"broken":`, ``, `"str"`} {
			var got []string
			require.NoError(t, SplitBatch([]byte(in), func(f []byte) { got = append(got, string(f)) }))
			require.Equal(t, []string{in}, got)
		}
	})
	t.Run("invalid array", func(t *testing.T) {
		for _, in := range []string{`[{"t":"ping"},]`, ` [1 2]`, `[`, `[1]]`} {
			calls := 0
			require.Error(t, SplitBatch([]byte(in), func([]byte) { calls++ }), in)
			require.Zero(t, calls, in)
		}
	})
	t.Run("round trip with AppendBatch", func(t *testing.T) {
		frames := [][]byte{[]byte(`{"t":"emit","ev":"a","d":"],["}`), []byte(`{"t":"ack","id":3}`), []byte(`{"t":"ping"}`)}
		var got [][]byte
		require.NoError(t, SplitBatch(AppendBatch(nil, frames), func(f []byte) { got = append(got, bytes.Clone(f)) }))
		require.Equal(t, frames, got)
	})
}

// TestSplitArrayGenerated compares splitArray with encoding/json on
// generated arrays of frames.
func TestSplitArrayGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var b strings.Builder
		b.WriteString(randSpace(r) + "[")
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteString(randSpace(r) + ",")
			}
			b.WriteString(randSpace(r))
			if r.IntN(2) == 0 {
				b.Write(bytes.TrimSpace(genFrame(r)))
			} else {
				b.WriteString(genValue(r, 4))
			}
		}
		b.WriteString(randSpace(r) + "]" + randSpace(r))
		in := []byte(b.String())
		var got []string
		require.NoError(t, splitArray(in, func(e []byte) { got = append(got, string(e)) }), "%q", in)
		requireSplitMatchesJSON(t, in, got)
	}
}

// FuzzSplitArray checks that splitArray never panics, refuses invalid JSON
// and non-arrays without calling fn, and splits valid arrays exactly as
// json.Unmarshal into []json.RawMessage does; and that SplitBatch agrees.
func FuzzSplitArray(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c.in))
	}
	for _, c := range peekCases {
		f.Add([]byte("[" + c.in + "," + c.in + "]"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got [][]byte
		err := splitArray(in, func(e []byte) { got = append(got, e) })
		var want []json.RawMessage
		isArray := json.Valid(in) && bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte("["))
		if !isArray {
			require.Error(t, err, "%q", in)
			require.Empty(t, got)
		} else {
			require.NoError(t, err, "%q", in)
			require.NoError(t, json.Unmarshal(in, &want))
			require.Equal(t, len(want), len(got), "element count for %q", in)
			for i := range want {
				require.True(t, bytes.Equal(want[i], got[i]), "element %d of %q: splitArray %q, json %q", i, in, got[i], want[i])
			}
		}

		var batch [][]byte
		berr := SplitBatch(in, func(fr []byte) { batch = append(batch, fr) })
		switch {
		case !bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte("[")):
			require.NoError(t, berr)
			require.Equal(t, [][]byte{in}, batch)
		case isArray:
			require.NoError(t, berr)
			require.Equal(t, got, batch)
		default:
			require.Error(t, berr)
			require.Empty(t, batch)
		}
	})
}

const benchFrame = `{"t":"emit","room":"lobby","ev":"chat","d":{"text":"hello, world","n":[1,2,3]},"id":7}`
