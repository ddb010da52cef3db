//go:build load

package load

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// What a dial of the Dial benchmark must end with to count as completed normally: the B leg
// is ended by the Dial's timeLimit (6000 Scheduled Hangup, spec §7.12), then the A leg's
// document has nothing left (4010 End Of XML Instructions, source Vobiz, §8.5).
const (
	dialOKBCause      = "Scheduled Hangup"
	dialOKACause      = "End Of XML Instructions"
	dialOKASource     = "Vobiz"
	dialNumberPattern = "1415%07d"
)

// dialOutcome is the measurement of one A leg of the Dial benchmark.
type dialOutcome struct {
	OK      bool
	Why     string  // first reason it is not OK
	ToB     float64 // answer document written → B INVITE at the gateway, ms
	ToAck   float64 // answer document written → B's ACK at the gateway, ms
	ToConn  float64 // answer document written → DialConnected callback arrived, ms
	Fetch   float64 // answer_url request → its document written, ms (the web app's own time)
	HasB    bool
	HasAck  bool
	HasConn bool
}

// judgeDial measures one A leg from the app's record and the gateway's times for its number.
func judgeDial(c outCall, b outUASTimes, haveB bool) dialOutcome {
	var o dialOutcome
	fail := func(why string) {
		if o.Why == "" {
			o.Why = why
		}
	}
	if c.AnswerResp.IsZero() {
		fail("no answer_url fetch")
		return o
	}
	o.Fetch = outMs(c.AnswerResp.Sub(c.AnswerReq))
	if haveB && !b.Invite.IsZero() {
		o.HasB, o.ToB = true, outMs(b.Invite.Sub(c.AnswerResp))
	} else {
		fail("no B INVITE at the gateway")
	}
	if haveB && !b.Ack.IsZero() {
		o.HasAck, o.ToAck = true, outMs(b.Ack.Sub(c.AnswerResp))
	} else {
		fail("no ACK of the B leg's 200")
	}
	if !c.Connected.IsZero() {
		o.HasConn, o.ToConn = true, outMs(c.Connected.Sub(c.AnswerResp))
	} else {
		fail("no DialConnected callback")
	}
	for _, ev := range []string{"DialAnswer", "DialConnected", "DialHangup"} {
		if n := c.DialEvents[ev]; n != 1 {
			fail(fmt.Sprintf("%d %s callbacks", n, ev))
		}
	}
	if c.BCause != dialOKBCause {
		fail("B leg cause " + strconv.Quote(c.BCause))
	}
	switch {
	case c.Hangups == 0:
		fail("no hangup webhook")
	case c.Hangups > 1:
		fail(fmt.Sprintf("%d hangup webhooks", c.Hangups))
	case c.Cause != dialOKACause || c.Source != dialOKASource:
		fail("A leg cause " + strconv.Quote(c.Cause+" / "+c.Source))
	}
	o.OK = o.Why == ""
	return o
}

// TestDialSetup measures how long a <Dial> takes to set up the B leg. SIPp calls Parley (the A
// legs, test/sipp/uac_load.xml) at a moderate rate; the answer document is
//
//	<Response><Dial timeLimit="1" callbackUrl="…"><Number>1415NNNNNNN</Number></Dial></Response>
//
// with a number of its own per call, routed through PARLEY_SIP_GATEWAY to a SIPp UAS
// (test/sipp/uas_answer.xml) that answers at once and logs when the INVITE and the ACK came.
// Dial set-up time is from the moment the web app finished writing the A leg's answer document
// to the moment the gateway received the ACK of the B leg's 200 (Parley has the B leg answered).
// Settings (environment):
//
//	PARLEY_DIAL_RATE     A legs per second (default 10)
//	PARLEY_DIAL_CALLS    A legs (default 200)
//	PARLEY_LOAD_DIR, PARLEY_LOAD_BIN, PARLEY_LOAD_RTP_PORTS, PARLEY_LOAD_LOG_LEVEL as for TestSetupRate;
//	PARLEY_DIAL_REPORT   also write the report to this file
func TestDialSetup(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester)")
	}
	rate, err := strconv.Atoi(env("PARLEY_DIAL_RATE", "10"))
	if err != nil || rate < 1 || rate > 1000 {
		t.Fatalf("PARLEY_DIAL_RATE=%q: want 1-1000 calls per second", os.Getenv("PARLEY_DIAL_RATE"))
	}
	calls, err := strconv.Atoi(env("PARLEY_DIAL_CALLS", "200"))
	if err != nil || calls < 1 || calls > 100000 {
		t.Fatalf("PARLEY_DIAL_CALLS=%q: want 1-100000", os.Getenv("PARLEY_DIAL_CALLS"))
	}
	scenario, err := filepath.Abs(filepath.Join("..", "sipp", "uac_load.xml"))
	if err != nil {
		t.Fatal(err)
	}
	work := workDir(t, "dial-setup")

	gw := startOutUAS(t, filepath.Join(work, "gateway"))
	var app *outApp
	app = startOutApp(t, func(_ string, n int) (string, string) {
		number := fmt.Sprintf(dialNumberPattern, n)
		return `<Response><Dial timeLimit="1" callbackUrl="` + app.URL("/dial-events") + `"><Number>` + number + `</Number></Dial></Response>`, number
	})
	srv := startServer(t, app.App, work, "30000-39999", map[string]string{
		"PARLEY_SIP_GATEWAY": fmt.Sprintf("127.0.0.1:%d", gw.Port),
	})
	logs := &logCounter{path: srv.LogPath()}

	header := fmt.Sprintf("date:    %s\nmachine: %d CPUs (%s), load average %s at start\nbuild:   parley %s; test %s\n"+
		"server:  pid %d, sip %s (udp), gateway 127.0.0.1:%d (SIPp UAS, answers at once)\n"+
		"calls:   %d A legs at %d per second (SIPp uac_load.xml); answer document <Dial timeLimit=\"1\" callbackUrl=…><Number>1415NNNNNNN</Number></Dial>\n"+
		"times:   from the A leg's answer document written by the web app (t0) to: the B INVITE at the gateway, the B ACK at the gateway (Dial set-up time), the DialConnected callback at the web app\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cpuModel(), loadAvg(), outBuildDesc(), runtime.Version(),
		srv.PID(), srv.SIP, gw.Port, calls, rate)
	fmt.Print(header)

	// Warm-up: one dial, so that the first connections and code paths are warm.
	warm, err := sippRun{Scenario: scenario, Target: srv.SIP, Dir: filepath.Join(work, "warmup"),
		Rate: 1, Calls: 1, Limit: 1, Timeout: 40 * time.Second}.run(kit.Context(t, 60*time.Second))
	if err != nil || warm.Stat.Successful != 1 {
		t.Fatalf("warm-up dial failed: %v %+v\nserver log:\n%s", err, warm.Stat, srv.Tail(4000))
	}
	time.Sleep(time.Second)
	app.mu.Lock()
	warmIDs := make(map[string]bool, len(app.calls))
	for id := range app.calls {
		warmIDs[id] = true
	}
	app.mu.Unlock()
	logs.next()

	before := outSnapMachine(t, srv.PID())
	drops0 := udpDrops(outPort(srv.SIP))
	run := sippRun{Scenario: scenario, Target: srv.SIP, Dir: filepath.Join(work, "alegs"), Rate: rate, Calls: calls,
		Limit: max(50, rate*10), Timeout: time.Duration(calls/rate)*time.Second + 60*time.Second}
	ares, err := run.run(kit.Context(t, run.Timeout+30*time.Second))
	if err != nil {
		t.Fatalf("A legs: %v\nserver log:\n%s", err, srv.Tail(4000))
	}
	// The hangup webhooks of the A legs come last.
	app.mu.Lock()
	var ids []string
	for id := range app.calls {
		if !warmIDs[id] {
			ids = append(ids, id)
		}
	}
	app.mu.Unlock()
	app.waitAll(ids, len(ids), func(c *outCall) bool { return c.Hangups > 0 }, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	sipDrops, gwDrops := udpDrops(outPort(srv.SIP))-drops0, udpDrops(gw.Port)
	gres, err := gw.stop(40 * time.Second)
	if err != nil {
		t.Errorf("gateway: %v", err)
	}
	after := outSnapMachine(t, srv.PID())
	cpu := outCPUBetween(before, after, gres.CPU+ares.CPU)
	slog := logs.next()

	byNumber := map[string]outUASTimes{}
	for _, tm := range gres.Times {
		byNumber[tm.ToUser] = tm
	}
	var toB, toAck, toConn, fetch []float64
	ok := 0
	why := map[string]int{}
	aCauses, bCauses := map[string]int{}, map[string]int{}
	for _, c := range app.snapshot(ids) {
		b, haveB := byNumber[c.Number]
		o := judgeDial(c, b, haveB)
		if o.OK {
			ok++
		} else {
			why[o.Why]++
		}
		if o.HasB {
			toB = append(toB, o.ToB)
		}
		if o.HasAck {
			toAck = append(toAck, o.ToAck)
		}
		if o.HasConn {
			toConn = append(toConn, o.ToConn)
		}
		fetch = append(fetch, o.Fetch)
		if c.Hangups > 0 {
			aCauses[c.Cause+" / "+c.Source]++
		}
		bCauses[c.BCause]++
	}
	failed := calls - ok // A legs that never reached the web app count as failed too
	if missing := calls - len(ids); missing > 0 {
		why["A leg never reached the answer_url"] += missing
	}

	var b strings.Builder
	b.WriteString("| A legs | A answered (SIPp) | dials OK | failed % | A INVITE→200 p50 / p99 ms | t0 → B INVITE p50 / p99 ms | **t0 → B ACK (Dial set-up) p50 / p99 ms** | t0 → DialConnected callback p50 / p99 ms | B INVITEs at gateway (incl. warm-up) | server CPU s | server cores | SIPp CPU s | app CPU s | softirq CPU s | other CPU s | server WARN/ERROR |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %.2f | %s / %s | %s | %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d / %d |\n",
		calls, ares.Stat.Successful, ok, 100*float64(failed)/float64(calls), ms(percentile(ares.RTT, 50)), ms(percentile(ares.RTT, 99)),
		outPct(toB), outPct(toAck), outPct(toConn), len(gres.Times), cpu.Server.Seconds(), cpu.cores(cpu.Server), cpu.SIPp.Seconds(),
		cpu.Self.Seconds(), cpu.IRQ.Seconds(), cpu.Other.Seconds(), slog.Warn, slog.Error)
	fmt.Fprintf(&b, "\nsamples: %d B INVITEs, %d ACKs, %d DialConnected; max t0 → B ACK %.1f ms; web app answer time p50/p99 %s ms\n",
		len(toB), len(toAck), len(toConn), outMax(toAck), outPct(fetch))
	fmt.Fprintf(&b, "A-leg hangup causes: %s\nB-leg causes (DialHangup): %s\n", outCounts(aCauses), outCounts(bCauses))
	fmt.Fprintf(&b, "UDP datagrams dropped (receive buffer full): %d on Parley's SIP socket, %d on the gateway's\n", sipDrops, gwDrops)
	fmt.Fprintf(&b, "gateway (SIPp UAS, incl. the warm-up dial): %d ok, %d failed, mean 200→ACK %v (SIPp counts in ms)\n", gres.Stat.Successful, gres.Stat.Failed, gres.Stat.ResponseMean)
	if len(why) > 0 {
		fmt.Fprintf(&b, "failures: %s\n", outCounts(why))
	}
	if slog.Warn+slog.Error > 0 {
		fmt.Fprintf(&b, "server log: %s\n", strings.Join(slog.Samples, " | "))
	}
	fmt.Fprintf(&b, "server peak RSS %s, %s threads\n", procStatus(srv.PID(), "VmHWM"), procStatus(srv.PID(), "Threads"))
	report := b.String()
	fmt.Print("\n" + report)
	if path := os.Getenv("PARLEY_DIAL_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(header+"\n"+report), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

// outMax is the largest of xs, 0 for none.
func outMax(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
