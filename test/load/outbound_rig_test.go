//go:build load

package load

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// outCall is what the web app saw of one call, by CallUUID.
type outCall struct {
	AnswerReq  time.Time // answer_url request arrived
	AnswerResp time.Time // its document was written
	Number     string    // the <Number> handed out (Dial benchmark)
	Hangup     time.Time
	Cause      string // HangupCauseName of the hangup webhook
	Source     string // HangupSource
	Hangups    int    // hangup webhooks received (more than 1 is a duplicate)
	Connected  time.Time
	DialEvents map[string]int // Dial callbackUrl events by Event
	BCause     string         // DialBLegHangupCauseName of DialHangup
}

// outApp is the customer application of the outbound benchmarks. It records, per CallUUID,
// when each request came; handlers do nothing else so that its CPU stays small.
type outApp struct {
	*kit.App
	// doc returns the answer document for a call; n is the 1-based answer count.
	doc func(callUUID string, n int) (doc, number string)

	mu    sync.Mutex
	calls map[string]*outCall
	n     int
	bad   int // requests without a CallUUID
}

func startOutApp(t *testing.T, doc func(callUUID string, n int) (string, string)) *outApp {
	t.Helper()
	a := &outApp{App: kit.NewApp(t, kit.WithoutRecording()), doc: doc, calls: map[string]*outCall{}}
	a.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		id := r.Form.Get("CallUUID")
		a.mu.Lock()
		a.n++
		n := a.n
		c := a.callLocked(id)
		a.mu.Unlock()
		body, number := a.doc(id, n)
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		done := time.Now()
		a.mu.Lock()
		if c != nil {
			c.AnswerReq, c.AnswerResp, c.Number = at, done, number
		}
		a.mu.Unlock()
	})
	a.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		a.mu.Lock()
		if c := a.callLocked(r.Form.Get("CallUUID")); c != nil {
			c.Hangups++
			c.Hangup, c.Cause, c.Source = at, r.Form.Get("HangupCauseName"), r.Form.Get("HangupSource")
		}
		a.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	a.HandleFunc("/dial-events", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		a.mu.Lock()
		if c := a.callLocked(r.Form.Get("CallUUID")); c != nil {
			if c.DialEvents == nil {
				c.DialEvents = map[string]int{}
			}
			ev := r.Form.Get("Event")
			c.DialEvents[ev]++
			switch ev {
			case "DialConnected":
				if c.Connected.IsZero() {
					c.Connected = at
				}
			case "DialHangup":
				c.BCause = r.Form.Get("DialBLegHangupCauseName")
			}
		}
		a.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	return a
}

// callLocked returns the record of id, making it; nil (and counted) for an empty id.
func (a *outApp) callLocked(id string) *outCall {
	if id == "" {
		a.bad++
		return nil
	}
	c := a.calls[id]
	if c == nil {
		c = &outCall{}
		a.calls[id] = c
	}
	return c
}

// snapshot returns copies of the records of ids (missing ones are zero).
func (a *outApp) snapshot(ids []string) []outCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]outCall, len(ids))
	for i, id := range ids {
		if c := a.calls[id]; c != nil {
			out[i] = *c
		}
	}
	return out
}

// count returns how many of ids have a record that done accepts.
func (a *outApp) count(ids []string, done func(*outCall) bool) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, id := range ids {
		if c := a.calls[id]; c != nil && done(c) {
			n++
		}
	}
	return n
}

// waitAll waits until done holds for want of ids, or d passes; it returns how long it took.
func (a *outApp) waitAll(ids []string, want int, done func(*outCall) bool, d time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < d && a.count(ids, done) < want {
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// outUAS is a running SIPp process playing test/sipp/uas_answer.xml.
type outUAS struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// outUASResult is what the UAS reported when it stopped.
type outUASResult struct {
	Stat  sippStat
	CPU   time.Duration
	Times map[string]outUASTimes // by Call-ID
}

// startOutUAS starts SIPp as the answering side in dir, listening on a free port of 127.0.0.1.
func startOutUAS(t *testing.T, dir string) *outUAS {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs(filepath.Join("..", "sipp", "uas_answer.xml"))
	if err != nil {
		t.Fatal(err)
	}
	scen, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("reading the UAS scenario: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "uas_answer.xml"), scen, 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := outUASPort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-sf", "uas_answer.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(port + 2),
		"-nostdin", "-buff_size", "4194304", "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_logs", "-log_file", "times.log",
		"-trace_err", "-error_file", "errors.log"}
	if err := os.WriteFile(filepath.Join(dir, "command"), []byte("sipp "+strings.Join(args, " ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sipp", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the SIPp UAS: %v", err)
	}
	u := &outUAS{Port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { u.err = cmd.Wait(); out.Close(); close(u.done) }()
	t.Cleanup(func() {
		select {
		case <-u.done:
		default:
			_ = cmd.Process.Kill()
			<-u.done
		}
	})
	// Wait until it has bound its port: a probe bind fails then.
	for i := 0; i < 100; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return u
		}
		c.Close()
		select {
		case <-u.done:
			t.Fatalf("the SIPp UAS exited at start: %v\n%s", u.err, kit.TailFile(filepath.Join(dir, "stdout.log"), 2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the SIPp UAS did not bind 127.0.0.1:%d", port)
	return nil
}

// stop asks SIPp to quit once its calls are over (SIGUSR1, like pressing q), kills it after d,
// and reads its statistics and timing log.
func (u *outUAS) stop(d time.Duration) (outUASResult, error) {
	var res outUASResult
	_ = u.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-u.done:
	case <-time.After(d):
		_ = u.cmd.Process.Kill()
		<-u.done
	}
	if ps := u.cmd.ProcessState; ps != nil {
		res.CPU = ps.UserTime() + ps.SystemTime()
	}
	f, err := os.Open(filepath.Join(u.dir, "stat.csv"))
	if err != nil {
		return res, fmt.Errorf("the SIPp UAS wrote no statistics: %w", err)
	}
	res.Stat, err = parseStat(f)
	f.Close()
	if err != nil {
		return res, err
	}
	lf, err := os.Open(filepath.Join(u.dir, "times.log"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return res, nil // no call arrived
		}
		return res, err
	}
	defer lf.Close()
	res.Times, err = parseOutUASLog(lf)
	return res, err
}

// outUASTimes is when the UAS took a call's INVITE and ACK, and the user its To named.
type outUASTimes struct {
	Invite, Ack time.Time
	ToUser      string
}

var outToUser = regexp.MustCompile(`To:.*?<?sips?:([^@;>]+)@`)

// parseOutUASLog reads the lines uas_answer.xml logs:
//
//	INVITE <s> <us> <call-id> To: <sip:user@host>
//	ACK <s> <us> <call-id> To: <sip:user@host>;tag=…
//
// SIPp prints its variables as decimals ("1795740036.000000").
func parseOutUASLog(r io.Reader) (map[string]outUASTimes, error) {
	out := map[string]outUASTimes{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || (f[0] != "INVITE" && f[0] != "ACK") {
			return nil, fmt.Errorf("UAS log line %q is not INVITE|ACK <s> <us> <call-id>", line)
		}
		s, err1 := strconv.ParseFloat(f[1], 64)
		us, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || s < 0 || us < 0 || us >= 1e6 || math.IsNaN(s) || math.IsNaN(us) {
			return nil, fmt.Errorf("UAS log line %q has a bad time", line)
		}
		at := time.Unix(int64(s), int64(us)*1000)
		rec := out[f[3]]
		if f[0] == "INVITE" {
			rec.Invite = at
		} else {
			rec.Ack = at
		}
		if m := outToUser.FindStringSubmatch(line); m != nil && rec.ToUser == "" {
			rec.ToUser = m[1]
		}
		out[f[3]] = rec
	}
	return out, sc.Err()
}

// outMs is d in milliseconds for percentiles.
func outMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct formats the p50 / p99 of xs (ms) with one decimal.
func outPct(xs []float64) string {
	if len(xs) == 0 {
		return "- / -"
	}
	return fmt.Sprintf("%.1f / %.1f", percentile(xs, 50), percentile(xs, 99))
}

// outCounts prints a count map as "a×3, b×1", sorted by key.
func outCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

// outSnap is the CPU counters at one moment.
type outSnap struct {
	server, self, busy, irq time.Duration
	at                      time.Time
}

func outSnapMachine(t *testing.T, pid int) outSnap {
	t.Helper()
	s, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	busy, irq, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	return outSnap{server: s, self: selfCPU(), busy: busy, irq: irq, at: time.Now()}
}

// outCPU is the CPU each party used between two snapshots; sipp is the SIPp processes' own.
type outCPU struct {
	Server, Self, SIPp, IRQ, Other time.Duration
	Wall                           time.Duration
}

func outCPUBetween(a, b outSnap, sipp time.Duration) outCPU {
	u := outCPU{Server: b.server - a.server, Self: b.self - a.self, SIPp: sipp, IRQ: b.irq - a.irq, Wall: b.at.Sub(a.at)}
	u.Other = max(0, (b.busy-a.busy)-u.Server-u.Self-u.SIPp-u.IRQ)
	return u
}

// cores is d as a share of the wall time of u.
func (u outCPU) cores(d time.Duration) float64 {
	if u.Wall <= 0 {
		return math.NaN()
	}
	return d.Seconds() / u.Wall.Seconds()
}

// udpDrops returns the datagrams the kernel dropped on the UDP socket(s) bound to port on
// 127.0.0.1 (the "drops" column of /proc/net/udp: receive buffer full). -1 when not found.
func udpDrops(port int) int64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return -1
	}
	return parseUDPDrops(string(b), port)
}

// parseUDPDrops sums the drops column of the /proc/net/udp rows whose local address is
// 127.0.0.1:port.
func parseUDPDrops(table string, port int) int64 {
	want := fmt.Sprintf("0100007F:%04X", port)
	var sum int64 = -1
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 13 || f[1] != want {
			continue
		}
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			continue
		}
		sum = max(sum, 0) + n
	}
	return sum
}

// outPort is the port of a host:port address, 0 when it has none.
func outPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// outUASPort finds a UDP port p on 127.0.0.1 with p+2 and p+4 free too (SIPp binds its audio
// and video media sockets there), below the kernel's ephemeral range so that SIPp runs that
// pick ephemeral ports (sippRun) cannot take the UAS's media ports.
func outUASPort() (int, error) {
	for p := 15000; p < 16990; p += 10 {
		ok := true
		var held []*net.UDPConn
		for _, q := range []int{p, p + 2, p + 4} {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: q})
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("finding UDP ports for the SIPp UAS: 15000-16999 are all taken")
}
