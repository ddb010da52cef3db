//go:build load

package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// clkTck is USER_HZ, the unit of the CPU times in /proc; 100 on every Linux we run on.
const clkTck = 100

// procCPU returns the user+system CPU time of process pid.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of process %d: %w", pid, err)
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime+stime out of a /proc/<pid>/stat line. The command name (field 2)
// may hold spaces and parentheses, so fields are counted from the last ')'.
func parseProcStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc stat line has no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want at least 13", len(f))
	}
	// f[0] is field 3 (state); utime is field 14 and stime field 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat line has bad CPU times %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// machineCPU returns the busy CPU time of the whole machine (all cores) from /proc/stat, and
// the part of it spent in interrupts and softirqs (where loopback UDP and TCP are processed, not
// charged to any process).
func machineCPU() (busy, irq time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("reading machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineStat(line)
}

// parseMachineStat reads the "cpu" line of /proc/stat: user nice system idle iowait irq softirq
// steal guest guest_nice, in USER_HZ ticks.
func parseMachineStat(line string) (busy, irq time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected first line of /proc/stat: %q", line)
	}
	var b, q uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bad /proc/stat value %q", v)
		}
		switch {
		case i == 3 || i == 4 || i >= 8: // idle and iowait are not busy; guest is already in user
		case i == 5 || i == 6:
			b += n
			q += n
		default:
			b += n
		}
	}
	return time.Duration(b) * time.Second / clkTck, time.Duration(q) * time.Second / clkTck, nil
}

// selfCPU returns the CPU time of this test process (the web app and the driver).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a field of /proc/<pid>/status such as "VmHWM" or "Threads".
func procStatus(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// logCounter reads new log lines since the last call and counts WARN and ERROR lines.
type logCounter struct {
	path   string
	offset int64
}

// logSummary is what a step left in the server log.
type logSummary struct {
	Warn, Error int
	Samples     []string // first distinct messages, at most 5
}

var logMsg = regexp.MustCompile(`msg="([^"]*)"|msg=(\S+)`)

func (c *logCounter) next() logSummary {
	var s logSummary
	f, err := os.Open(c.path)
	if err != nil {
		return s
	}
	defer f.Close()
	if _, err := f.Seek(c.offset, io.SeekStart); err != nil {
		return s
	}
	seen := map[string]bool{}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a partial last line is read again next time
		}
		c.offset += int64(len(line))
		var lvl string
		switch {
		case strings.Contains(line, "level=ERROR"):
			s.Error++
			lvl = "ERROR"
		case strings.Contains(line, "level=WARN"):
			s.Warn++
			lvl = "WARN"
		default:
			continue
		}
		msg := strings.TrimSpace(line)
		if m := logMsg.FindStringSubmatch(line); m != nil {
			msg = m[1] + m[2]
		}
		if key := lvl + " " + msg; !seen[key] && len(s.Samples) < 5 {
			seen[key] = true
			s.Samples = append(s.Samples, key)
		}
	}
	return s
}

// waitCount waits until counter reaches want or d passes; it returns how long it waited.
func waitCount(ctx context.Context, counter *atomic.Int64, want int64, d time.Duration) time.Duration {
	start := time.Now()
	deadline := start.Add(d)
	for counter.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}
