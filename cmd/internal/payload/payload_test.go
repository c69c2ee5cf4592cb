package payload

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{0, 8, 64, 1024} {
		b := Append(nil, 12345, 1700000000123456789, size)
		if size > 30 && len(b) != size {
			t.Fatalf("size %d: len %d", size, len(b))
		}
		seq, ts, err := Parse(b)
		if err != nil || seq != 12345 || ts != 1700000000123456789 {
			t.Fatalf("size %d: got %d %d %v from %q", size, seq, ts, err, b)
		}
	}
	if got := string(AppendJSON(nil, 1, 2, 10)); got != `"m1.2.xxxxx"` {
		t.Fatalf("AppendJSON: %s", got)
	}
	for _, bad := range []string{"", "x1.2.", "m.2.", "m1..", "m1.2", "m12", "m1.99999999999999999999."} {
		if _, _, err := Parse([]byte(bad)); err == nil {
			t.Fatalf("%q: expected an error", bad)
		}
	}
}
