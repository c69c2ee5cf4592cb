package ssewire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/internal/ssewire"
)

type ev struct{ Type, Data, ID string }

// readAll parses s and returns the events and comments, and the error that
// ended the stream.
func readAll(t *testing.T, src io.Reader) ([]ev, []string, *ssewire.Reader, error) {
	t.Helper()
	r := ssewire.NewReader(src)
	var comments []string
	r.OnComment = func(s string) { comments = append(comments, s) }
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, comments, r, err
		}
		out = append(out, ev{e.Type, string(e.Data), e.ID})
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		want     []ev
		comments []string
	}{
		{"one event", "data: hello\n\n", []ev{{"message", "hello", ""}}, nil},
		{"multi-line data joined with LF", "data: a\ndata: b\ndata\ndata:\n\n", []ev{{"message", "a\nb\n\n", ""}}, nil},
		{"CRLF", "data: a\r\ndata: b\r\n\r\n", []ev{{"message", "a\nb", ""}}, nil},
		{"lone CR", "data: a\rdata: b\r\r", []ev{{"message", "a\nb", ""}}, nil},
		{"mixed terminators", "data: a\r\n\rdata: b\n\r\n", []ev{{"message", "a", ""}, {"message", "b", ""}}, nil},
		{"one leading space removed", "data:x\n\ndata:  y\n\n", []ev{{"message", "x", ""}, {"message", " y", ""}}, nil},
		{"colon in value", "data: {\"a\":1}\n\n", []ev{{"message", `{"a":1}`, ""}}, nil},
		{"event type", "event: add\ndata: 1\n\ndata: 2\n\n", []ev{{"add", "1", ""}, {"message", "2", ""}}, nil},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []ev{{"message", "a", "7"}, {"message", "b", "7"}, {"message", "c", ""}}, nil},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []ev{{"message", "a", "1"}, {"message", "b", "1"}}, nil},
		{"comments", ": hi\n:\n:  two spaces\ndata: x\n\n", []ev{{"message", "x", ""}}, []string{"hi", "", " two spaces"}},
		{"no data: not dispatched", "event: x\n\nid: 9\n\ndata: y\n\n", []ev{{"message", "y", "9"}}, nil},
		{"unknown fields ignored", "foo: bar\ndata: y\nbaz\n\n", []ev{{"message", "y", ""}}, nil},
		{"field without colon", "data\n\n", []ev{{"message", "", ""}}, nil},
		{"BOM skipped", "\xEF\xBB\xBFdata: x\n\n", []ev{{"message", "x", ""}}, nil},
		{"unfinished event discarded", "data: a\n\ndata: b\n", []ev{{"message", "a", ""}}, nil},
		{"final line without terminator", "data: a\n\ndata: b", []ev{{"message", "a", ""}}, nil},
		{"UTF-8", "data: é€😀\n\n", []ev{{"message", "é€😀", ""}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, src := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tc.in))},
			} {
				got, comments, _, err := readAll(t, src.r)
				require.ErrorIs(t, err, io.EOF, src.name)
				if tc.want == nil {
					tc.want = []ev{}
				}
				if got == nil {
					got = []ev{}
				}
				require.Equal(t, tc.want, got, src.name)
				require.Equal(t, tc.comments, comments, src.name)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	_, _, r, _ := readAll(t, strings.NewReader("retry: 1500\n\nretry: 2x\n\nretry: -1\n\n"))
	require.Equal(t, 1500*time.Millisecond, r.Retry(), "only all-digit values count")
}

func TestLastEventIDWithoutDispatch(t *testing.T) {
	_, _, r, _ := readAll(t, strings.NewReader("id: 5\ndata: a\n\nid: 6\n\n"))
	require.Equal(t, "6", r.LastEventID())
}

// A line ended by a lone CR is returned without waiting for the next byte:
// a stream that pauses after "\r\r" still dispatches.
func TestLoneCRDoesNotWait(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() { _, _ = pw.Write([]byte("data: x\r\r")) }()
	r := ssewire.NewReader(pr)
	e, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "x", string(e.Data))
	go func() { _, _ = pw.Write([]byte("\ndata: y\n\n")); pw.Close() }()
	e, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, "y", string(e.Data), "the LF after the CR ended nothing")
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	got, _, _, err := readAll(t, strings.NewReader("data: "+long+"\n\n"))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []ev{{"message", long, ""}}, got)

	r := ssewire.NewReader(strings.NewReader("data: " + long + "\n\n"))
	r.MaxEventBytes = 10 << 10
	_, err = r.Next()
	require.ErrorIs(t, err, ssewire.ErrTooLong)

	r = ssewire.NewReader(strings.NewReader(strings.Repeat("data: abc\n", 100) + "\n"))
	r.MaxEventBytes = 500
	_, err = r.Next()
	require.ErrorIs(t, err, ssewire.ErrTooLong, "the bound is per event, not per line")
}

func TestSourceError(t *testing.T) {
	boom := errors.New("boom")
	_, _, _, err := readAll(t, io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
}

func TestWriterRoundTrip(t *testing.T) {
	for _, data := range []string{"plain", "", "a\nb", "a\r\nb\rc\n", "\n", "{\n  \"pretty\": true\n}", "é"} {
		var b []byte
		b = ssewire.AppendRetry(b, 2*time.Second)
		b = ssewire.AppendComment(b, "hello")
		b = ssewire.AppendEvent(b, "", "tok.1", []byte(data))
		b = ssewire.AppendEvent(b, "custom", "", []byte("x"))
		b = ssewire.AppendComment(b, "")
		got, comments, r, err := readAll(t, bytes.NewReader(b))
		require.ErrorIs(t, err, io.EOF)
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		require.Equal(t, []ev{{"message", want, "tok.1"}, {"custom", "x", "tok.1"}}, got, "%q", data)
		require.Equal(t, []string{"hello", ""}, comments)
		require.Equal(t, 2*time.Second, r.Retry())
	}
}

func TestAppendDataContinued(t *testing.T) {
	b := []byte("data: ")
	b = ssewire.AppendDataContinued(b, []byte("[1,"))
	b = ssewire.AppendDataContinued(b, []byte("\n2]"))
	b = ssewire.AppendEnd(append(b, '\n'))
	require.Equal(t, "data: [1,\ndata: 2]\n\n", string(b))
}

func BenchmarkReader(b *testing.B) {
	var stream []byte
	for range 100 {
		stream = ssewire.AppendEvent(stream, "", "AAAAAAAAAAAAAAAAAAAAAA.12345", []byte(`{"t":"emit","ev":"chat","room":"lobby","off":12,"d":{"from":"bob","text":"hi"}}`))
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r := ssewire.NewReader(bytes.NewReader(stream))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
