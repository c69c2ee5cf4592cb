package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const lines = `
{"transport":"ws","clients":1000,"count":1000,"size":64,"deliveries":1000000,"lost":0,"deliveries_per_sec":2000000,"bytes_per_conn":9000,"run":1}
{"transport":"ws","clients":1000,"count":1000,"size":64,"deliveries":1000000,"lost":0,"deliveries_per_sec":1000000,"bytes_per_conn":8000,"run":2}
{"transport":"ws","clients":1000,"count":1000,"size":64,"deliveries":999000,"lost":1000,"deliveries_per_sec":3000000,"bytes_per_conn":7000,"run":3}
{"proto":"melody","clients":1000,"count":1000,"size":64,"deliveries":600000,"lost":400000,"deliveries_per_sec":900000,"wall_s":3.1}
{"proto":"melody","clients":100,"count":1000,"size":64,"deliveries":100000,"lost":0,"deliveries_per_sec":800000}
`

func TestSummarize(t *testing.T) {
	rows, err := Read(strings.NewReader(lines))
	require.NoError(t, err)
	require.Len(t, rows, 5)
	sums := Summarize(rows)
	require.Len(t, sums, 3)
	require.Equal(t, Scenario{100, 1000, 64}, sums[0].Scenario)
	h := sums[1]
	require.Equal(t, "hubbub-ws", h.Server)
	require.Equal(t, 3, h.Runs)
	require.Equal(t, 2000000.0, h.Median.DeliveriesPerSec)
	require.Equal(t, 1, h.LostRuns)
	require.Equal(t, 8000.0, h.BytesPerConn)
	require.Equal(t, "melody", sums[2].Server)

	var md bytes.Buffer
	Markdown(&md, sums)
	require.Contains(t, md.String(), "| 1000 × 1000 × 64 B | **hubbub-ws** | 2.00 M | 1.00 M – 3.00 M | 0 | 1/3 |")

	var svg bytes.Buffer
	SVG(&svg, sums, "fan-out <test>", "a & b")
	d := xml.NewDecoder(&svg)
	for {
		if _, err := d.Token(); err != nil {
			require.Equal(t, "EOF", err.Error(), "the SVG is well-formed XML")
			break
		}
	}
}
