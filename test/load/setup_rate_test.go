//go:build load

package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// setupDoc is the document of every call: cached speech, then hang up.
const setupDoc = `<Response><Speak>Hello</Speak><Hangup/></Response>`

// maxFailPct is the most failures a rate may have and still count as reached.
const maxFailPct = 1.0

// targetCPS is the first target of the issue, on a 2-core machine.
const targetCPS = 200

// stepResult is one offered rate.
type stepResult struct {
	Rate, Calls     int
	Sipp            sippResult
	OK, Failed      int
	FailPct         float64
	Achieved        float64 // 200 OKs per second while the step ran
	P50, P99        float64 // INVITE→200, ms
	ServerCPU       time.Duration
	SippCPU         time.Duration
	AppCPU          time.Duration // this test process: the web app and the driver
	IRQCPU          time.Duration // interrupts and softirqs, machine-wide (loopback networking)
	OtherCPU        time.Duration // the rest of the machine (other engineers' work)
	Wall            time.Duration // from the first INVITE to the last hangup webhook
	Answers         int64
	Hangups         int64
	HangupLag       time.Duration // after SIPp finished, until the hangup webhooks caught up
	Logs            logSummary
	Causes          map[string]int
	RSS, Threads    string
	Load            string
	WebhooksMatched bool
}

// maxHookLag is how long after the last call the hangup webhooks may still be arriving: more
// means the outbox delivers slower than calls end, and its backlog would grow without end.
const maxHookLag = 5 * time.Second

// minReached is the share of the offered rate that must be reached: SIPp slows down when
// calls pile up (-l), so an overloaded server shows as a lower rate, not as failures.
const minReached = 0.95

// passed reports whether the rate counts as reached.
func (s stepResult) passed() bool {
	return s.FailPct <= maxFailPct && s.WebhooksMatched && s.Achieved >= minReached*float64(s.Rate) &&
		s.HangupLag <= maxHookLag
}

// serverCores is the server's mean CPU use, in cores, from the first INVITE to the last hangup
// webhook.
func (s stepResult) serverCores() float64 {
	if s.Wall <= 0 {
		return math.NaN()
	}
	return s.ServerCPU.Seconds() / s.Wall.Seconds()
}

// setupApp is the customer application of the setup benchmark: it answers every call with one
// fixed document and counts the answer and hangup requests and the hangup causes. Handlers do no
// work beyond that, so its cost stays small.
type setupApp struct {
	*kit.App
	answers atomic.Int64
	hangups atomic.Int64

	mu     sync.Mutex
	causes map[string]int // HangupCauseName of the hangup webhooks
}

func startSetupApp(t *testing.T, doc string) *setupApp {
	t.Helper()
	a := &setupApp{App: kit.NewApp(t, kit.WithoutRecording()), causes: map[string]int{}}
	a.Doc("/answer", func(*http.Request) string {
		a.answers.Add(1)
		return doc
	})
	a.HandleFunc("/hangup", func(rw http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.causes[r.Form.Get("HangupCauseName")]++
		a.mu.Unlock()
		a.hangups.Add(1)
		rw.WriteHeader(http.StatusOK)
	})
	return a
}

// causeSnapshot returns a copy of the hangup cause counts.
func (a *setupApp) causeSnapshot() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.causes))
	for k, v := range a.causes {
		out[k] = v
	}
	return out
}

// TestSetupRate offers rising call rates to a Parley binary with SIPp and prints, per rate, the
// failures, the rate of 200 OKs reached, INVITE→200 times and CPU. Settings (environment):
//
//	PARLEY_LOAD_RATES      offered rates, calls per second (default 50,100,150,200,300,400,600,800,1000)
//	PARLEY_LOAD_SECONDS    seconds of calls per rate: calls = rate × seconds (default 10)
//	PARLEY_LOAD_ALL        1: run every rate; default stops after two failed rates in a row
//	PARLEY_LOAD_DIR        keep SIPp files, server logs and the data dir here (default: temp)
//	PARLEY_LOAD_RTP_PORTS  Parley's RTP range (default 17000-29999)
//	PARLEY_LOAD_LOG_LEVEL  Parley's log level (default info, as in production)
//	PARLEY_LOAD_PERF       1: record the server with `perf record -g` during each rate
//	PARLEY_LOAD_BIN        use this parley binary instead of building one
//	PARLEY_LOAD_REPORT     also write the header and the table (markdown) to this file
func TestSetupRate(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester)")
	}
	rates, err := parseRates(env("PARLEY_LOAD_RATES", "50,100,150,200,300,400,600,800,1000"))
	if err != nil {
		t.Fatal(err)
	}
	seconds, err := strconv.Atoi(env("PARLEY_LOAD_SECONDS", "10"))
	if err != nil || seconds < 1 || seconds > 120 {
		t.Fatalf("PARLEY_LOAD_SECONDS=%q: want whole seconds 1-120", os.Getenv("PARLEY_LOAD_SECONDS"))
	}
	runAll := env("PARLEY_LOAD_ALL", "") == "1"
	work := workDir(t, "")
	scenario, err := filepath.Abs(filepath.Join("..", "sipp", "uac_load.xml"))
	if err != nil {
		t.Fatal(err)
	}
	perf := env("PARLEY_LOAD_PERF", "") == "1"
	if perf {
		if _, err := exec.LookPath("perf"); err != nil {
			t.Fatal("PARLEY_LOAD_PERF=1 but perf is not installed")
		}
	}

	app := startSetupApp(t, setupDoc)
	srv := startServer(t, app.App, work, "17000-29999", nil)
	logs := &logCounter{path: srv.LogPath()}

	header := describeRun(srv, work, seconds)
	fmt.Print(header)

	// Warm-up: the first call synthesises "Hello"; every later call takes it from the cache.
	ctx := context.Background()
	warm, err := sippRun{Scenario: scenario, Target: srv.SIP, Dir: filepath.Join(work, "warmup"),
		Rate: 1, Calls: 1, Limit: 1, Timeout: 40 * time.Second}.run(ctxBound(t, ctx, 60*time.Second))
	if err != nil {
		t.Fatalf("warm-up call: %v", err)
	}
	if warm.Stat.Successful != 1 {
		t.Fatalf("warm-up call failed: %+v\nsipp errors:\n%s\nserver log:\n%s", warm.Stat, warm.Errors, srv.Tail(4000))
	}
	if waitCount(ctx, &app.hangups, 1, 15*time.Second); app.hangups.Load() != 1 || app.answers.Load() != 1 {
		t.Fatalf("warm-up call: %d answer and %d hangup requests, want 1 and 1", app.answers.Load(), app.hangups.Load())
	}
	logs.next()

	var results []stepResult
	failedInRow := 0
	for _, rate := range rates {
		if !srv.Alive() {
			t.Fatalf("parley exited:\n%s", srv.Tail(4000))
		}
		time.Sleep(2 * time.Second) // let the previous rate's sockets and goroutines settle
		res := runStep(t, srv, app, logs, scenario, work, rate, seconds, perf)
		results = append(results, res)
		fmt.Println(stepLine(res))
		if !res.WebhooksMatched {
			t.Errorf("rate %d: %d answer_url fetches but %d hangup webhooks (%d calls created, %d successful): every call that fetched its document must get one hangup webhook",
				rate, res.Answers, res.Hangups, res.Sipp.Stat.Created, res.OK)
		}
		if res.passed() {
			failedInRow = 0
		} else if failedInRow++; failedInRow >= 2 && !runAll {
			fmt.Printf("stopping: two rates in a row had more than %.0f%% failures\n", maxFailPct)
			break
		}
	}
	report := renderReport(results)
	fmt.Print("\n" + report)
	if path := os.Getenv("PARLEY_LOAD_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(header+"\n"+report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

// runStep offers one rate and measures it.
func runStep(t *testing.T, srv *kit.Server, app *setupApp, logs *logCounter, scenario, work string, rate, seconds int, perf bool) stepResult {
	t.Helper()
	res := stepResult{Rate: rate, Calls: rate * seconds, Load: loadAvg()}
	ans0, hang0 := app.answers.Load(), app.hangups.Load()
	causes0 := app.causeSnapshot()
	srv0, err := procCPU(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	mach0, irq0, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	self0 := selfCPU()
	start := time.Now()

	dir := filepath.Join(work, fmt.Sprintf("rate-%d", rate))
	var stopPerf func()
	if perf {
		stopPerf = startPerf(t, srv.PID(), filepath.Join(work, fmt.Sprintf("perf-%d.data", rate)))
	}
	run := sippRun{Scenario: scenario, Target: srv.SIP, Dir: dir, Rate: rate, Calls: res.Calls,
		Limit: max(50, rate*4), Timeout: time.Duration(seconds)*time.Second + 45*time.Second}
	sres, err := run.run(ctxBound(t, context.Background(), run.Timeout+30*time.Second))
	if stopPerf != nil {
		stopPerf()
	}
	if err != nil {
		t.Fatalf("rate %d: %v\nserver log:\n%s", rate, err, srv.Tail(4000))
	}
	res.Sipp = sres

	// Every call that fetched its document gets one hangup webhook; wait for the outbox.
	lagStart := time.Now()
	want := hang0 + (app.answers.Load() - ans0)
	waitCount(context.Background(), &app.hangups, want, 90*time.Second)
	res.HangupLag = time.Since(lagStart)
	res.Wall = time.Since(start)
	time.Sleep(200 * time.Millisecond) // a late duplicate webhook would show up here
	res.Answers, res.Hangups = app.answers.Load()-ans0, app.hangups.Load()-hang0

	srv1, err := procCPU(srv.PID())
	if err != nil {
		t.Fatal(err)
	}
	mach1, irq1, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	res.ServerCPU = srv1 - srv0
	res.SippCPU = sres.CPU
	res.AppCPU = selfCPU() - self0
	res.IRQCPU = irq1 - irq0
	res.OtherCPU = max(0, (mach1-mach0)-res.ServerCPU-res.SippCPU-res.AppCPU-res.IRQCPU)
	res.RSS, res.Threads = procStatus(srv.PID(), "VmHWM"), procStatus(srv.PID(), "Threads")
	res.Logs = logs.next()
	res.Causes = diffCounts(app.causeSnapshot(), causes0)

	res.OK = sres.Stat.Successful
	res.Failed = res.Calls - res.OK // calls SIPp never got to place count as failed too
	res.FailPct = 100 * float64(res.Failed) / float64(res.Calls)
	res.Achieved = answeredRate(sres.RTTAt)
	res.P50, res.P99 = percentile(sres.RTT, 50), percentile(sres.RTT, 99)
	res.WebhooksMatched = res.Hangups == res.Answers && res.Answers <= int64(sres.Stat.Created)
	return res
}

// startPerf records process pid with perf until the returned func is called.
func startPerf(t *testing.T, pid int, out string) func() {
	t.Helper()
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting perf: %v", err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

func ctxBound(t *testing.T, parent context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(parent, d)
	t.Cleanup(cancel)
	return ctx
}

// parseRates reads "50,100,150".
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 5000 {
			return nil, fmt.Errorf("PARLEY_LOAD_RATES: %q is not a rate of 1-5000 calls per second", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("PARLEY_LOAD_RATES: no rates in %q", s)
	}
	return out, nil
}

func diffCounts(now, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range now {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// describeRun is the header of the report: machine, build and settings.
func describeRun(srv *kit.Server, work string, seconds int) string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	rev := "built from the working tree at " + gitRev()
	if given := os.Getenv("PARLEY_LOAD_BIN"); given != "" {
		rev = "binary " + given + " (PARLEY_LOAD_BIN)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "date:    %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "machine: %d CPUs (%s), load average %s at start\n", runtime.NumCPU(), model, loadAvg())
	fmt.Fprintf(&b, "build:   parley %s; test %s\n", rev, runtime.Version())
	fmt.Fprintf(&b, "server:  pid %d, sip %s (udp), data dir %s\n", srv.PID(), srv.SIP, filepath.Join(work, "data"))
	fmt.Fprintf(&b, "calls:   %s, %d s of calls per rate\n", setupDoc, seconds)
	fmt.Fprintf(&b, "pass:    at most %.0f%% of the calls failed, at least %.0f%% of the offered rate reached, one hangup webhook per answer_url fetch, all of them within %v after the last call\n",
		maxFailPct, 100*minReached, maxHookLag)
	return b.String()
}

// stepLine is the progress line printed after each rate.
func stepLine(r stepResult) string {
	s := fmt.Sprintf("rate %d: %d/%d ok, %.2f%% failed, %.1f cps reached, INVITE→200 p50 %s p99 %s ms, retrans %d, server CPU %.2fs (%.2f cores), hook lag %.1fs, load %s",
		r.Rate, r.OK, r.Calls, r.FailPct, r.Achieved, ms(r.P50), ms(r.P99), r.Sipp.Stat.Retransmissions, r.ServerCPU.Seconds(), r.serverCores(), r.HangupLag.Seconds(), r.Load)
	if r.Sipp.Stat.Failed > 0 {
		st := r.Sipp.Stat
		s += fmt.Sprintf("\n  sipp failures: %d timeout waiting (200 or BYE), %d max UDP retrans, %d unexpected, %d rejected; exit %d",
			st.FailedTimeoutRecv, st.FailedMaxUDPRetrans, st.FailedUnexpected, st.FailedRejected, r.Sipp.ExitCode)
	}
	if r.Logs.Warn+r.Logs.Error > 0 {
		s += fmt.Sprintf("\n  server log: %d WARN, %d ERROR: %s", r.Logs.Warn, r.Logs.Error, strings.Join(r.Logs.Samples, " | "))
	}
	if len(r.Causes) > 1 || (len(r.Causes) == 1 && r.Causes["Normal Hangup"] == 0) {
		keys := make([]string, 0, len(r.Causes))
		for k := range r.Causes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%q×%d", k, r.Causes[k]))
		}
		s += "\n  hangup causes: " + strings.Join(parts, ", ")
	}
	if r.Sipp.Errors != "" && r.Sipp.Stat.Failed > 0 {
		first, _, _ := strings.Cut(strings.TrimSpace(r.Sipp.Errors), "\n")
		s += "\n  sipp error log: " + first
	}
	return s
}

// renderReport is the final table, in markdown so it can go into docs/BENCHMARKS.md as is.
func renderReport(rs []stepResult) string {
	var b strings.Builder
	b.WriteString("| offered cps | calls | ok | failed % | reached cps | INVITE→200 p50 / p99 ms | SIPp retrans | server CPU s | server cores | server CPU ms/call | SIPp CPU s | web app CPU s | softirq CPU s | other CPU s | answer / hangup hooks | hook lag s | server WARN/ERROR | pass |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n")
	figure, reached := 0, 0.0
	for _, r := range rs {
		perCall := math.NaN()
		if r.OK > 0 {
			perCall = 1000 * r.ServerCPU.Seconds() / float64(r.OK)
		}
		pass := "no"
		if r.passed() {
			pass = "yes"
			if r.Rate > figure {
				figure, reached = r.Rate, r.Achieved
			}
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %.2f | %.1f | %s / %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d / %d | %.1f | %d / %d | %s |\n",
			r.Rate, r.Calls, r.OK, r.FailPct, r.Achieved, ms(r.P50), ms(r.P99), r.Sipp.Stat.Retransmissions,
			r.ServerCPU.Seconds(), r.serverCores(), perCall, r.SippCPU.Seconds(), r.AppCPU.Seconds(), r.IRQCPU.Seconds(), r.OtherCPU.Seconds(),
			r.Answers, r.Hangups, r.HangupLag.Seconds(), r.Logs.Warn, r.Logs.Error, pass)
	}
	b.WriteString("\n")
	if len(rs) > 0 {
		last := rs[len(rs)-1]
		fmt.Fprintf(&b, "server peak RSS %s, %s threads after the last rate\n", last.RSS, last.Threads)
	}
	if figure == 0 {
		fmt.Fprintf(&b, "figure: no offered rate had at most %.0f%% failures\n", maxFailPct)
	} else {
		fmt.Fprintf(&b, "figure: %d calls per second with at most %.0f%% failures (highest offered rate that passed; %.1f cps reached)\n",
			figure, maxFailPct, reached)
	}
	offered := slices.ContainsFunc(rs, func(r stepResult) bool { return r.Rate >= targetCPS })
	switch {
	case figure >= targetCPS:
		fmt.Fprintf(&b, "target %d cps: reached\n", targetCPS)
	case offered:
		fmt.Fprintf(&b, "target %d cps: NOT reached\n", targetCPS)
	default:
		fmt.Fprintf(&b, "target %d cps: not measured (no rate of %d or more was offered)\n", targetCPS, targetCPS)
	}
	return b.String()
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// gitRev describes the working tree's commit, "-dirty" when it has changes.
func gitRev() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
