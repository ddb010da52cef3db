//go:build load

package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// Answer documents of the outbound rate benchmark (PARLEY_OUT_DOC picks one).
var outDocs = map[string]string{
	"speak":  `<Response><Speak>Hi</Speak><Hangup/></Response>`,
	"hangup": `<Response><Hangup/></Response>`,
}

// A call of the outbound rate benchmark completed normally when its document's <Hangup/> ended
// it: cause 4000 Normal Hangup, source Answer XML (spec §7.8).
const (
	outOKCause  = "Normal Hangup"
	outOKSource = "Answer XML"
)

// outPost is the API side of one call.
type outPost struct {
	Sent, Done time.Time
	Status     int
	UUID       string
	Err        string // transport error or the error message of a non-201
}

// outStep is one offered rate of the outbound benchmark.
type outStep struct {
	Rate, Calls   int
	Created       int            // 201s
	Rejected      map[string]int // non-201 answers and transport errors, by status and message
	Answered      int            // answer_url fetched
	HungUp        int            // hangup webhook received
	Normal        int            // completed normally (201, answered, one hangup with the expected cause)
	Dups          int            // calls with more than one hangup webhook
	Causes        map[string]int // "cause / source" of the hangup webhooks
	Failed        int
	FailPct       float64
	PostRate      float64 // 201s per second, first to last POST sent
	Achieved      float64 // answer_url fetches per second, first to last
	PostMs, AnsMs []float64
	CallMs        []float64     // answer_url request → hangup webhook: the call's length plus delivery
	LateStart     time.Duration // how far behind schedule the last POST was sent
	HookLag       time.Duration // after the last answer, until the last hangup webhook of an answered call
	UAS           outUASResult
	CPU           outCPU
	Logs          logSummary
	RSS, Threads  string
	Load          string
	SIPDrops      int64 // datagrams dropped on Parley's SIP socket (receive buffer full)
	UASDrops      int64 // the same on the SIPp UAS's socket
}

// passed reports whether the rate counts as reached, by the rules of the set-up benchmark.
func (s outStep) passed() bool {
	return s.FailPct <= maxFailPct && s.Achieved >= minReached*float64(s.Rate) && s.HookLag <= maxHookLag
}

// TestOutboundRate places calls with POST /Call/ at rising rates to a SIPp UAS that answers at
// once, and prints per rate: failures, the rate reached, POST→201 and 201→answer_url times, and
// CPU. Settings (environment):
//
//	PARLEY_OUT_RATES        offered rates, calls per second (default 50,100,200,300,400,600,800)
//	PARLEY_OUT_SECONDS      seconds of calls per rate: calls = rate × seconds (default 10)
//	PARLEY_OUT_DOC          speak (default: <Speak>Hi</Speak><Hangup/>, cached) or hangup
//	PARLEY_OUT_CPS          Parley's calls_per_second (default 5000)
//	PARLEY_OUT_MAX_CALLS    Parley's max_concurrent_calls (default 10000)
//	PARLEY_OUT_INFLIGHT     most POSTs waiting for their answer at once (default 256)
//	PARLEY_LOAD_ALL, PARLEY_LOAD_DIR, PARLEY_LOAD_BIN, PARLEY_LOAD_RTP_PORTS, PARLEY_LOAD_LOG_LEVEL
//	                        as for TestSetupRate; PARLEY_OUT_REPORT writes the table to a file
func TestOutboundRate(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester)")
	}
	rates, err := parseRates(env("PARLEY_OUT_RATES", "50,100,200,300,400,600,800"))
	if err != nil {
		t.Fatal(err)
	}
	seconds, err := strconv.Atoi(env("PARLEY_OUT_SECONDS", "10"))
	if err != nil || seconds < 1 || seconds > 120 {
		t.Fatalf("PARLEY_OUT_SECONDS=%q: want whole seconds 1-120", os.Getenv("PARLEY_OUT_SECONDS"))
	}
	docName := env("PARLEY_OUT_DOC", "speak")
	doc, ok := outDocs[docName]
	if !ok {
		t.Fatalf("PARLEY_OUT_DOC=%q: want speak or hangup", docName)
	}
	inflight, err := strconv.Atoi(env("PARLEY_OUT_INFLIGHT", "256"))
	if err != nil || inflight < 1 {
		t.Fatalf("PARLEY_OUT_INFLIGHT=%q: want a positive number", os.Getenv("PARLEY_OUT_INFLIGHT"))
	}
	runAll := env("PARLEY_LOAD_ALL", "") == "1"
	work := workDir(t, "outbound-rate")

	app := startOutApp(t, func(string, int) (string, string) { return doc, "" })
	cps, maxCalls := env("PARLEY_OUT_CPS", "5000"), env("PARLEY_OUT_MAX_CALLS", "10000")
	srv := startServer(t, app.App, work, "30000-39999", map[string]string{
		"PARLEY_CALLS_PER_SECOND":     cps,
		"PARLEY_MAX_CONCURRENT_CALLS": maxCalls,
		"PARLEY_ALLOW_DIRECT_SIP":     "true",
	})
	logs := &logCounter{path: srv.LogPath()}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: inflight, MaxIdleConnsPerHost: inflight, IdleConnTimeout: time.Minute}}

	header := fmt.Sprintf("date:    %s\nmachine: %d CPUs (%s), load average %s at start\nbuild:   parley %s; test %s\n"+
		"server:  pid %d, http %s, sip %s (udp); calls_per_second %s, max_concurrent_calls %s\n"+
		"calls:   POST /Call/ to sip:test@127.0.0.1:<SIPp UAS port>, answer document %s; %d s of calls per rate, at most %d POSTs in flight\n"+
		"pass:    at most %.0f%% failed (failed = no 201, no answer_url fetch, or no single hangup webhook with %s / %s), answer_url fetches at >= %.0f%% of the offered rate, hangup webhooks within %v of the last answer\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cpuModel(), loadAvg(), outBuildDesc(), runtime.Version(),
		srv.PID(), srv.HTTP, srv.SIP, cps, maxCalls, doc, seconds, inflight, maxFailPct, outOKCause, outOKSource, 100*minReached, maxHookLag)
	fmt.Print(header)

	// Warm-up: synthesises "Hi" once, and opens the driver's connections.
	warm := runOutStep(t, srv, app, client, logs, filepath.Join(work, "warmup"), 2, 2, inflight)
	if warm.Normal != warm.Calls {
		t.Fatalf("warm-up calls did not complete normally: %s\nserver log:\n%s", outStepLine(warm), srv.Tail(4000))
	}

	var results []outStep
	failedInRow := 0
	for _, rate := range rates {
		if !srv.Alive() {
			t.Fatalf("parley exited:\n%s", srv.Tail(4000))
		}
		time.Sleep(2 * time.Second)
		res := runOutStep(t, srv, app, client, logs, filepath.Join(work, fmt.Sprintf("rate-%d", rate)), rate, rate*seconds, inflight)
		results = append(results, res)
		fmt.Println(outStepLine(res))
		if res.passed() {
			failedInRow = 0
		} else if failedInRow++; failedInRow >= 2 && !runAll {
			fmt.Println("stopping: two rates in a row did not pass")
			break
		}
	}
	report := renderOutReport(results)
	fmt.Print("\n" + report)
	if path := os.Getenv("PARLEY_OUT_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(header+"\n"+report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

// runOutStep offers calls at rate and measures them; dir holds the UAS's files.
func runOutStep(t *testing.T, srv *kit.Server, app *outApp, client *http.Client, logs *logCounter, dir string, rate, calls, inflight int) outStep {
	t.Helper()
	res := outStep{Rate: rate, Calls: calls, Load: loadAvg(), Rejected: map[string]int{}, Causes: map[string]int{}}
	u := startOutUAS(t, dir)
	before := outSnapMachine(t, srv.PID())
	sipDrops0 := udpDrops(outPort(srv.SIP))

	body := func() []byte {
		b, _ := json.Marshal(map[string]string{
			"from": "14155550100", "to": fmt.Sprintf("sip:test@127.0.0.1:%d", u.Port),
			"answer_url": app.URL("/answer"), "hangup_url": app.URL("/hangup"),
		})
		return b
	}()
	url := srv.HTTP + kit.AccountPath("/Call/")
	posts := make([]outPost, calls)
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	ctx := kit.Context(t, time.Duration(calls/rate+60)*time.Second)
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range posts {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		if i == len(posts)-1 {
			res.LateStart = max(0, time.Since(due))
		}
		wg.Add(1)
		go func(p *outPost) {
			defer func() { <-sem; wg.Done() }()
			*p = postCall(ctx, client, url, body)
		}(&posts[i])
	}
	wg.Wait()

	var ids []string
	done201 := map[string]time.Time{}
	var firstSent, lastSent time.Time
	for _, p := range posts {
		if p.Status == http.StatusCreated && p.UUID != "" {
			ids = append(ids, p.UUID)
			done201[p.UUID] = p.Done
			if firstSent.IsZero() || p.Sent.Before(firstSent) {
				firstSent = p.Sent
			}
			if p.Sent.After(lastSent) {
				lastSent = p.Sent
			}
			res.PostMs = append(res.PostMs, outMs(p.Done.Sub(p.Sent)))
		} else {
			key := strconv.Itoa(p.Status)
			if p.Status == 0 {
				key = "error"
			}
			res.Rejected[key+" "+p.Err]++
		}
	}
	res.Created = len(ids)
	if res.Created > 1 && lastSent.After(firstSent) {
		res.PostRate = float64(res.Created-1) / lastSent.Sub(firstSent).Seconds()
	}

	// Each created call is answered at once, then its document ends it: wait for the answers,
	// then for the hangup webhooks.
	answered := func(c *outCall) bool { return !c.AnswerReq.IsZero() }
	hungUp := func(c *outCall) bool { return c.Hangups > 0 }
	app.waitAll(ids, len(ids), answered, 40*time.Second)
	app.waitAll(ids, app.count(ids, answered), hungUp, 90*time.Second)
	time.Sleep(200 * time.Millisecond) // a late duplicate webhook would show up here
	res.SIPDrops = udpDrops(outPort(srv.SIP)) - sipDrops0
	res.UASDrops = udpDrops(u.Port) // a fresh socket per step
	uasRes, err := u.stop(40 * time.Second)
	if err != nil {
		t.Errorf("rate %d: %v", rate, err)
	}
	res.UAS = uasRes
	after := outSnapMachine(t, srv.PID())
	res.CPU = outCPUBetween(before, after, uasRes.CPU)
	res.RSS, res.Threads = procStatus(srv.PID(), "VmHWM"), procStatus(srv.PID(), "Threads")
	res.Logs = logs.next()

	recs := app.snapshot(ids)
	var firstAns, lastAns, lastHook time.Time
	var ansAt []float64
	for i, c := range recs {
		if !c.AnswerReq.IsZero() {
			res.Answered++
			ansAt = append(ansAt, float64(c.AnswerReq.UnixMicro())/1000)
			res.AnsMs = append(res.AnsMs, outMs(c.AnswerReq.Sub(done201[ids[i]])))
			if firstAns.IsZero() || c.AnswerReq.Before(firstAns) {
				firstAns = c.AnswerReq
			}
			lastAns = outLater(lastAns, c.AnswerReq)
		}
		if c.Hangups > 0 {
			if !c.AnswerReq.IsZero() {
				res.CallMs = append(res.CallMs, outMs(c.Hangup.Sub(c.AnswerReq)))
				// Only answered calls count for the lag: an unanswered one ends by its own
				// timer (Timer B, 32 s), not when the outbox gets to it.
				lastHook = outLater(lastHook, c.Hangup)
			}
			res.HungUp++
			res.Causes[c.Cause+" / "+c.Source]++
			if c.Hangups > 1 {
				res.Dups++
			}
		}
		if !c.AnswerReq.IsZero() && c.Hangups == 1 && c.Cause == outOKCause && c.Source == outOKSource {
			res.Normal++
		}
	}
	res.Achieved = answeredRate(ansAt)
	if !lastHook.IsZero() && !lastAns.IsZero() {
		res.HookLag = max(0, lastHook.Sub(lastAns)) // includes the last call's own length
	}
	res.Failed = res.Calls - res.Normal
	res.FailPct = 100 * float64(res.Failed) / float64(res.Calls)
	return res
}

func outLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// postCall sends one POST /Call/ and reads its answer.
func postCall(ctx context.Context, client *http.Client, url string, body []byte) outPost {
	p := outPost{Sent: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		p.Err = err.Error()
		return p
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(kit.AuthID, kit.AuthToken)
	resp, err := client.Do(req)
	if err != nil {
		p.Done, p.Err = time.Now(), outShortErr(err)
		return p
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	p.Done, p.Status = time.Now(), resp.StatusCode
	var out struct {
		RequestUUID string `json:"request_uuid"`
		Error       string `json:"error"`
		Message     string `json:"message"`
	}
	_ = json.Unmarshal(data, &out)
	if resp.StatusCode == http.StatusCreated {
		p.UUID = out.RequestUUID
	} else {
		p.Err = out.Error + out.Message
		if p.Err == "" {
			p.Err = strings.TrimSpace(string(data[:min(len(data), 80)]))
		}
	}
	return p
}

// outShortErr drops the URL part of a transport error so that equal errors group together.
func outShortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// outBuildDesc says which binary runs.
func outBuildDesc() string {
	if given := os.Getenv("PARLEY_LOAD_BIN"); given != "" {
		return "binary " + given + " (PARLEY_LOAD_BIN)"
	}
	return "built from the working tree at " + gitRev()
}

// outStepLine is the progress line printed after each rate.
func outStepLine(r outStep) string {
	s := fmt.Sprintf("rate %d: %d calls, %d created, %d answered, %d hung up, %d normal, %.2f%% failed, %.1f answers/s (POSTs %.1f/s, last POST %v late), POST→201 p50/p99 %s ms, 201→answer_url %s ms, answer_url→hangup hook %s ms, hook lag %.1fs, UAS %d ok %d failed, UDP drops server %d UAS %d, server CPU %.2fs (%.2f cores), load %s",
		r.Rate, r.Calls, r.Created, r.Answered, r.HungUp, r.Normal, r.FailPct, r.Achieved, r.PostRate, r.LateStart.Round(time.Millisecond),
		outPct(r.PostMs), outPct(r.AnsMs), outPct(r.CallMs), r.HookLag.Seconds(), r.UAS.Stat.Successful, r.UAS.Stat.Failed, r.SIPDrops, r.UASDrops, r.CPU.Server.Seconds(), r.CPU.cores(r.CPU.Server), r.Load)
	if len(r.Rejected) > 0 {
		s += "\n  not created: " + outCounts(r.Rejected)
	}
	if len(r.Causes) > 1 || r.Causes[outOKCause+" / "+outOKSource] != r.HungUp {
		s += "\n  hangup causes: " + outCounts(r.Causes)
	}
	if r.Dups > 0 {
		s += fmt.Sprintf("\n  %d calls got more than one hangup webhook", r.Dups)
	}
	if r.UAS.Stat.Failed > 0 {
		st := r.UAS.Stat
		s += fmt.Sprintf("\n  UAS failures: %d timeout waiting (ACK or BYE), %d max UDP retrans, %d unexpected", st.FailedTimeoutRecv, st.FailedMaxUDPRetrans, st.FailedUnexpected)
	}
	if r.Logs.Warn+r.Logs.Error > 0 {
		s += fmt.Sprintf("\n  server log: %d WARN, %d ERROR: %s", r.Logs.Warn, r.Logs.Error, strings.Join(r.Logs.Samples, " | "))
	}
	return s
}

// renderOutReport is the final table, in markdown.
func renderOutReport(rs []outStep) string {
	var b strings.Builder
	b.WriteString("| offered cps | calls | 201 | answered | hangup hooks | normal | failed % | reached cps (answers) | POST→201 p50 / p99 ms | 201→answer_url p50 / p99 ms | answer_url→hangup hook p50 / p99 ms | hook lag s | UAS ok / failed | UDP drops server / UAS | server CPU s | server cores | server CPU ms/call | SIPp CPU s | driver+app CPU s | softirq CPU s | other CPU s | server WARN/ERROR | pass |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n")
	figure, reached := 0, 0.0
	for _, r := range rs {
		perCall := math.NaN()
		if r.Normal > 0 {
			perCall = 1000 * r.CPU.Server.Seconds() / float64(r.Normal)
		}
		pass := "no"
		if r.passed() {
			pass = "yes"
			if r.Rate > figure {
				figure, reached = r.Rate, r.Achieved
			}
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %.2f | %.1f | %s | %s | %s | %.1f | %d / %d | %d / %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d / %d | %s |\n",
			r.Rate, r.Calls, r.Created, r.Answered, r.HungUp, r.Normal, r.FailPct, r.Achieved, outPct(r.PostMs), outPct(r.AnsMs), outPct(r.CallMs),
			r.HookLag.Seconds(), r.UAS.Stat.Successful, r.UAS.Stat.Failed, r.SIPDrops, r.UASDrops, r.CPU.Server.Seconds(), r.CPU.cores(r.CPU.Server), perCall,
			r.CPU.SIPp.Seconds(), r.CPU.Self.Seconds(), r.CPU.IRQ.Seconds(), r.CPU.Other.Seconds(), r.Logs.Warn, r.Logs.Error, pass)
	}
	b.WriteString("\n")
	if len(rs) > 0 {
		last := rs[len(rs)-1]
		fmt.Fprintf(&b, "server peak RSS %s, %s threads after the last rate\n", last.RSS, last.Threads)
	}
	if figure == 0 {
		b.WriteString("figure: no offered rate passed\n")
	} else {
		fmt.Fprintf(&b, "figure: %d outbound calls per second with at most %.0f%% failures (highest offered rate that passed; %.1f answers/s reached)\n",
			figure, maxFailPct, reached)
	}
	return b.String()
}
