// Package load is hubbub's load tool: it connects N subscribers to room
// "bench" of a bench server (cmd/hubbub-bench-server) over one transport,
// samples the server's idle memory, triggers POST /burst and counts every
// delivery. Its figures mean what the peer benchmarks' loadclient figures
// mean (../shared/peers/README.md), so the two can share one table:
//
//   - seconds: from the /burst request to the last delivery;
//     deliveries_per_sec = deliveries / seconds;
//   - latency (p50/p99/max): the client's receive time minus the timestamp
//     the server put in the payload just before publishing it;
//   - bytes_per_conn: (server VmRSS with all N subscribed, after Settle −
//     VmRSS before the first dial) / N, without forcing a GC.
package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbubhq/hubbub/cmd/internal/payload"
	"github.com/hubbubhq/hubbub/cmd/internal/proc"
)

// Room is the room every subscriber joins.
const Room = "bench"

// Config describes one run. Zero durations and counts take the defaults
// noted.
type Config struct {
	Transport string // one of Transports(); default "ws"
	Server    string // base URL of the bench server, e.g. http://127.0.0.1:8100
	Clients   int    // subscribers; default 1000
	Count     int    // messages in the burst; default 1000
	Size      int    // payload bytes; default 64

	DialConcurrency int           // dials in flight; default 32
	DialRate        int           // dials started per second; default 2000, negative = unpaced
	Timeout         time.Duration // from the burst until every client has all; default 40 s
	Idle            time.Duration // give up after no delivery for this long once /burst returned; default 5 s
	Settle          time.Duration // pause before sampling idle RSS; default 1 s, negative = none
	PID             int           // server process for RSS; default GET /pid

	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Transport == "" {
		c.Transport = "ws"
	}
	def(&c.Clients, 1000)
	def(&c.Count, 1000)
	def(&c.Size, 64)
	def(&c.DialConcurrency, 32)
	def(&c.DialRate, 2000)
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.Timeout, 40 * time.Second}, {&c.Idle, 5 * time.Second}, {&c.Settle, time.Second}} {
		if *d.v == 0 {
			*d.v = d.d
		}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	c.Server = strings.TrimRight(c.Server, "/")
	return c
}

// Result is the JSON line the load tool prints: exactly these fields, and
// with Extra (the -extra flag) the diagnostics of Extra after them.
type Result struct {
	Transport        string  `json:"transport"`
	Clients          int     `json:"clients"`
	Count            int     `json:"count"`
	Size             int     `json:"size"`
	Deliveries       int64   `json:"deliveries"`
	Lost             int64   `json:"lost"`
	Seconds          float64 `json:"seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	P50ms            float64 `json:"p50_ms"`
	P99ms            float64 `json:"p99_ms"`
	MaxMs            float64 `json:"max_ms"`
	RSSBeforeMB      float64 `json:"rss_before_mb"`
	RSSIdleMB        float64 `json:"rss_idle_mb"`
	BytesPerConn     int64   `json:"bytes_per_conn"`

	Extra Extra `json:"-"`
}

// Extra holds diagnostics that are not part of the headline line.
type Extra struct {
	Connected      int     `json:"connected"`
	DialFailures   int     `json:"dial_failures"`
	DialSeconds    float64 `json:"dial_seconds"`
	PublishSeconds float64 `json:"publish_seconds"`
	MinMs          float64 `json:"min_ms"`
	RSSPeakMB      float64 `json:"rss_peak_mb"`
	Frames         int64   `json:"frames"` // transport messages received after joining
	Complete       int     `json:"clients_complete"`
	Disconnected   int     `json:"clients_disconnected"`
	Duplicates     int64   `json:"duplicates"`
	Malformed      int64   `json:"malformed"`
	LoadAvg        string  `json:"loadavg"`      // /proc/loadavg before the burst
	ServerCPU      float64 `json:"server_cpu_s"` // CPU time the server used from the burst to the end (from /stats)
	ClientCPU      float64 `json:"client_cpu_s"` // CPU time this process used in that time
	// Where the latency comes from: the p99 latency of the messages of each
	// tenth of the burst, in publish order (a publisher running ahead of
	// delivery shows as growth along it), and the time between two reads
	// of one connection during the burst.
	P99ByTenthMs []float64       `json:"p99_by_tenth_ms,omitempty"`
	ReadGapP50Ms float64         `json:"read_gap_p50_ms"`
	ReadGapP99Ms float64         `json:"read_gap_p99_ms"`
	TimedOut     string          `json:"timed_out,omitempty"`
	ServerStats  json.RawMessage `json:"server_stats,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// JSON returns the result line, with Extra's fields appended when extra.
func (r Result) JSON(extra bool) []byte {
	b, _ := json.Marshal(r)
	if !extra {
		return b
	}
	x, _ := json.Marshal(r.Extra)
	return append(append(b[:len(b)-1], ','), x[1:]...)
}

// sub is one subscriber. Its counters belong to its read loop until the
// loop has ended.
type sub struct {
	st     Stream
	count  int
	seen   []uint64 // bitset of sequence numbers received
	got    int
	lat    []int64 // nanoseconds, one per delivery
	tenth  []uint8 // the tenth of the burst each of lat's messages was published in
	gaps   []int64 // nanoseconds between two reads
	read   int64   // unix nanos of the last read
	dups   int64
	bad    int64
	frames int64
	last   int64 // unix nanos of the last delivery
	now    int64 // receive time of the message being parsed
	err    error
	dead   atomic.Bool // the loop ended on its own
	emitFn func([]byte)
	onDone func()
}

// maxGapsPrealloc bounds the read gaps allocated ahead per subscriber: a
// burst reaches a subscriber in far fewer reads than messages.
const maxGapsPrealloc = 256

func (s *sub) emit(p []byte) {
	seq, ts, err := payload.Parse(p)
	if err != nil || seq >= s.count {
		s.bad++
		return
	}
	w, bit := seq>>6, uint64(1)<<(seq&63)
	if s.seen[w]&bit != 0 {
		s.dups++
		return
	}
	s.seen[w] |= bit
	s.got++
	s.lat = append(s.lat, s.now-ts)
	s.tenth = append(s.tenth, uint8(seq*10/s.count))
	s.last = s.now
	if s.got == s.count {
		s.onDone()
	}
}

func (s *sub) loop(delivered *atomic.Int64) {
	buf := make([]byte, 0, 4096)
	for {
		msg, err := s.st.Read(buf)
		if err != nil {
			s.err = err
			s.dead.Store(true)
			return
		}
		buf = msg[:0]
		s.now = time.Now().UnixNano()
		if s.read != 0 {
			s.gaps = append(s.gaps, s.now-s.read)
		}
		s.read = s.now
		s.frames++
		before := s.got
		Payloads(msg, s.emitFn)
		if d := s.got - before; d > 0 {
			delivered.Add(int64(d))
		}
	}
}

// Run performs one run and returns its figures; on failure Extra.Error says
// why and the figures gathered so far are kept.
func Run(ctx context.Context, cfg Config) (res Result) {
	cfg = cfg.withDefaults()
	res = Result{Transport: cfg.Transport, Clients: cfg.Clients, Count: cfg.Count, Size: cfg.Size}
	fail := func(format string, a ...any) Result {
		res.Extra.Error = fmt.Sprintf(format, a...)
		cfg.Logf("%s", res.Extra.Error)
		return res
	}
	tr, ok := transports[cfg.Transport]
	if !ok {
		return fail("unknown transport %q (have %v)", cfg.Transport, Transports())
	}
	httpc := &http.Client{Timeout: cfg.Timeout + 30*time.Second, Transport: &http.Transport{}}
	defer httpc.CloseIdleConnections()
	start := time.Now()

	// The server's PID, which also tells that it is up.
	pid := cfg.PID
	for deadline := time.Now().Add(15 * time.Second); pid == 0; {
		body, err := getText(httpc, cfg.Server+"/pid")
		if err == nil {
			pid, err = strconv.Atoi(body)
		}
		if err != nil && time.Now().After(deadline) {
			return fail("server not ready: %v", err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	rssBefore, err := proc.Status(pid, "VmRSS")
	if err != nil {
		return fail("rss: %v", err)
	}
	res.RSSBeforeMB = mb(rssBefore)

	// Subscribe, paced and with bounded concurrency.
	subs := make([]*sub, cfg.Clients)
	words := (cfg.Count + 63) / 64
	var delivered, complete, connected atomic.Int64
	allDone := make(chan struct{})
	var doneOnce sync.Once
	onComplete := func() {
		if complete.Add(1) == connected.Load() {
			doneOnce.Do(func() { close(allDone) })
		}
	}
	var dialers, readers sync.WaitGroup
	sem := make(chan struct{}, cfg.DialConcurrency)
	var tick <-chan time.Time
	if cfg.DialRate > 0 {
		t := time.NewTicker(time.Second / time.Duration(cfg.DialRate))
		defer t.Stop()
		tick = t.C
	}
	var firstErr atomic.Pointer[error]
	defer func() { // on any return: end every connection and its reader
		for _, s := range subs {
			if s != nil {
				s.st.Close()
			}
		}
		readers.Wait()
	}()
	dialStart := time.Now()
	for i := range subs {
		if tick != nil {
			<-tick
		}
		sem <- struct{}{}
		dialers.Add(1)
		go func() {
			defer func() { <-sem; dialers.Done() }()
			var st Stream
			var err error
			for attempt := range 3 {
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				st, err = tr.Subscribe(dctx, cfg.Server, Room)
				cancel()
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			// Everything a delivery appends to is allocated here, so that
			// the client makes no garbage (and runs no collection) of its
			// own during the burst.
			s := &sub{st: st, count: cfg.Count, seen: make([]uint64, words),
				lat: make([]int64, 0, cfg.Count), tenth: make([]uint8, 0, cfg.Count),
				gaps: make([]int64, 0, min(cfg.Count, maxGapsPrealloc)), onDone: onComplete}
			s.emitFn = s.emit
			subs[i] = s
			connected.Add(1)
			readers.Add(1)
			go func() { defer readers.Done(); s.loop(&delivered) }()
		}()
	}
	dialers.Wait()
	x := &res.Extra
	x.DialSeconds = round(time.Since(dialStart).Seconds(), 3)
	x.Connected = int(connected.Load())
	x.DialFailures = cfg.Clients - x.Connected
	if p := firstErr.Load(); p != nil {
		cfg.Logf("%d subscribe failures, first: %v", x.DialFailures, *p)
		if x.Connected == 0 {
			return fail("no client subscribed: %v", *p)
		}
	}
	cfg.Logf("%s: %d/%d subscribed in %.2fs", cfg.Transport, x.Connected, cfg.Clients, x.DialSeconds)

	// The server must count every subscriber before the burst.
	for deadline := time.Now().Add(15 * time.Second); ; {
		body, err := getText(httpc, cfg.Server+"/subscribers")
		if err != nil {
			return fail("/subscribers: %v", err)
		}
		n, _ := strconv.Atoi(body)
		if n >= x.Connected {
			break
		}
		if time.Now().After(deadline) {
			return fail("server reports %d subscribers of %d", n, x.Connected)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cfg.Settle > 0 {
		time.Sleep(cfg.Settle)
	}
	rssIdle, err := proc.Status(pid, "VmRSS")
	if err != nil {
		return fail("rss: %v", err)
	}
	res.RSSIdleMB = mb(rssIdle)
	res.BytesPerConn = (rssIdle - rssBefore) / int64(x.Connected)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		x.LoadAvg = strings.TrimSpace(string(la))
	}

	if cfg.Count == 0 {
		doneOnce.Do(func() { close(allDone) }) // nothing to wait for
	}

	// The burst.
	type burstReply struct {
		PublishSeconds float64 `json:"publish_seconds"`
		err            error
	}
	burstDone := make(chan burstReply, 1)
	serverCPU0 := serverCPU(httpc, cfg.Server)
	clientCPU0 := proc.CPUSeconds()
	t0 := time.Now()
	go func() {
		var br burstReply
		u := fmt.Sprintf("%s/burst?count=%d&size=%d", cfg.Server, cfg.Count, cfg.Size)
		resp, err := httpc.Post(u, "text/plain", nil)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("burst: HTTP %d: %s", resp.StatusCode, body)
			} else {
				err = json.Unmarshal(body, &br)
			}
		}
		br.err = err
		burstDone <- br
	}()
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	burstReturned := false
	lastCount, lastChange := int64(-1), time.Now()
wait:
	for {
		select {
		case <-allDone:
			break wait
		case br := <-burstDone:
			burstReturned, lastChange = true, time.Now()
			if br.err != nil {
				x.Error = br.err.Error()
				break wait
			}
			x.PublishSeconds = round(br.PublishSeconds, 6)
		case <-timeout.C:
			x.TimedOut = fmt.Sprintf("not all delivered within %s", cfg.Timeout)
			break wait
		case <-ctx.Done():
			x.Error = ctx.Err().Error()
			break wait
		case <-poll.C:
			if n := delivered.Load(); n != lastCount {
				lastCount, lastChange = n, time.Now()
			} else if burstReturned && time.Since(lastChange) > cfg.Idle {
				x.TimedOut = fmt.Sprintf("no delivery for %s", cfg.Idle)
				break wait
			}
		}
	}
	if !burstReturned {
		select {
		case br := <-burstDone:
			x.PublishSeconds = round(br.PublishSeconds, 6)
		case <-time.After(5 * time.Second):
		}
	}
	x.ClientCPU = round(proc.CPUSeconds()-clientCPU0, 3)
	if body, err := getText(httpc, cfg.Server+"/stats"); err == nil && json.Valid([]byte(body)) {
		x.ServerStats = json.RawMessage(body)
		if cpu := statsCPU(body); cpu > 0 && serverCPU0 > 0 {
			x.ServerCPU = round(cpu-serverCPU0, 3)
		}
	}
	if peak, err := proc.Status(pid, "VmHWM"); err == nil {
		x.RSSPeakMB = mb(peak)
	}

	// Stop the readers, then add up their counters.
	dead := make([]bool, len(subs))
	for i, s := range subs {
		if s != nil {
			dead[i] = s.dead.Load()
			s.st.Close()
		}
	}
	readers.Wait()
	all := make([]int64, 0, delivered.Load())
	var last int64
	for i, s := range subs {
		if s == nil {
			continue
		}
		if dead[i] {
			x.Disconnected++
			if x.Disconnected <= 3 {
				cfg.Logf("client %d disconnected after %d/%d messages: %v", i, s.got, cfg.Count, s.err)
			}
		}
		res.Deliveries += int64(s.got)
		x.Duplicates += s.dups
		x.Frames += s.frames
		x.Malformed += s.bad
		all = append(all, s.lat...)
		last = max(last, s.last)
		if s.got == cfg.Count {
			x.Complete++
		}
	}
	res.Lost = int64(x.Connected)*int64(cfg.Count) - res.Deliveries
	if last > 0 {
		res.Seconds = round(float64(last-t0.UnixNano())/1e9, 3)
		res.DeliveriesPerSec = round(float64(res.Deliveries)/res.Seconds, 0)
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50ms, res.P99ms, res.MaxMs, x.MinMs = pctMs(all, 0.5), pctMs(all, 0.99), pctMs(all, 1), pctMs(all, 0)
	}
	x.P99ByTenthMs, x.ReadGapP50Ms, x.ReadGapP99Ms = latencySources(subs)
	if x.Error == "" && x.DialFailures > 0 {
		x.Error = fmt.Sprintf("%d of %d clients could not subscribe: %v", x.DialFailures, cfg.Clients, *firstErr.Load())
	}
	cfg.Logf("%s: done in %.1fs", cfg.Transport, time.Since(start).Seconds())
	return res
}

// pctMs is the p-quantile of sorted nanoseconds, in milliseconds.
func pctMs(sorted []int64, p float64) float64 {
	return round(float64(sorted[int(p*float64(len(sorted)-1))])/1e6, 2)
}

// latencySources returns the p99 latency of each tenth of the burst, in
// publish order, and the median and p99 time between two reads of one
// connection (see Extra).
func latencySources(subs []*sub) (byTenth []float64, gapP50, gapP99 float64) {
	var tenths [10][]int64
	var gaps []int64
	for _, s := range subs {
		if s == nil {
			continue
		}
		for i, l := range s.lat {
			tenths[s.tenth[i]] = append(tenths[s.tenth[i]], l)
		}
		gaps = append(gaps, s.gaps...)
	}
	for _, l := range tenths {
		if len(l) == 0 {
			byTenth = append(byTenth, 0)
			continue
		}
		slices.Sort(l)
		byTenth = append(byTenth, pctMs(l, 0.99))
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		gapP50, gapP99 = pctMs(gaps, 0.5), pctMs(gaps, 0.99)
	}
	return byTenth, gapP50, gapP99
}

// serverCPU returns the server's CPU seconds from /stats, or 0.
func serverCPU(c *http.Client, base string) float64 {
	body, err := getText(c, base+"/stats")
	if err != nil {
		return 0
	}
	return statsCPU(body)
}

func statsCPU(stats string) float64 {
	var st struct {
		CPU float64 `json:"cpu_seconds"`
	}
	_ = json.Unmarshal([]byte(stats), &st)
	return st.CPU
}

func mb(b int64) float64 { return round(float64(b)/(1<<20), 1) }

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
