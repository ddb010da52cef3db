//go:build load

package load

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// streamDoc is every caller's answer document: a blocking bidirectional μ-law stream to url.
func streamDoc(url string) string {
	return `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">` +
		url + `</Stream></Response>`
}

// streamCaller is one SIP caller of the stream benchmark and its audio source: every 20 ms it
// sends a frame marked with its index and the frame's number, and notes when (the agent looks
// the time up to measure each frame's way to the WebSocket). It also meters its own sending,
// because the callers share the cores with the server, and a caller that sends late leaves a
// hole in its stream that is not Parley's.
type streamCaller struct {
	idx       int
	call      *siptest.Call
	measuring *atomic.Bool

	sent  []atomic.Int64 // UnixNano when frame n went to the RTP writer; 0: not (yet)
	seq   uint32         // the send loop's only
	frame [media.FrameSamples]byte

	last   atomic.Int64 // UnixNano of the previous frame
	maxGap atomic.Int64 // ns, while measuring
	late   atomic.Int64 // send intervals ≥ lateSendGap while measuring

	mu     sync.Mutex
	gapsAt []span // send intervals ≥ lateSendGap while measuring, the first 100
}

func newStreamCaller(idx, frames int, measuring *atomic.Bool) *streamCaller {
	return &streamCaller{idx: idx, measuring: measuring, sent: make([]atomic.Int64, frames)}
}

// ReadFrame is called by the call's send loop just before it encodes and writes the frame.
func (c *streamCaller) ReadFrame(dst []int16) error {
	markedFrame(c.frame[:], frameMark{Kind: kindCaller, Caller: c.idx, Value: c.seq})
	media.PCMU.Decode(dst, c.frame[:])
	now := time.Now().UnixNano()
	if int(c.seq) < len(c.sent) {
		c.sent[c.seq].Store(now)
	}
	c.seq++
	prev := c.last.Swap(now)
	if prev != 0 && c.measuring.Load() {
		gap := now - prev
		if gap > c.maxGap.Load() {
			c.maxGap.Store(gap) // one writer: the call's send loop
		}
		if gap >= int64(lateSendGap) {
			c.late.Add(1)
			c.mu.Lock()
			if len(c.gapsAt) < 100 {
				c.gapsAt = append(c.gapsAt, span{time.Unix(0, prev), time.Unix(0, now)})
			}
			c.mu.Unlock()
		}
	}
	return nil
}

// sentAt is when frame n was sent (UnixNano), 0 when unknown.
func (c *streamCaller) sentAt(n uint32) int64 {
	if int(n) >= len(c.sent) {
		return 0
	}
	return c.sent[n].Load()
}

// sendGapNear reports whether the caller sent late during [from, to].
func (c *streamCaller) sendGapNear(from, to time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.gapsAt {
		if g.To.After(from) && g.From.Before(to) {
			return true
		}
	}
	return false
}

// streamLoadResult is one run of TestStreamLoad.
type streamLoadResult struct {
	Streams, Started int
	Wall             time.Duration
	ServerCPU        time.Duration
	SelfCPU          time.Duration
	SelfGCs          uint32        // collections of the test process in the window
	SelfGCPause      time.Duration // their stop-the-world pauses
	SelfHeap         uint64        // its heap at the end of the window
	MachineCPU       time.Duration
	IRQCPU           time.Duration
	Load0, Load1     string
	RSS, Threads     string
	Probe            *schedProbe
	Logs             logSummary

	// The agent's side: the inbound track of every stream.
	Media               int64
	RateMin, RateMean   float64 // media messages per second per stream
	MaxGap              time.Duration
	Gaps60, GapStreams  int // intervals over 60 ms; streams with one
	GapsClient          int // of those, intervals during which the caller itself sent late
	GapSamples          []string
	Silent, Foreign     int64
	Unknown             int64
	Echoed, WriteErrors int64
	WriteMax            time.Duration
	Analysed            int       // callers whose stream opened
	Lat                 []float64 // ms, caller's RTP send → media message at the agent

	// The callers' side.
	ClientLate      int64
	ClientMaxGap    time.Duration
	RxRateMin       float64
	RxRateMean      float64
	RxSeqGaps       int
	RxForeign       int
	RxUnknown       int
	EchoRTT         []float64 // ms, caller's send → the echo of that frame back at the caller
	Probes          int
	PlayedErr       []float64 // ms, playedStream arrival − arrival at the caller of the last frame before the checkpoint
	PlayedMissing   int       // checkpoints never acknowledged
	PlayedNoAudio   int       // acknowledged, but the caller never got the checkpoint's last frame
	PlayedShort     int       // probes whose audio reached the caller incomplete
	ClearLat        []float64 // ms, clearAudio sent → the last frame of the cut audio at the caller (< 0: none came after)
	ClearQuiet      []float64 // ms, clearAudio sent → the first frame after it at the caller that is not cut audio
	ClearNoAudio    int
	ClearedAck      []float64 // ms, clearAudio sent → clearedAudio at the agent
	ClearedMissing  int
	ClearFramesMean float64 // frames of the cut audio the caller received (15 would be exactly 300 ms)
}

// TestStreamLoad runs N calls on 127.0.0.1, each answered with a blocking bidirectional μ-law
// <Stream> to the load agent of this process, every caller sending marked frames and the agent
// echoing them back as playAudio, and measures for S seconds: the server's CPU; on the agent,
// the time between media messages of each stream (no gap over 60 ms is the target) and the
// latency from a caller's RTP packet to its media message; and with one probe per stream every
// P seconds, spread over the streams: the error of playedStream against the arrival at the
// caller of the last frame before the checkpoint, and the time from clearAudio to the last
// frame of the cut audio at the caller. Settings (environment):
//
//	PARLEY_LOAD_STREAMS       concurrent streams (default 300)
//	PARLEY_LOAD_SECONDS       measured seconds (default 60)
//	PARLEY_LOAD_PROBE_PERIOD  seconds between two probes of a stream (default 10)
//	PARLEY_LOAD_DIAL_RATE     new calls per second (default 25)
//	PARLEY_LOAD_DIR           keep the server log and data dir here (default: temp)
//	PARLEY_LOAD_RTP_PORTS     Parley's RTP range (default 40000-47999)
//	PARLEY_LOAD_CLIENT_MEM_MB the test process's GC runs only above this heap (default 12288)
//	PARLEY_LOAD_PERF          1: record the server with `perf record -g` during the window
//	PARLEY_LOAD_BIN           use this parley binary instead of building one
//	PARLEY_LOAD_SERVER_CPUS   pin the server to these CPUs (taskset list, e.g. 1) and size its GOMAXPROCS to them
//	PARLEY_LOAD_RIG_CPUS      pin the test process (callers and agent) to these CPUs (e.g. 0), likewise
//	PARLEY_LOAD_RIG_PROCS     GOMAXPROCS of the test process (default: Go's, every CPU)
//
// It asserts no performance figure: it fails only when the run itself breaks (calls not
// answered, streams not started, the server gone).
func TestStreamLoad(t *testing.T) {
	n := envInt(t, "PARLEY_LOAD_STREAMS", 300, 1, 2000)
	seconds := envInt(t, "PARLEY_LOAD_SECONDS", 60, 10, 600)
	period := time.Duration(envInt(t, "PARLEY_LOAD_PROBE_PERIOD", 10, 3, 600)) * time.Second
	dialRate := envInt(t, "PARLEY_LOAD_DIAL_RATE", 25, 1, 500)
	perf := env("PARLEY_LOAD_PERF", "") == "1"

	// The callers keep every packet they receive, hundreds of MB: with the default GC their
	// goroutines stall in mark assists and send late. Collect only above a memory limit.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// The limit is higher than the conference benchmark's: these runs are longer, and the
	// first 300-stream try with 4 GB stalled the callers for up to 5 s, most likely in a
	// collection of a heap of several GB.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(envInt(t, "PARLEY_LOAD_CLIENT_MEM_MB", 12288, 256, 65536)) << 20))

	var measuring atomic.Bool
	framesKept := (n/dialRate + seconds + 180) * 50
	callers := make([]*streamCaller, n)
	for i := range callers {
		callers[i] = newStreamCaller(i, framesKept, &measuring)
	}
	agent := newStreamAgent(t, callers)
	app := kit.NewApp(t, kit.WithoutRecording())
	app.Doc("/answer", func(r *http.Request) string {
		return streamDoc(agent.URL(callerOf(r.Form.Get("From"))))
	})
	app.OK("/hangup")
	work := workDir(t, "stream")
	serverCPUs, rigCPUs := env("PARLEY_LOAD_SERVER_CPUS", ""), env("PARLEY_LOAD_RIG_CPUS", "")
	var serverEnv map[string]string
	if serverCPUs != "" {
		// Go sizes GOMAXPROCS from the CPUs a process may use when it starts; the server is
		// pinned just after, so it is told.
		serverEnv = map[string]string{"GOMAXPROCS": strconv.Itoa(cpuCount(t, serverCPUs))}
	}
	srv := startServer(t, app, work, "40000-47999", serverEnv)
	pinning := "none (the server and the test process share every CPU)"
	if serverCPUs != "" {
		pin(t, srv.PID(), serverCPUs)
		pinning = "server on CPU " + serverCPUs
	}
	if rigCPUs != "" {
		pin(t, os.Getpid(), rigCPUs)
		runtime.GOMAXPROCS(cpuCount(t, rigCPUs))
		pinning += ", test process on CPU " + rigCPUs
	}
	if procs := envInt(t, "PARLEY_LOAD_RIG_PROCS", 0, 0, 64); procs > 0 {
		// The callers and the agent then run Go code on at most procs cores at once; the
		// server keeps its own default (every CPU).
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	logs := &logCounter{path: srv.LogPath()}
	fmt.Printf("date:    %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs (%s), load average %s at start\n", runtime.NumCPU(), cpuModel(), loadAvg())
	fmt.Printf("build:   parley built from the working tree at %s; test %s\n", gitRev(), runtime.Version())
	fmt.Printf("server:  pid %d, sip %s, log %s\n", srv.PID(), srv.SIP, srv.LogPath())
	fmt.Printf("pinning: %s; GOMAXPROCS of the test process %d\n", pinning, runtime.GOMAXPROCS(0))
	fmt.Printf("streams: %d bidirectional μ-law, each caller sending marked frames and the agent echoing them; %d s measured, a probe per stream every %v\n\n",
		n, seconds, period)

	res := runStreamLoad(t, srv, agent, callers, logs, work, &measuring, seconds, period, dialRate, perf)
	fmt.Println()
	fmt.Print(streamLoadTable(res))
	if !srv.Alive() {
		t.Fatalf("parley exited:\n%s", srv.Tail(4000))
	}
}

// pin restricts every thread of process pid to cpus (taskset's list syntax, e.g. "1" or
// "0-1"); threads the process starts later inherit it.
func pin(t *testing.T, pid int, cpus string) {
	t.Helper()
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("taskset %s for pid %d: %v\n%s", cpus, pid, err, out)
	}
}

// cpuCount is the number of CPUs in a taskset list such as "0", "0,1" or "0-1".
func cpuCount(t *testing.T, list string) int {
	t.Helper()
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err != nil || b < a {
			t.Fatalf("CPU list %q: not like 0 or 0-1 or 0,1", list)
		}
		n += b - a + 1
	}
	return n
}

// callerOf is the caller index in a From such as +14157000123 (its last four digits).
func callerOf(from string) int {
	digits := strings.TrimLeft(from, "+")
	if len(digits) < 4 {
		return -1
	}
	i, err := strconv.Atoi(digits[len(digits)-4:])
	if err != nil {
		return -1
	}
	return i
}

func runStreamLoad(t *testing.T, srv *kit.Server, agent *streamAgent, callers []*streamCaller, logs *logCounter,
	work string, measuring *atomic.Bool, seconds int, period time.Duration, dialRate int, perf bool) streamLoadResult {
	t.Helper()
	n := len(callers)
	res := streamLoadResult{Streams: n}
	// One goroutine sends every caller's RTP each 20 ms (SharedClock): a ticker and a
	// goroutine per caller cost this process a wake-up per caller per frame, on the cores the
	// server needs.
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1", SharedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	fillStart := time.Now()
	err = dialPaced(ctx, n, dialRate, func(i int) error {
		c, err := client.Dial(ctx, "sip:5100@"+srv.SIP, siptest.DialOptions{
			From: fmt.Sprintf("+1415700%04d", i), Send: callers[i]})
		if err != nil {
			return fmt.Errorf("dialling caller %d: %w", i, err)
		}
		callers[i].call = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]*siptest.Call, n)
	for i, c := range callers {
		calls[i] = c.call
	}
	if missing := waitAnswered(calls, 60*time.Second); missing > 0 {
		t.Fatalf("%d of %d calls not answered\nserver log:\n%s", missing, n, srv.Tail(4000))
	}
	// On a busy machine a few sockets may fail to open in time (Parley gives up after 10 s;
	// those calls end): the run goes on with the others when at least 90% started.
	for deadline := time.Now().Add(60 * time.Second); agent.started.Load() < int64(n); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			if got := agent.started.Load(); got*10 < int64(n)*9 {
				t.Fatalf("%d of %d streams started\nserver log:\n%s", got, n, srv.Tail(4000))
			}
			break
		}
	}
	fmt.Printf("  %d of %d streams up after %.1f s; settling\n", agent.started.Load(), n, time.Since(fillStart).Seconds())
	time.Sleep(3 * time.Second)
	_ = logs.next()

	res.Load0 = loadAvg()
	srv0, err := procCPU(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	mach0, irq0, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	self0 := selfCPU()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var stopPerf func()
	if perf {
		stopPerf = startPerf(t, srv.PID(), filepath.Join(work, fmt.Sprintf("perf-stream-%d.data", n)))
	}
	pctx, pcancel := context.WithCancel(ctx)
	probe := runSchedProbe(pctx)
	from := time.Now()
	to := from.Add(time.Duration(seconds) * time.Second)
	measuring.Store(true)
	agent.open(agentPlan{From: from, To: to, Period: period, Streams: n})
	time.Sleep(time.Until(to))
	agent.stop()
	measuring.Store(false)
	pcancel()
	srv1, err := procCPU(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	mach1, irq1, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	res.SelfCPU = selfCPU() - self0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	res.SelfGCs, res.SelfGCPause = ms1.NumGC-ms0.NumGC, time.Duration(ms1.PauseTotalNs-ms0.PauseTotalNs)
	res.SelfHeap = ms1.HeapAlloc
	if stopPerf != nil {
		stopPerf()
	}
	res.Wall = time.Since(from)
	res.ServerCPU = srv1 - srv0
	res.MachineCPU, res.IRQCPU = mach1-mach0, irq1-irq0
	res.Load1 = loadAvg()
	res.RSS, res.Threads = procStatus(srv.PID(), "VmRSS"), procStatus(srv.PID(), "Threads")
	res.Probe = probe.result()
	res.Started = int(agent.started.Load())
	fmt.Printf("  window over: server %.2f cores; letting the last probes finish\n", res.ServerCPU.Seconds()/res.Wall.Seconds())
	time.Sleep(2*probeWait + time.Second) // a probe that started before the end may wait this long
	res.Logs = logs.next()

	analyseStreams(&res, agent.snapshot(), callers, from, to)

	client.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m, err := metricsSnapshot(srv); err == nil && m["parley_calls_live"] == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return res
}

// analyseStreams fills res from the agent's stats and what every caller received.
func analyseStreams(res *streamLoadResult, stats map[int][]connStats, callers []*streamCaller, from, to time.Time) {
	sec := to.Sub(from).Seconds()
	res.RateMin, res.RxRateMin = math.Inf(1), math.Inf(1)
	var rateSum, rxSum float64
	var clearFrames, clearProbes int
	enc := make([]byte, media.FrameSamples)
	for _, c := range callers {
		res.ClientLate += c.late.Load()
		res.ClientMaxGap = max(res.ClientMaxGap, time.Duration(c.maxGap.Load()))

		// The agent's side of this caller (one socket unless Parley reconnected). A caller
		// whose stream never opened is left out (its count is in Started).
		if len(stats[c.idx]) == 0 {
			continue
		}
		res.Analysed++
		var mediaN int64
		var probes []probeResult
		gapped := false
		for _, st := range stats[c.idx] {
			mediaN += st.Media[0]
			res.MaxGap = max(res.MaxGap, st.MaxGap[0], st.MaxGap[1])
			res.Gaps60 += st.Gaps60
			gapped = gapped || st.Gaps60 > 0
			for _, g := range st.GapsAt {
				client := c.sendGapNear(g.From.Add(-100*time.Millisecond), g.To)
				if client {
					res.GapsClient++
				}
				if len(res.GapSamples) < 8 {
					res.GapSamples = append(res.GapSamples, fmt.Sprintf("caller %d: %s ms at +%.3f s (caller sent late then: %v)",
						c.idx, msOf(g.To.Sub(g.From)), g.From.Sub(from).Seconds(), client))
				}
			}
			res.Silent += st.Silent
			res.Foreign += st.Foreign
			res.Unknown += st.Unknown
			res.Echoed += st.Echoed
			res.WriteErrors += st.WriteErrors
			res.WriteMax = max(res.WriteMax, st.WriteMax)
			for _, us := range st.Lat {
				res.Lat = append(res.Lat, float64(us)/1000)
			}
			probes = append(probes, st.Probes...)
		}
		if gapped {
			res.GapStreams++
		}
		res.Media += mediaN
		rate := float64(mediaN) / sec
		rateSum += rate
		res.RateMin = min(res.RateMin, rate)

		// The caller's side: what it heard.
		lastPlayed := map[int]time.Time{} // probe → arrival of its last frame
		playedFrames := map[int]int{}
		lastClear := map[int]time.Time{}
		clearN := map[int]int{}
		var heard []heardFrame // from the window's start on, for the probes
		var inWindow, prevSeq int
		first := true
		for _, f := range c.call.Received() {
			if f.At.Before(from) {
				continue
			}
			win := f.At.Before(to)
			if win {
				inWindow++
				if !first {
					if d := int(f.Seq - uint16(prevSeq)); d > 1 && d < 1000 {
						res.RxSeqGaps += d - 1
					}
				}
				first, prevSeq = false, int(f.Seq)
			}
			media.PCMU.Encode(enc, f.PCM)
			m, ok := readMark(enc[:min(len(f.PCM), len(enc))])
			heard = append(heard, heardFrame{At: f.At, Mark: m, OK: ok && m.Caller == c.idx})
			switch {
			case !ok && isSilence(enc[:len(f.PCM)]):
			case !ok:
				if win {
					res.RxUnknown++
				}
			case m.Caller != c.idx:
				if win {
					res.RxForeign++
				}
			case m.Kind == kindCaller:
				if sent := c.sentAt(m.Value); sent > 0 && win {
					res.EchoRTT = append(res.EchoRTT, float64(f.At.UnixNano()-sent)/1e6)
				}
			case m.Kind == kindPlayed:
				p, i := int(m.Value>>16), int(m.Value&0xFFFF)
				playedFrames[p]++
				if i == probePlayedFrames-1 {
					lastPlayed[p] = f.At
				}
			case m.Kind == kindClear:
				p := int(m.Value >> 16)
				clearN[p]++
				if f.At.After(lastClear[p]) {
					lastClear[p] = f.At
				}
			}
		}
		rx := float64(inWindow) / sec
		rxSum += rx
		res.RxRateMin = min(res.RxRateMin, rx)

		for _, p := range probes {
			res.Probes++
			switch last, ok := lastPlayed[p.N]; {
			case p.PlayedAt.IsZero():
				res.PlayedMissing++
			case !ok:
				res.PlayedNoAudio++
			default:
				res.PlayedErr = append(res.PlayedErr, float64(p.PlayedAt.Sub(last))/1e6)
			}
			if playedFrames[p.N] != probePlayedFrames {
				res.PlayedShort++
			}
			if p.ClearSent.IsZero() {
				continue
			}
			if at, ok := firstUncut(heard, p.N, p.ClearSent); ok {
				res.ClearQuiet = append(res.ClearQuiet, float64(at.Sub(p.ClearSent))/1e6)
			}
			if last, ok := lastClear[p.N]; ok {
				res.ClearLat = append(res.ClearLat, float64(last.Sub(p.ClearSent))/1e6)
				clearFrames += clearN[p.N]
				clearProbes++
			} else {
				res.ClearNoAudio++
			}
			if p.ClearedAt.IsZero() {
				res.ClearedMissing++
			} else {
				res.ClearedAck = append(res.ClearedAck, float64(p.ClearedAt.Sub(p.ClearSent))/1e6)
			}
		}
	}
	res.RateMean = rateSum / float64(max(res.Analysed, 1))
	res.RxRateMean = rxSum / float64(max(res.Analysed, 1))
	res.ClearFramesMean = float64(clearFrames) / float64(max(clearProbes, 1))
}

// heardFrame is one frame a caller received, its mark read (OK: a mark of this caller).
type heardFrame struct {
	At   time.Time
	Mark frameMark
	OK   bool
}

// firstUncut is the arrival of the first frame after t that is not audio of clear probe n.
func firstUncut(heard []heardFrame, n int, t time.Time) (time.Time, bool) {
	i, _ := slices.BinarySearchFunc(heard, t, func(f heardFrame, t time.Time) int { return f.At.Compare(t) })
	for ; i < len(heard); i++ {
		f := heard[i]
		if !f.OK || f.Mark.Kind != kindClear || int(f.Mark.Value>>16) != n {
			return f.At, true
		}
	}
	return time.Time{}, false
}

// quantiles formats p50 / p99 / max of xs (ms), "-" for none.
func quantiles(xs []float64, ps ...float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var parts []string
	for _, p := range ps {
		rank := int(math.Ceil(p / 100 * float64(len(s))))
		parts = append(parts, strconv.FormatFloat(s[max(1, min(rank, len(s)))-1], 'f', 1, 64))
	}
	return strings.Join(parts, " / ")
}

// absAll returns |x| of every x.
func absAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Abs(x)
	}
	return out
}

// streamLoadTable renders a run as markdown tables for docs/BENCHMARKS.md.
func streamLoadTable(r streamLoadResult) string {
	var b strings.Builder
	sec := r.Wall.Seconds()
	n := float64(max(r.Streams, 1))
	other := max(0, r.MachineCPU-r.ServerCPU-r.SelfCPU-r.IRQCPU)
	b.WriteString("Server and machine (measured window; the callers and the agent run in the test process on the same cores):\n\n")
	b.WriteString("| streams | window s | server CPU (cores) | server CPU per stream | server RSS | threads | test process (cores) | machine busy (cores) | of which irq/softirq | other processes | load avg start→end | WARN/ERROR logs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %.1f | %.2f | %.2f ms/s (%.2f%% of a core; %.1f µs per 20 ms frame pair) | %s | %s | %.2f | %.2f | %.2f | %.2f | %s→%s | %d/%d |\n",
		r.Streams, sec, r.ServerCPU.Seconds()/sec,
		1000*r.ServerCPU.Seconds()/sec/n, 100*r.ServerCPU.Seconds()/sec/n, 1e6*r.ServerCPU.Seconds()/(sec*50*n),
		r.RSS, r.Threads, r.SelfCPU.Seconds()/sec, r.MachineCPU.Seconds()/sec, r.IRQCPU.Seconds()/sec, other.Seconds()/sec,
		r.Load0, r.Load1, r.Logs.Warn, r.Logs.Error)

	b.WriteString("\nMedia at the agent (inbound track of every stream; target: no gap over 60 ms) and from RTP to WebSocket (target p99 ≤ 5 ms):\n\n")
	b.WriteString("| streams started | media msgs/s per stream (min / mean) | longest echo write | longest gap | gaps > 60 ms (streams) | of which the caller sent late | silence frames | foreign / unknown frames | RTP→WS latency ms p50 / p90 / p99 / p99.9 / max (samples) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d/%d | %.1f / %.1f | %s ms | %s ms | %d (%d) | %d | %d | %d / %d | %s (%d) |\n",
		r.Started, r.Streams, r.RateMin, r.RateMean, msOf(r.WriteMax), msOf(r.MaxGap), r.Gaps60, r.GapStreams, r.GapsClient, r.Silent,
		r.Foreign, r.Unknown, quantiles(r.Lat, 50, 90, 99, 99.9, 100), len(r.Lat))

	b.WriteString("\nCallers (what they sent, and what they heard: the agent's echo and the probes):\n\n")
	b.WriteString("| test process GCs (pauses) / heap | client sends ≥ 40 ms apart | longest client send gap | probe ticks ≥ 30 ms apart (longest) | received pkt/s (min / mean) | RTP seq gaps | foreign / unknown frames | echo round trip ms p50 / p99 / max |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d (%s ms) / %d MB | %d | %s ms | %d of %d (%s ms) | %.1f / %.1f | %d | %d / %d | %s |\n",
		r.SelfGCs, msOf(r.SelfGCPause), r.SelfHeap>>20, r.ClientLate, msOf(r.ClientMaxGap), r.Probe.lateTicks, r.Probe.ticks, msOf(r.Probe.maxGap),
		r.RxRateMin, r.RxRateMean, r.RxSeqGaps, r.RxForeign, r.RxUnknown, quantiles(r.EchoRTT, 50, 99, 100))

	b.WriteString("\nProbes (targets: clearAudio → last agent audio at the caller ≤ 40 ms; playedStream error ≤ 40 ms):\n\n")
	b.WriteString("| probes | clearAudio → last cut frame at the caller ms p50 / p99 / max | clearAudio → first frame without it ms p50 / p99 / max | cut frames heard (mean; 15 = 300 ms) | no cut audio heard | clearAudio → clearedAudio ms p50 / p99 / max | clearedAudio missing | playedStream − last frame at the caller ms min / p50 / p99 / max | abs p99 | playedStream missing | probe audio incomplete |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %s | %s | %.1f | %d | %s | %d | %s | %s | %d | %d |\n",
		r.Probes, quantiles(r.ClearLat, 50, 99, 100), quantiles(r.ClearQuiet, 50, 99, 100), r.ClearFramesMean, r.ClearNoAudio,
		quantiles(r.ClearedAck, 50, 99, 100), r.ClearedMissing,
		quantiles(r.PlayedErr, 0, 50, 99, 100), quantiles(absAll(r.PlayedErr), 99), r.PlayedMissing+r.PlayedNoAudio, r.PlayedShort)
	for _, s := range r.GapSamples {
		fmt.Fprintf(&b, "\n- gap: %s", s)
	}
	for _, s := range r.Logs.Samples {
		fmt.Fprintf(&b, "\n- server log: %s", s)
	}
	b.WriteString("\n")
	return b.String()
}
