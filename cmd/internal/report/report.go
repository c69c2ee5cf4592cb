// Package report turns result lines of the load tools — hubbub's
// (cmd/hubbub-load, with a "transport" field) and the peer benchmarks'
// loadclient (with a "proto" field) — into one markdown table and an SVG
// chart of deliveries per second against subscribers. Several runs of the
// same server and scenario are reduced to the run with the median
// deliveries per second.
package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Row is one result line.
type Row struct {
	Server           string  // "hubbub-ws", "melody", …
	Clients          int     `json:"clients"`
	Count            int     `json:"count"`
	Size             int     `json:"size"`
	Deliveries       float64 `json:"deliveries"`
	Lost             float64 `json:"lost"`
	Seconds          float64 `json:"seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	PublishSeconds   float64 `json:"publish_seconds"`
	P50ms            float64 `json:"p50_ms"`
	P99ms            float64 `json:"p99_ms"`
	MaxMs            float64 `json:"max_ms"`
	RSSIdleMB        float64 `json:"rss_idle_mb"`
	BytesPerConn     float64 `json:"bytes_per_conn"`
	Disconnected     float64 `json:"clients_disconnected"`
	Error            string  `json:"error"`
	TimedOut         string  `json:"timed_out"`
	LoadAvg          string  `json:"loadavg_start"`  // before the run (compare.sh)
	CPUBusy          float64 `json:"cpu_busy_start"` // % of CPU busy in the second before the run (compare.sh)
	Run              int     `json:"run"`
}

// Read parses result lines; blank lines are skipped.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var row Row
		var name struct {
			Server    string `json:"server"`
			Transport string `json:"transport"`
			Proto     string `json:"proto"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		_ = json.Unmarshal([]byte(line), &name)
		switch {
		case name.Server != "":
			row.Server = name.Server
		case name.Transport != "":
			row.Server = "hubbub-" + name.Transport
		default:
			row.Server = name.Proto
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// Scenario is clients × count × size.
type Scenario struct{ Clients, Count, Size int }

func (s Scenario) String() string { return fmt.Sprintf("%d × %d × %d B", s.Clients, s.Count, s.Size) }

// Summary is the median run of one server in one scenario.
type Summary struct {
	Scenario
	Server       string
	Median       Row     // the run with the median deliveries/s
	Runs         int     // runs, failed ones included
	MinRate      float64 // lowest and highest deliveries/s
	MaxRate      float64
	LostRuns     int     // runs that lost messages or failed
	BytesPerConn float64 // median over the runs
}

// Summarize groups rows by server and scenario, in order of first
// appearance (scenarios sorted by clients, then count, then size).
func Summarize(rows []Row) []Summary {
	type key struct {
		Scenario
		server string
	}
	groups := map[key][]Row{}
	var keys []key
	serverOrder := map[string]int{}
	for _, r := range rows {
		k := key{Scenario{r.Clients, r.Count, r.Size}, r.Server}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		if _, ok := serverOrder[r.Server]; !ok {
			serverOrder[r.Server] = len(serverOrder)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.Clients, b.Clients), cmp.Compare(a.Count, b.Count),
			cmp.Compare(a.Size, b.Size), cmp.Compare(serverOrder[a.server], serverOrder[b.server]))
	})
	out := make([]Summary, 0, len(keys))
	for _, k := range keys {
		g := slices.Clone(groups[k])
		slices.SortStableFunc(g, func(a, b Row) int { return cmp.Compare(a.DeliveriesPerSec, b.DeliveriesPerSec) })
		s := Summary{Scenario: k.Scenario, Server: k.server, Runs: len(g), Median: g[(len(g)-1)/2],
			MinRate: g[0].DeliveriesPerSec, MaxRate: g[len(g)-1].DeliveriesPerSec}
		var bpc []float64
		for _, r := range g {
			if r.Lost != 0 || r.Error != "" || r.TimedOut != "" {
				s.LostRuns++
			}
			bpc = append(bpc, r.BytesPerConn)
		}
		slices.Sort(bpc)
		s.BytesPerConn = bpc[(len(bpc)-1)/2]
		out = append(out, s)
	}
	return out
}

// Markdown writes the summaries as a markdown table.
func Markdown(w io.Writer, sums []Summary) {
	fmt.Fprintln(w, "| scenario (clients × msgs × size) | server | deliv/s (median) | range over runs | lost | runs with loss | seconds | pub s | p50 ms | p99 ms | max ms | idle B/conn | rss idle MB | disc | CPU busy before | load avg |")
	fmt.Fprintln(w, "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, s := range sums {
		m := s.Median
		server := s.Server
		if strings.HasPrefix(server, "hubbub") {
			server = "**" + server + "**"
		}
		if m.Error != "" {
			server += " (error: " + m.Error + ")"
		}
		rng := "–"
		if s.Runs > 1 {
			rng = fmt.Sprintf("%s – %s", rate(s.MinRate), rate(s.MaxRate))
		}
		la := ""
		if f := strings.Fields(m.LoadAvg); len(f) > 0 {
			la = f[0]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | %d/%d | %.3f | %.3f | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.0f %% | %s |\n",
			s.Scenario, server, rate(m.DeliveriesPerSec), rng, m.Lost, s.LostRuns, s.Runs, m.Seconds,
			m.PublishSeconds, m.P50ms, m.P99ms, m.MaxMs, s.BytesPerConn, m.RSSIdleMB, m.Disconnected, m.CPUBusy, la)
	}
}

// rate formats deliveries per second as millions.
func rate(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " M" }

// SVG writes a line chart of median deliveries per second against
// subscribers, one line per server (and payload size, when there are
// several), on a logarithmic subscriber axis. Runs that lost messages are
// drawn as hollow markers.
func SVG(w io.Writer, sums []Summary, title, subtitle string) {
	type point struct {
		x, y  float64
		lossy bool
	}
	type series struct {
		name string
		pts  []point
	}
	sizes := map[int]bool{}
	for _, s := range sums {
		sizes[s.Size] = true
	}
	var all []*series
	byName := map[string]*series{}
	for _, s := range sums {
		name := s.Server
		if len(sizes) > 1 {
			name += fmt.Sprintf(" (%d B)", s.Size)
		}
		se := byName[name]
		if se == nil {
			se = &series{name: name}
			byName[name] = se
			all = append(all, se)
		}
		se.pts = append(se.pts, point{float64(s.Clients), s.Median.DeliveriesPerSec, s.Median.Lost != 0 || s.Median.Error != ""})
	}
	for _, se := range all {
		slices.SortFunc(se.pts, func(a, b point) int { return cmp.Compare(a.x, b.x) })
	}

	const (
		width, height          = 760.0, 440.0
		left, right, top, bott = 70.0, 190.0, 48.0, 50.0
	)
	pw, ph := width-left-right, height-top-bott
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, se := range all {
		for _, p := range se.pts {
			xmin, xmax, ymax = min(xmin, p.x), max(xmax, p.x), max(ymax, p.y)
		}
	}
	if len(all) == 0 {
		xmin, xmax = 1, 10
	}
	if xmin == xmax {
		xmin, xmax = xmin/2, xmax*2
	}
	lx0, lx1 := math.Log10(xmin)-0.1, math.Log10(xmax)+0.1
	ystep := niceStep(ymax / 5)
	ytop := math.Max(ystep, math.Ceil(ymax/ystep)*ystep)
	X := func(x float64) float64 { return left + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
	Y := func(y float64) float64 { return top + ph - y/ytop*ph }

	colors := []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="%.0f" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	if subtitle != "" {
		fmt.Fprintf(w, `<text x="%.0f" y="35" font-size="11" fill="#555">%s</text>`+"\n", left, esc(subtitle))
	}
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, Y(y), left+pw, Y(y))
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, Y(y)+4, strconv.FormatFloat(y/1e6, 'f', -1, 64))
	}
	var ticks []float64
	for _, se := range all {
		for _, p := range se.pts {
			if !slices.Contains(ticks, p.x) {
				ticks = append(ticks, p.x)
			}
		}
	}
	for _, x := range ticks {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", X(x), top, X(x), top+ph)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", X(x), top+ph+16, strconv.FormatFloat(x, 'f', -1, 64))
	}
	fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">subscribers (log scale)</text>`+"\n", left+pw/2, height-12)
	fmt.Fprintf(w, `<text transform="translate(18,%.1f) rotate(-90)" text-anchor="middle">deliveries per second (millions)</text>`+"\n", top+ph/2)
	for i, se := range all {
		c := colors[i%len(colors)]
		var pts []string
		for _, p := range se.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(p.x), Y(p.y)))
		}
		width, dash := 2.0, ""
		if strings.HasPrefix(se.name, "hubbub") {
			width = 3
		}
		switch {
		case strings.Contains(se.name, "longpoll"):
			dash = ` stroke-dasharray="2,4"`
		case strings.Contains(se.name, "sse"):
			dash = ` stroke-dasharray="8,4"`
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="%.0f"%s points="%s"/>`+"\n", c, width, dash, strings.Join(pts, " "))
		for _, p := range se.pts {
			fill := c
			if p.lossy {
				fill = "white"
			}
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="2"><title>%s: %s deliveries/s at %.0f subscribers</title></circle>`+"\n",
				X(p.x), Y(p.y), fill, c, esc(se.name), rate(p.y), p.x)
		}
		ly := top + 10 + float64(i)*20
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.0f"%s/>`+"\n", left+pw+14, ly, left+pw+38, ly, c, width, dash)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+pw+44, ly+4, esc(se.name))
	}
	ly := top + 10 + float64(len(all))*20 + 6
	fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="#333" stroke-width="2"/>`+"\n", left+pw+26, ly)
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f">messages lost</text>`+"\n", left+pw+44, ly+4)
	fmt.Fprintln(w, "</svg>")
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
