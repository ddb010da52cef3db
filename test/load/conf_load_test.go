//go:build load

package load

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// confRoomBase is the dialled number of room 0; room r is confRoomBase+r.
const confRoomBase = 5000

// confLoadDoc is the document of every load member: the room named after the dialled number.
func confLoadDoc(to string) string {
	return `<Response><Conference beep="false">load` + to + `</Conference></Response>`
}

// loadMember is one SIP client in a load room.
type loadMember struct {
	room, idx int
	freq      int
	call      *siptest.Call
	meter     *sendMeter
}

// confLoadResult is one measured step.
type confLoadResult struct {
	Rooms, Members, Total int
	Wall                  time.Duration // measured window
	MetricsWall           time.Duration // between the two /metrics reads
	Metrics0, Metrics1    map[string]float64
	ServerCPU, SelfCPU    time.Duration
	MachineCPU, IRQCPU    time.Duration
	Load0, Load1          string
	RSS, Threads          string

	Sent, LateSends int64
	MaxSendGap      time.Duration
	Probe           *schedProbe

	Checked                    int // members whose audio was analysed
	RxRateMin, RxRateMean      float64
	SeqGaps                    int
	Windows, CleanWindows      int
	GlitchFrames               int
	MinSINAD, WorstDev, MaxOwn float64
	WorstMembers               []string // a few members with unclean windows
	ClientDamaged              int      // unclean windows during which another member of the room sent late

	Logs logSummary
}

func (r confLoadResult) delta(name string) float64 { return r.Metrics1[name] - r.Metrics0[name] }

// TestConferenceLoad fills R rooms with M SIP members each on 127.0.0.1, every member sending a
// tone of its own frequency, and measures for S seconds: the server's CPU, the mixer's ticks,
// late ticks, skipped ticks and lost frames (from /metrics), and what every member heard (the
// sound check of conf_audio_test.go). Settings (environment):
//
//	PARLEY_LOAD_ROOMS      rooms; a comma list runs one step per value (default 10)
//	PARLEY_LOAD_MEMBERS    members per room, 3-200 (default 30)
//	PARLEY_LOAD_SECONDS    measured seconds per step (default 30)
//	PARLEY_LOAD_DIAL_RATE  new calls per second while filling the rooms (default 25)
//	PARLEY_LOAD_DIR        keep the server log and data dir here (default: temp)
//	PARLEY_LOAD_RTP_PORTS  Parley's RTP range (default 40000-47999)
//	PARLEY_LOAD_CLIENT_MEM_MB  the test process's GC runs only above this heap (default 4096)
//	PARLEY_LOAD_PERF       1: record the server with `perf record -g` during each step
//	PARLEY_LOAD_BIN        use this parley binary instead of building one
//
// It asserts no performance figure: it fails only when the run itself breaks (calls not
// answered, rooms not filled, the server gone).
func TestConferenceLoad(t *testing.T) {
	var rooms []int
	for _, f := range strings.Split(env("PARLEY_LOAD_ROOMS", "10"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("PARLEY_LOAD_ROOMS=%q: want a comma list of room counts 1-100", os.Getenv("PARLEY_LOAD_ROOMS"))
		}
		rooms = append(rooms, n)
	}
	members := envInt(t, "PARLEY_LOAD_MEMBERS", 30, 3, 200)
	seconds := envInt(t, "PARLEY_LOAD_SECONDS", 30, 2, 600)
	dialRate := envInt(t, "PARLEY_LOAD_DIAL_RATE", 25, 1, 500)
	perf := env("PARLEY_LOAD_PERF", "") == "1"

	// The clients keep every packet they receive (for the sound check), hundreds of MB: with the
	// default GC their goroutines stall in mark assists for up to hundreds of ms and send late,
	// which the server would then count as lost frames. Collect only above a memory limit.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(envInt(t, "PARLEY_LOAD_CLIENT_MEM_MB", 4096, 256, 65536)) << 20))

	app := startConfApp(t, confLoadDoc, nil)
	srv, work := startConfServer(t, app, "conference")
	logs := &logCounter{path: srv.LogPath()}
	fmt.Printf("date:    %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs (%s), load average %s at start\n", runtime.NumCPU(), cpuModel(), loadAvg())
	fmt.Printf("build:   parley built from the working tree at %s; test %s\n", gitRev(), runtime.Version())
	fmt.Printf("server:  pid %d, sip %s, log %s\n", srv.PID(), srv.SIP, srv.LogPath())
	fmt.Printf("members: %d per room, each sending its own tone; %d s measured per step after the rooms fill\n\n", members, seconds)

	var results []confLoadResult
	for _, r := range rooms {
		res := runConfStep(t, srv, logs, work, r, members, seconds, dialRate, perf)
		fmt.Println(confStepLine(res))
		results = append(results, res)
		if !srv.Alive() {
			t.Fatalf("parley exited:\n%s", srv.Tail(4000))
		}
	}
	fmt.Println()
	fmt.Print(confLoadTable(results))
	if d := app.drop.Load(); d > 0 {
		t.Logf("%d conference callbacks did not fit the app's queue", d)
	}
}

// envInt reads an integer setting within [lo, hi].
func envInt(t *testing.T, key string, def, lo, hi int) int {
	t.Helper()
	v := env(key, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.Fatalf("%s=%q: want a whole number %d-%d", key, v, lo, hi)
	}
	return n
}

// runConfStep fills rooms×members, measures, checks the audio, and hangs everyone up.
func runConfStep(t *testing.T, srv *kit.Server, logs *logCounter, work string, rooms, members, seconds, dialRate int, perf bool) confLoadResult {
	t.Helper()
	res := confLoadResult{Rooms: rooms, Members: members, Total: rooms * members}
	freqs, level := roomTones(members)
	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var measuring atomic.Bool
	all := make([]*loadMember, 0, res.Total)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Fill the rooms round-robin so they grow together.
	fillStart := time.Now()
	err = dialPaced(ctx, res.Total, dialRate, func(i int) error {
		m := &loadMember{room: i % rooms, idx: i / rooms}
		m.freq = freqs[m.idx]
		m.meter = &sendMeter{src: media.Tone(float64(m.freq), time.Hour, level), measuring: &measuring}
		to := strconv.Itoa(confRoomBase + m.room)
		c, err := client.Dial(ctx, "sip:"+to+"@"+srv.SIP, siptest.DialOptions{
			From: fmt.Sprintf("+1415%03d%04d", m.room, m.idx), Send: m.meter})
		if err != nil {
			return fmt.Errorf("dialling member %d of room %d: %w", m.idx, m.room, err)
		}
		m.call = c
		all = append(all, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]*siptest.Call, len(all))
	for i, m := range all {
		calls[i] = m.call
	}
	if missing := waitAnswered(calls, 60*time.Second); missing > 0 {
		t.Fatalf("%d of %d calls not answered\nserver log:\n%s", missing, len(calls), srv.Tail(4000))
	}
	for r := range rooms {
		room := "load" + strconv.Itoa(confRoomBase+r)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ms, err := roomMembers(ctx, srv, room)
			if err == nil && len(ms) == members {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("room %s has %d members, want %d (%v)", room, len(ms), members, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Printf("  %d×%d: rooms full after %.1f s; settling\n", rooms, members, time.Since(fillStart).Seconds())
	time.Sleep(3 * time.Second) // jitter queues primed, entry work done
	_ = logs.next()             // count only what the measured window logs

	// Measure.
	res.Load0 = loadAvg()
	if res.Metrics0, err = metricsSnapshot(srv); err != nil {
		t.Fatal(err)
	}
	metricsAt0 := time.Now()
	srv0, err := procCPU(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	mach0, irq0, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	self0 := selfCPU()
	sent0 := int64(0)
	for _, m := range all {
		sent0 += m.meter.sent.Load()
	}
	var stopPerf func()
	if perf {
		stopPerf = startPerf(t, srv.PID(), filepath.Join(work, fmt.Sprintf("perf-conf-%dx%d.data", rooms, members)))
	}
	pctx, pcancel := context.WithCancel(ctx)
	probe := runSchedProbe(pctx)
	measuring.Store(true)
	from := time.Now()
	time.Sleep(time.Duration(seconds) * time.Second)
	to := time.Now()
	measuring.Store(false)
	for _, m := range all {
		res.Sent += m.meter.sent.Load()
	}
	res.Sent -= sent0
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
	if res.Metrics1, err = metricsSnapshot(srv); err != nil {
		t.Fatal(err)
	}
	res.MetricsWall = time.Since(metricsAt0)
	if stopPerf != nil {
		stopPerf()
	}
	res.Wall = to.Sub(from)
	res.ServerCPU = srv1 - srv0
	res.MachineCPU, res.IRQCPU = mach1-mach0, irq1-irq0
	res.Load1 = loadAvg()
	res.RSS, res.Threads = procStatus(srv.PID(), "VmRSS"), procStatus(srv.PID(), "Threads")
	res.Probe = probe.result()
	for _, m := range all {
		res.LateSends += m.meter.late.Load()
		res.MaxSendGap = max(res.MaxSendGap, time.Duration(m.meter.maxGap.Load()))
	}
	res.Logs = logs.next()

	// The sound check of every member, after the window so it costs the run nothing.
	res.RxRateMin, res.MinSINAD, res.MaxOwn = math.Inf(1), math.Inf(1), math.Inf(-1)
	var rateSum float64
	for _, m := range all {
		others := make([]int, 0, members-1)
		for i, f := range freqs {
			if i != m.idx {
				others = append(others, f)
			}
		}
		a := analyseMember(kit.Frames(m.call), from, to, others, m.freq, level)
		for _, w := range a.Damaged {
			// A send gap ends when the late frame goes out; its hole reaches the mix up to two
			// ticks later (the window's arrival times lag the mix a little more), and a long gap starves
			// the queue long before it ends.
			for _, o := range all {
				if o.room == m.room && o != m && o.meter.gapsBetween(w.From.Add(-200*time.Millisecond), w.To.Add(300*time.Millisecond)) {
					res.ClientDamaged++
					break
				}
			}
		}
		res.Checked++
		rateSum += a.Rate
		res.RxRateMin = min(res.RxRateMin, a.Rate)
		res.SeqGaps += a.SeqGaps
		res.Windows += a.Windows
		res.CleanWindows += a.Clean
		res.GlitchFrames += a.GlitchFrames
		res.MinSINAD = min(res.MinSINAD, a.MinSINAD)
		res.WorstDev = max(res.WorstDev, a.WorstDev)
		res.MaxOwn = max(res.MaxOwn, a.WorstOwn)
		if a.Clean < a.Windows && len(res.WorstMembers) < 5 {
			res.WorstMembers = append(res.WorstMembers, fmt.Sprintf("room %d member %d: %d/%d clean, %d glitch frames, %d seq gaps, %.1f pkt/s, SINAD ≥ %.1f dB",
				m.room, m.idx, a.Clean, a.Windows, a.GlitchFrames, a.SeqGaps, a.Rate, a.MinSINAD))
		}
	}
	res.RxRateMean = rateSum / float64(max(res.Checked, 1))

	// Hang up everyone and wait for the server to let go of the calls.
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

// confStepLine is the progress line of one step.
func confStepLine(r confLoadResult) string {
	ticks := r.delta("parley_mixer_ticks_total")
	return fmt.Sprintf("  %d×%d = %d members: server %.2f cores, ticks %.0f, late %.0f (%.3f%%), skipped %.0f, lost frames %.0f, clean windows %d/%d, load %s→%s",
		r.Rooms, r.Members, r.Total, r.ServerCPU.Seconds()/r.Wall.Seconds(), ticks, r.delta("parley_mixer_late_ticks_total"),
		pct(r.delta("parley_mixer_late_ticks_total"), ticks), r.delta("parley_mixer_skipped_ticks_total"),
		r.delta("parley_mixer_frames_lost_total"), r.CleanWindows, r.Windows, r.Load0, r.Load1)
}

func pct(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return 100 * a / b
}

// confLoadTable renders the results as markdown tables for docs/BENCHMARKS.md.
func confLoadTable(rs []confLoadResult) string {
	var b strings.Builder
	b.WriteString("Server and mixer (measured window):\n\n")
	b.WriteString("| rooms × members | members | server CPU (cores) | server CPU per member | mixer ticks (expected) | late ticks | skipped | frames lost | write errors | server RSS | WARN/ERROR logs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		sec := r.Wall.Seconds()
		ticks := r.delta("parley_mixer_ticks_total")
		framesDue := float64(r.Total) * sec * 50
		fmt.Fprintf(&b, "| %d × %d | %d | %.2f | %.2f ms/s (%.1f µs per 20 ms) | %.0f (%.0f) | %.0f (%.3f%%) | %.0f | %.0f (%.3f%% of member frames) | %.0f | %s | %d/%d |\n",
			r.Rooms, r.Members, r.Total, r.ServerCPU.Seconds()/sec,
			1000*r.ServerCPU.Seconds()/sec/float64(r.Total), 1e6*r.ServerCPU.Seconds()/framesDue,
			ticks, float64(r.Rooms)*r.MetricsWall.Seconds()*50,
			r.delta("parley_mixer_late_ticks_total"), pct(r.delta("parley_mixer_late_ticks_total"), ticks),
			r.delta("parley_mixer_skipped_ticks_total"),
			r.delta("parley_mixer_frames_lost_total"), pct(r.delta("parley_mixer_frames_lost_total"), framesDue),
			r.delta("parley_mixer_write_errors_total"), r.RSS, r.Logs.Warn, r.Logs.Error)
	}
	b.WriteString("\nClients and machine (same window; the clients run in the test process on the same cores):\n\n")
	b.WriteString("| members | test process CPU (cores) | machine busy (cores) | of which irq/softirq | other processes (cores) | client frames sent/s per member | client sends ≥ 40 ms apart | longest client send gap | probe ticks ≥ 30 ms apart (longest) | load avg start→end |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		sec := r.Wall.Seconds()
		other := max(0, r.MachineCPU-r.ServerCPU-r.SelfCPU-r.IRQCPU)
		fmt.Fprintf(&b, "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %s ms | %d of %d (%s ms) | %s→%s |\n",
			r.Total, r.SelfCPU.Seconds()/sec, r.MachineCPU.Seconds()/sec, r.IRQCPU.Seconds()/sec, other.Seconds()/sec,
			float64(r.Sent)/sec/float64(r.Total), r.LateSends, msOf(r.MaxSendGap),
			r.Probe.lateTicks, r.Probe.ticks, msOf(r.Probe.maxGap), r.Load0, r.Load1)
	}
	b.WriteString("\nWhat the members heard (every member, whole seconds of the window; clean = every other member's tone within ±3 dB of its sent level, own tone ≥ 20 dB down, no 20 ms frame damaged, no packet missing):\n\n")
	b.WriteString("| members checked | received pkt/s (min / mean) | RTP seq gaps | clean seconds | unclean seconds with a client send gap ≥ 30 ms in the room / without | damaged 20 ms frames | worst SINAD | worst tone level error | own tone (max) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		bad := r.Windows - r.CleanWindows
		fmt.Fprintf(&b, "| %d | %.1f / %.1f | %d | %d/%d (%.2f%%) | %d / %d | %d | %.1f dB | %.1f dB | %.1f dB |\n",
			r.Checked, r.RxRateMin, r.RxRateMean, r.SeqGaps, r.CleanWindows, r.Windows, pct(float64(r.CleanWindows), float64(r.Windows)),
			r.ClientDamaged, bad-r.ClientDamaged, r.GlitchFrames, r.MinSINAD, r.WorstDev, r.MaxOwn)
	}
	for _, r := range rs {
		for _, w := range r.WorstMembers {
			fmt.Fprintf(&b, "\n- %d members: %s", r.Total, w)
		}
		for _, s := range r.Logs.Samples {
			fmt.Fprintf(&b, "\n- %d members, server log: %s", r.Total, s)
		}
	}
	b.WriteString("\n")
	return b.String()
}
