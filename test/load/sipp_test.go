//go:build load

package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sippRun is one SIPp invocation of the load scenario.
type sippRun struct {
	Scenario string        // path of uac_load.xml
	Target   string        // Parley's SIP address, host:port
	Dir      string        // working directory for SIPp's files
	Rate     int           // new calls per second
	Calls    int           // calls to place
	Limit    int           // most calls at once (-l)
	Timeout  time.Duration // SIPp's global time limit (-timeout)
}

// sippResult is what SIPp reported about a run.
type sippResult struct {
	Stat     sippStat
	RTT      []float64     // INVITE→200 response times in ms, one per answered call
	RTTAt    []float64     // when each 200 arrived, ms since SIPp started
	ExitCode int           // 0 all calls succeeded, 1 some failed, others: SIPp trouble
	CPU      time.Duration // SIPp's own CPU time
	Wall     time.Duration
	Errors   string // head of SIPp's error log
}

// run starts SIPp and waits for it; ctx bounds it beyond SIPp's own -timeout.
func (r sippRun) run(ctx context.Context) (sippResult, error) {
	var res sippResult
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return res, err
	}
	// SIPp names its rtt file after the scenario in the working directory: run a local copy.
	scen, err := os.ReadFile(r.Scenario)
	if err != nil {
		return res, fmt.Errorf("reading the SIPp scenario: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "uac_load.xml"), scen, 0o644); err != nil {
		return res, err
	}
	port, err := freeUDPPort()
	if err != nil {
		return res, err
	}
	args := []string{
		"-sf", "uac_load.xml", "-s", "1000",
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(port + 2),
		"-m", strconv.Itoa(r.Calls), "-r", strconv.Itoa(r.Rate), "-rp", "1000", "-l", strconv.Itoa(r.Limit),
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(r.Timeout.Seconds())), "-timeout_error",
		"-trace_stat", "-stf", "stat.csv", "-fd", "1",
		"-trace_rtt", "-rtt_freq", "1",
		"-trace_err", "-error_file", "errors.log",
		"-trace_screen", "-screen_file", "screen.log",
		r.Target,
	}
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = r.Dir
	cmd.WaitDelay = 5 * time.Second
	out, err := os.Create(filepath.Join(r.Dir, "stdout.log"))
	if err != nil {
		return res, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := os.WriteFile(filepath.Join(r.Dir, "command"), []byte("sipp "+strings.Join(args, " ")+"\n"), 0o644); err != nil {
		return res, err
	}
	start := time.Now()
	err = cmd.Run()
	res.Wall = time.Since(start)
	if cmd.ProcessState != nil {
		res.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return res, fmt.Errorf("running sipp: %w", err)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("sipp did not finish in time: %w", ctx.Err())
	}
	stat, err := os.Open(filepath.Join(r.Dir, "stat.csv"))
	if err != nil {
		return res, fmt.Errorf("sipp wrote no statistics (exit code %d, see %s): %w", res.ExitCode, out.Name(), err)
	}
	defer stat.Close()
	if res.Stat, err = parseStat(stat); err != nil {
		return res, err
	}
	rtts, _ := filepath.Glob(filepath.Join(r.Dir, "uac_load_*_rtt.csv"))
	for _, p := range rtts {
		f, err := os.Open(p)
		if err != nil {
			return res, err
		}
		at, ms, err := parseRTT(f)
		f.Close()
		if err != nil {
			return res, err
		}
		res.RTTAt = append(res.RTTAt, at...)
		res.RTT = append(res.RTT, ms...)
	}
	if b, err := os.ReadFile(filepath.Join(r.Dir, "errors.log")); err == nil {
		res.Errors = string(b[:min(len(b), 2000)])
	}
	return res, nil
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago, with the port after
// next free too (SIPp binds its media socket there), so runs do not collide with other SIPp users
// of 5060.
func freeUDPPort() (int, error) {
	for i := 0; i < 50; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, fmt.Errorf("finding a free UDP port: %w", err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		m, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 2})
		c.Close()
		if err == nil {
			m.Close()
			return port, nil
		}
	}
	return 0, errors.New("finding a free UDP port: no pair found")
}

// sippStat is the last (cumulative) row of SIPp's -trace_stat file.
type sippStat struct {
	Created, Successful, Failed int
	Retransmissions             int
	FailedTimeoutRecv           int
	FailedMaxUDPRetrans         int
	FailedUnexpected            int
	FailedRejected              int
	OutOfCall, DeadCall         int
	CallRate                    float64       // cumulative CallRate(C), calls created per second
	Elapsed                     time.Duration // ElapsedTime(C)
	ResponseMean                time.Duration // ResponseTime1(C)
}

// parseStat reads SIPp's semicolon-separated statistics: a header row, then one row per dump.
func parseStat(r io.Reader) (sippStat, error) {
	var s sippStat
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var header, last []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		f := strings.Split(line, ";")
		if header == nil {
			header = f
			continue
		}
		if len(f) >= len(header)-1 {
			last = f
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading sipp statistics: %w", err)
	}
	if header == nil || last == nil {
		return s, errors.New("sipp statistics file has no data row")
	}
	col := map[string]string{}
	for i, h := range header {
		if i < len(last) {
			col[h] = last[i]
		}
	}
	var errs []error
	num := func(name string) int {
		v, ok := col[name]
		if !ok {
			errs = append(errs, fmt.Errorf("column %s missing", name))
			return 0
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("column %s: %q is not a number", name, v))
		}
		return n
	}
	s.Created = num("TotalCallCreated")
	s.Successful = num("SuccessfulCall(C)")
	s.Failed = num("FailedCall(C)")
	s.Retransmissions = num("Retransmissions(C)")
	s.FailedTimeoutRecv = num("FailedTimeoutOnRecv(C)")
	s.FailedMaxUDPRetrans = num("FailedMaxUDPRetrans(C)")
	s.FailedUnexpected = num("FailedUnexpectedMessage(C)")
	s.FailedRejected = num("FailedCallRejected(C)")
	s.OutOfCall = num("OutOfCallMsgs(C)")
	s.DeadCall = num("DeadCallMsgs(C)")
	if v, err := strconv.ParseFloat(strings.TrimSpace(col["CallRate(C)"]), 64); err == nil {
		s.CallRate = v
	} else {
		errs = append(errs, fmt.Errorf("column CallRate(C): %q is not a number", col["CallRate(C)"]))
	}
	var err error
	if s.Elapsed, err = parseSIPpDuration(col["ElapsedTime(C)"]); err != nil {
		errs = append(errs, err)
	}
	if s.ResponseMean, err = parseSIPpDuration(col["ResponseTime1(C)"]); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("reading sipp statistics: %w", err)
	}
	return s, nil
}

// parseSIPpDuration reads SIPp's "hh:mm:ss" or "hh:mm:ss:microseconds".
func parseSIPpDuration(v string) (time.Duration, error) {
	f := strings.Split(strings.TrimSpace(v), ":")
	if len(f) != 3 && len(f) != 4 {
		return 0, fmt.Errorf("sipp duration %q is not hh:mm:ss[:us]", v)
	}
	mult := []time.Duration{time.Hour, time.Minute, time.Second, time.Microsecond}
	var d time.Duration
	for i, p := range f {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("sipp duration %q is not hh:mm:ss[:us]", v)
		}
		d += time.Duration(n) * mult[i]
	}
	return d, nil
}

// parseRTT reads SIPp's -trace_rtt file: "Date_ms;response_time_ms;rtd_no" then one row per
// measurement. It returns the measurement times and response times, both in ms.
func parseRTT(r io.Reader) (at, ms []float64, err error) {
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if first {
			first = false
			if strings.HasPrefix(line, "Date_ms") {
				continue
			}
		}
		f := strings.Split(line, ";")
		if len(f) < 2 {
			return nil, nil, fmt.Errorf("sipp rtt row %q has fewer than 2 fields", line)
		}
		a, err1 := strconv.ParseFloat(f[0], 64)
		v, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || math.IsNaN(a) || math.IsNaN(v) {
			return nil, nil, fmt.Errorf("sipp rtt row %q is not numeric", line)
		}
		at = append(at, a)
		ms = append(ms, v)
	}
	return at, ms, sc.Err()
}

// percentile returns the p-th percentile (0..100) of xs by the nearest-rank method; NaN for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// answeredRate is the rate at which 200 OKs arrived: answered calls minus one over the time
// from the first to the last 200. NaN with fewer than two.
func answeredRate(at []float64) float64 {
	if len(at) < 2 {
		return math.NaN()
	}
	lo, hi := slices.Min(at), slices.Max(at)
	if hi <= lo {
		return math.NaN()
	}
	return float64(len(at)-1) / ((hi - lo) / 1000)
}
