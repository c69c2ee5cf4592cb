package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// peekCase is one Peek input with the expected result. The fields
// are only compared when ok is true.
type peekCase struct {
	name          string
	in            string
	ok            bool
	typ, room, ev string
	id            uint64
}

var peekCases = []peekCase{
	// Typical frames.
	{name: "emit with nested payload", in: `{"t":"emit","ev":"msg","d":{"a":[1,2,{"x":"}"}]},"id":7}`, ok: true, typ: "emit", ev: "msg", id: 7},
	{name: "emit to room", in: `{"t":"emit","room":"lobby","ev":"chat","d":"hi","id":42}`, ok: true, typ: "emit", room: "lobby", ev: "chat", id: 42},
	{name: "join with since", in: `{"t":"join","room":"r1","id":3,"since":{"epoch":"e","off":9},"history":10}`, ok: true, typ: "join", room: "r1", id: 3},
	{name: "leave", in: `{"t":"leave","room":"r1"}`, ok: true, typ: "leave", room: "r1"},
	{name: "ack with error", in: `{"t":"ack","id":5,"d":null,"err":{"code":"x","msg":"y"}}`, ok: true, typ: "ack", id: 5},
	{name: "ping", in: `{"t":"ping"}`, ok: true, typ: "ping"},
	{name: "presence", in: `{"t":"presence","ev":"join","room":"r","user":"u","meta":{"k":[true,false,null]}}`, ok: true, typ: "presence", room: "r", ev: "join"},
	{name: "non-ASCII names", in: `{"t":"emit","room":"salle-é","ev":"日本語","id":1}`, ok: true, typ: "emit", room: "salle-é", ev: "日本語", id: 1},
	{name: "names with JSON punctuation", in: `{"t":"emit","room":"a{b}[c],d:e","ev":"x}"}`, ok: true, typ: "emit", room: "a{b}[c],d:e", ev: "x}"},
	{name: "empty strings", in: `{"t":"","room":"","ev":""}`, ok: true},

	// Whitespace and order.
	{name: "whitespace everywhere", in: " \t\r\n{ \"t\" \n: \"emit\" ,\t\"ev\"\t:\"x\" ,\r\n\"d\" : [ 1 , { \"a\" : \"b\" } ] , \"id\" : 12 \n} \n\t\r", ok: true, typ: "emit", ev: "x", id: 12},
	{name: "whitespace around empty payloads", in: "{\"d\":{ },\"m\":[ ],\"t\":\"ping\"}", ok: true, typ: "ping"},
	{name: "reverse order", in: `{"id":9,"d":[],"ev":"e","room":"r","t":"emit"}`, ok: true, typ: "emit", room: "r", ev: "e", id: 9},
	{name: "id first", in: `{"id":18,"t":"ack"}`, ok: true, typ: "ack", id: 18},
	{name: "t last after payload", in: `{"d":{"t":"nested","id":99,"room":"no"},"ev":"real","t":"emit"}`, ok: true, typ: "emit", ev: "real"},

	// Skipped values that contain JSON punctuation.
	{name: "skipped strings with punctuation", in: `{"d":{"a":"}],:{[\"","b":[[[{}]],{"c":"\\"}],"e":"\\\"}"},"t":"emit","ev":"x"}`, ok: true, typ: "emit", ev: "x"},
	{name: "skipped escaped quotes", in: `{"d":"\"\"\"","e":["\"]","\\","\\\\"],"t":"ack","id":2}`, ok: true, typ: "ack", id: 2},
	{name: "skipped unicode escapes", in: `{"d":"\u00e9\n\"\u005c","t":"emit","ev":"é"}`, ok: true, typ: "emit", ev: "é"},
	{name: "skipped literals and numbers", in: `{"a":true,"b":false,"c":null,"n":-1.5e+10,"z":0,"t":"ack","id":1}`, ok: true, typ: "ack", id: 1},
	{name: "deep nesting", in: `{"d":[[[[[[[[[[{"a":[{"b":{"c":"]]]}}}"}}]}]]]]]]]]]],"t":"emit","ev":"deep"}`, ok: true, typ: "emit", ev: "deep"},
	{name: "nested key t with escapes", in: `{"d":{"\u0074":"\u0078"},"t":"emit","ev":"e"}`, ok: true, typ: "emit", ev: "e"},

	// id.
	{name: "id absent", in: `{"t":"emit","ev":"e"}`, ok: true, typ: "emit", ev: "e"},
	{name: "id zero", in: `{"t":"emit","ev":"e","id":0}`, ok: true, typ: "emit", ev: "e"},
	{name: "id max uint64", in: `{"t":"ack","id":18446744073709551615}`, ok: true, typ: "ack", id: math.MaxUint64},
	{name: "id max uint64 with space", in: `{"t":"ack","id":18446744073709551615 }`, ok: true, typ: "ack", id: math.MaxUint64},
	{name: "id overflow by one", in: `{"t":"ack","id":18446744073709551616}`},
	{name: "id overflow 20 nines", in: `{"t":"ack","id":99999999999999999999}`},
	{name: "id overflow long", in: `{"t":"ack","id":1000000000000000000000000}`},
	{name: "id negative", in: `{"t":"ack","id":-1}`},
	{name: "id negative zero", in: `{"t":"ack","id":-0}`},
	{name: "id float", in: `{"t":"ack","id":1.5}`},
	{name: "id float zero fraction", in: `{"t":"ack","id":1.0}`},
	{name: "id exponent", in: `{"t":"ack","id":1e3}`},
	{name: "id exponent upper", in: `{"t":"ack","id":1E3}`},
	{name: "id leading zero", in: `{"t":"ack","id":07}`},
	{name: "id double zero", in: `{"t":"ack","id":00}`},
	{name: "id string", in: `{"t":"ack","id":"7"}`},
	{name: "id null", in: `{"t":"ack","id":null}`},
	{name: "id bool", in: `{"t":"ack","id":true}`},
	{name: "id object", in: `{"t":"ack","id":{}}`},
	{name: "id missing value", in: `{"t":"ack","id":}`},
	{name: "id trailing letter", in: `{"t":"ack","id":7x}`},

	// Escapes in member names and routed strings.
	{name: "escaped key t", in: `{"\u0074":"emit"}`},
	{name: "escaped other key", in: `{"\u0064":1,"t":"emit"}`},
	{name: "key with escaped quote", in: `{"a\"b":1,"t":"emit"}`},
	{name: "escaped t value", in: `{"t":"em\u0069t"}`},
	{name: "t value with escaped quote", in: `{"t":"a\"b"}`},
	{name: "escaped ev", in: `{"t":"emit","ev":"a\/b"}`},
	{name: "escaped room", in: `{"t":"join","room":"a\\b"}`},

	// Routed members of the wrong type.
	{name: "t number", in: `{"t":1}`},
	{name: "t null", in: `{"t":null}`},
	{name: "ev array", in: `{"t":"emit","ev":["x"]}`},
	{name: "room object", in: `{"t":"join","room":{"a":"b"}}`},

	// Trailing input.
	{name: "trailing garbage", in: `{"t":"ping"}x`},
	{name: "trailing object", in: `{"t":"ping"}{}`},
	{name: "trailing comma", in: `{"t":"ping"},`},
	{name: "trailing brace", in: `{"t":"ping"}}`},
	{name: "trailing garbage after space", in: `{"t":"ping"} 1`},
	{name: "trailing whitespace", in: "{\"t\":\"ping\"} \t\r\n", ok: true, typ: "ping"},

	// Empty object.
	{name: "empty object", in: `{}`, ok: true},
	{name: "empty object with space", in: " { \n } ", ok: true},
	{name: "empty object trailing garbage", in: `{}x`},

	// Not an object.
	{name: "empty input", in: ``},
	{name: "only whitespace", in: " \n\t "},
	{name: "array", in: `[]`},
	{name: "array of frames", in: `[{"t":"ping"}]`},
	{name: "string", in: `"t"`},
	{name: "number", in: `7`},
	{name: "null", in: `null`},
	{name: "true", in: `true`},
	{name: "closing brace", in: `}`},

	// Malformed objects.
	{name: "trailing comma in object", in: `{"t":"ping",}`},
	{name: "lone comma", in: `{,}`},
	{name: "missing colon", in: `{"t" "ping"}`},
	{name: "missing close", in: `{"t":"ping"`},
	{name: "missing value", in: `{"t":}`},
	{name: "unquoted key", in: `{t:"ping"}`},
	{name: "two values", in: `{"a":1 2,"t":"ping"}`},
	{name: "skipped missing value", in: `{"a":}`},
	{name: "unterminated skipped string", in: `{"a":"\"}`},
	{name: "unterminated key", in: `{"t`},
	{name: "unterminated value", in: `{"t":"pi`},
	{name: "stray close bracket in value", in: `{"a":],"t":"ping"}`},
	{name: "missing comma", in: `{"a":1 "t":"ping"}`},
	{name: "colon instead of comma", in: `{"a":1:"t":"ping"}`},

	// Exact duplicates: the last one wins, as with encoding/json.
	{name: "duplicate t", in: `{"t":"emit","t":"ack","id":1,"id":2}`, ok: true, typ: "ack", id: 2},
}

func TestPeekTable(t *testing.T) {
	for _, c := range peekCases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := Peek([]byte(c.in))
			require.Equal(t, c.ok, ok, "Peek(%q)", c.in)
			if !c.ok {
				return
			}
			require.Equal(t, c.typ, string(p.Type), "t")
			require.Equal(t, c.room, string(p.Room), "room")
			require.Equal(t, c.ev, string(p.Event), "ev")
			require.Equal(t, c.id, p.ID, "id")
		})
	}
}

// TestPeekAliases checks that the Header strings are sub-slices of
// the input (no copies on the hot path).
func TestPeekAliases(t *testing.T) {
	raw := []byte(`{"t":"emit","room":"lobby","ev":"chat","id":1}`)
	p, ok := Peek(raw)
	require.True(t, ok)
	raw[6] = 'E' // "emit" → "Emit"
	require.Equal(t, "Emit", string(p.Type))
	raw[len(`{"t":"emit","room":"`)] = 'L'
	require.Equal(t, "Lobby", string(p.Room))
}

// TestPeekTruncated feeds every proper prefix of each valid frame:
// none is a complete object, so none may be accepted, and none may panic.
func TestPeekTruncated(t *testing.T) {
	for _, c := range peekCases {
		if !c.ok {
			continue
		}
		in := []byte(c.in)
		end := bytes.LastIndexByte(in, '}')
		require.GreaterOrEqual(t, end, 0, c.name)
		for n := 0; n <= end; n++ {
			prefix := bytes.Clone(in[:n]) // exact capacity: reading past it panics
			require.NotPanics(t, func() {
				_, ok := Peek(prefix)
				require.False(t, ok, "%s: prefix %q accepted", c.name, prefix)
			})
		}
	}
}

// TestPeekMatchesEncodingJSON checks Peek against json.Unmarshal
// into Frame for the table's valid frames and generated ones.
func TestPeekMatchesEncodingJSON(t *testing.T) {
	var corpus [][]byte
	for _, c := range peekCases {
		if c.ok {
			corpus = append(corpus, []byte(c.in))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		corpus = append(corpus, genFrame(r))
	}
	for _, raw := range corpus {
		require.True(t, json.Valid(raw), "corpus input is not valid JSON: %s", raw)
		var f Frame
		require.NoError(t, json.Unmarshal(raw, &f), "%s", raw)
		p, ok := Peek(raw)
		require.True(t, ok, "Peek refused %s", raw)
		requirePeekedEqual(t, raw, p, f)
	}
}

func requirePeekedEqual(t *testing.T, raw []byte, p Header, f Frame) {
	t.Helper()
	if string(p.Type) == f.Type && string(p.Room) == f.Room && string(p.Event) == f.Event && p.ID == f.ID {
		return
	}
	t.Fatalf("Peek and encoding/json disagree on %q (%s):\n"+
		"  Peek: t=%q room=%q ev=%q id=%d\n"+
		"  json:      t=%q room=%q ev=%q id=%d",
		raw, mismatchHint(raw, p),
		p.Type, p.Room, p.Event, p.ID, f.Type, f.Room, f.Event, f.ID)
}

// mismatchHint names the known ways in which encoding/json reads a frame
// differently from Peek.
func mismatchHint(raw []byte, p Header) string {
	var hints []string
	keys, _ := topLevelKeys(raw)
	for _, k := range keys {
		for _, name := range []string{"t", "room", "ev", "id"} {
			if k != name && strings.EqualFold(k, name) {
				hints = append(hints, fmt.Sprintf("key %q matches field %q case-insensitively in encoding/json", k, name))
			}
		}
	}
	for _, s := range [][]byte{p.Type, p.Room, p.Event} {
		if !utf8.Valid(s) {
			hints = append(hints, fmt.Sprintf("%q is invalid UTF-8, which encoding/json replaces with U+FFFD", s))
		}
	}
	if len(hints) == 0 {
		return "no known cause"
	}
	return strings.Join(hints, "; ")
}

// topLevelKeys returns the decoded member names of the JSON object raw.
func topLevelKeys(raw []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		keys = append(keys, k)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	return keys, true
}

// hasDuplicateKeys reports whether two member names would set the same
// struct field in encoding/json, which matches names case-insensitively.
func hasDuplicateKeys(keys []string) bool {
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if strings.EqualFold(keys[i], keys[j]) {
				return true
			}
		}
	}
	return false
}

// genFrame returns a random valid frame whose routed members are plain
// (so Peek must accept it), with members in random order, random
// whitespace between all tokens and nested payloads full of punctuation.
func genFrame(r *rand.Rand) []byte {
	type member struct{ key, val string }
	var ms []member
	if r.IntN(8) != 0 {
		ms = append(ms, member{"t", plainJSONString(r, []string{"emit", "ack", "join", "leave", "ping", "x"})})
	}
	if r.IntN(2) == 0 {
		ms = append(ms, member{"room", plainJSONString(r, nil)})
	}
	if r.IntN(2) == 0 {
		ms = append(ms, member{"ev", plainJSONString(r, nil)})
	}
	if r.IntN(3) != 0 {
		var id uint64
		switch r.IntN(4) {
		case 0:
			id = 0
		case 1:
			id = math.MaxUint64 - uint64(r.IntN(3))
		case 2:
			id = uint64(r.IntN(1000))
		default:
			id = r.Uint64() >> r.IntN(64)
		}
		ms = append(ms, member{"id", strconv.FormatUint(id, 10)})
	}
	if r.IntN(2) == 0 {
		ms = append(ms, member{"d", genValue(r, 4)})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"off", strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"meta", genValue(r, 3)})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"user", quoteJSON(randString(r))})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"since", `{"epoch":` + quoteJSON(randString(r)) + `,"off":` + strconv.Itoa(r.IntN(100)) + `}`})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"history", strconv.Itoa(r.IntN(100))})
	}
	if r.IntN(4) == 0 {
		ms = append(ms, member{"err", `{"code":` + quoteJSON(randString(r)) + `,"msg":` + quoteJSON(randString(r)) + `}`})
	}
	if r.IntN(3) == 0 {
		// Unknown members are ignored by both.
		ms = append(ms, member{"x_" + strconv.Itoa(r.IntN(100)), genValue(r, 4)})
	}
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })

	var b strings.Builder
	b.WriteString(randSpace(r))
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(randSpace(r))
			b.WriteByte(',')
		}
		b.WriteString(randSpace(r))
		b.WriteString(`"` + m.key + `"`)
		b.WriteString(randSpace(r))
		b.WriteByte(':')
		b.WriteString(randSpace(r))
		b.WriteString(m.val)
	}
	b.WriteString(randSpace(r))
	b.WriteByte('}')
	b.WriteString(randSpace(r))
	return []byte(b.String())
}

// plainJSONString returns a JSON string without escapes: one of words,
// or random text of printable runes other than '"' and '\\'.
func plainJSONString(r *rand.Rand, words []string) string {
	if len(words) > 0 && r.IntN(4) != 0 {
		return `"` + words[r.IntN(len(words))] + `"`
	}
	const alphabet = "abcXYZ019 _-.{}[],:/é日🙂"
	runes := []rune(alphabet)
	var b strings.Builder
	b.WriteByte('"')
	for range r.IntN(12) {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	b.WriteByte('"')
	return b.String()
}

// randString returns text rich in JSON punctuation and characters that
// need escapes.
func randString(r *rand.Rand) string {
	const alphabet = "ab \"\\/{}[],:\n\t\u0001é日🙂\u2028"
	runes := []rune(alphabet)
	var b strings.Builder
	for range r.IntN(10) {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

func quoteJSON(s string) string {
	q, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(q)
}

func randSpace(r *rand.Rand) string {
	if r.IntN(3) != 0 {
		return ""
	}
	const ws = " \t\r\n"
	var b strings.Builder
	for range 1 + r.IntN(3) {
		b.WriteByte(ws[r.IntN(len(ws))])
	}
	return b.String()
}

// genValue returns random JSON text with whitespace between tokens.
func genValue(r *rand.Rand, depth int) string {
	n := 7
	if depth <= 0 {
		n = 5
	}
	switch r.IntN(n) {
	case 0:
		return []string{"true", "false", "null"}[r.IntN(3)]
	case 1:
		return []string{"0", "-1", "12.5", "1e10", "-0.0E-3", "18446744073709551616", "3"}[r.IntN(7)]
	case 2, 3:
		return quoteJSON(randString(r))
	case 4:
		return `"\u0074\"}]\\"` // hand-escaped
	case 5:
		var b strings.Builder
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString(randSpace(r) + ",")
			}
			b.WriteString(randSpace(r) + genValue(r, depth-1))
		}
		b.WriteString(randSpace(r) + "]")
		return b.String()
	default:
		var b strings.Builder
		b.WriteByte('{')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString(randSpace(r) + ",")
			}
			// Nested keys may repeat the routed names: only top-level
			// members count.
			k := []string{"t", "id", "room", "ev", "a", "}", "]"}[r.IntN(7)]
			b.WriteString(randSpace(r) + quoteJSON(k+strconv.Itoa(i%2)) + randSpace(r) + ":" + randSpace(r) + genValue(r, depth-1))
		}
		b.WriteString(randSpace(r) + "}")
		return b.String()
	}
}

// splitCase is one splitArray input; want is nil when an error is expected.
type splitCase struct {
	name string
	in   string
	want []string
	err  bool
}

var splitCases = []splitCase{
	{name: "frames with nested values", in: `[{"t":"emit","ev":"a","d":{"x":[1,2,"]"]}},{"t":"ack","id":1,"d":"a,b]"},{"t":"ping"}]`,
		want: []string{`{"t":"emit","ev":"a","d":{"x":[1,2,"]"]}}`, `{"t":"ack","id":1,"d":"a,b]"}`, `{"t":"ping"}`}},
	{name: "strings with brackets, commas and escapes", in: `["]", ",", "\"],[\"", "\\", {"a":"]\\\"}"}]`,
		want: []string{`"]"`, `","`, `"\"],[\""`, `"\\"`, `{"a":"]\\\"}"}`}},
	{name: "nested arrays", in: `[[],[[]],[1,[2,[3]]]]`, want: []string{`[]`, `[[]]`, `[1,[2,[3]]]`}},
	{name: "scalars", in: `[1,-2.5e3,true,false,null,"s"]`, want: []string{`1`, `-2.5e3`, `true`, `false`, `null`, `"s"`}},
	{name: "empty array", in: `[]`, want: []string{}},
	{name: "empty array with space", in: " [ \n\t ] ", want: []string{}},
	{name: "whitespace everywhere", in: " \n[ \t{ \"t\" : \"ping\" } ,\r\n{\"t\":\"ack\",\"id\":1}\n, 3 ] \n",
		want: []string{`{ "t" : "ping" }`, `{"t":"ack","id":1}`, `3`}},
	{name: "single element", in: `[{"t":"ping"}]`, want: []string{`{"t":"ping"}`}},
	{name: "invalid JSON", in: `[{"t":"ping"},]`, err: true},
	{name: "unterminated", in: `[{"t":"ping"}`, err: true},
	{name: "missing comma", in: `[1 2]`, err: true},
	{name: "mismatched brackets", in: `[{"a":[}]]`, err: true},
	{name: "trailing garbage", in: `[1]x`, err: true},
	{name: "two arrays", in: `[1][2]`, err: true},
	{name: "empty input", in: ``, err: true},
	{name: "object", in: `{"t":"ping"}`, err: true},
	{name: "string", in: `"[1]"`, err: true},
	{name: "number", in: `1`, err: true},
	{name: "null", in: `null`, err: true},
}

// FuzzPeek checks that Peek never panics and that, whenever it
// accepts valid JSON that decodes into a Frame and has no duplicate
// top-level member names, it reads what encoding/json reads.
func FuzzPeek(f *testing.F) {
	for _, c := range peekCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, ok := Peek(raw)
		if !ok || !json.Valid(raw) {
			return
		}
		var fr Frame
		if json.Unmarshal(raw, &fr) != nil {
			return
		}
		keys, kok := topLevelKeys(raw)
		if !kok || hasDuplicateKeys(keys) {
			return
		}
		requirePeekedEqual(t, raw, p, fr)
	})
}

func BenchmarkPeek(b *testing.B) {
	raw := []byte(benchFrame)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Peek(raw); !ok {
			b.Fatal("Peek refused the frame")
		}
	}
}

func BenchmarkUnmarshalFrame(b *testing.B) {
	raw := []byte(benchFrame)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var f Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			b.Fatal(err)
		}
	}
}
