//go:build load

package load

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	f, err := os.Open("testdata/sipp_stat.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := parseStat(f)
	if err != nil {
		t.Fatal(err)
	}
	// The last row counts: 30 calls made and successful, the first (all zero) row is ignored.
	if s.Created != 30 || s.Successful != 30 || s.Failed != 0 || s.Retransmissions != 0 {
		t.Errorf("got %+v, want 30 created, 30 successful, 0 failed, 0 retransmissions", s)
	}
	if s.Elapsed != 2*time.Second || math.Abs(s.CallRate-13.3511) > 1e-9 {
		t.Errorf("elapsed %v rate %v, want 2s and 13.3511", s.Elapsed, s.CallRate)
	}

	for _, bad := range []string{
		"",
		"TotalCallCreated;SuccessfulCall(C)\n",
		"TotalCallCreated;SuccessfulCall(C)\n3;x\n",
	} {
		if _, err := parseStat(strings.NewReader(bad)); err == nil {
			t.Errorf("parseStat(%q) gave no error", bad)
		}
	}
}

func TestParseRTT(t *testing.T) {
	tests := []struct {
		in      string
		wantAt  []float64
		wantMs  []float64
		wantErr bool
	}{
		{in: "Date_ms;response_time_ms;rtd_no\n36.001;0;1\n72.001;4;1\n", wantAt: []float64{36.001, 72.001}, wantMs: []float64{0, 4}},
		{in: "Date_ms;response_time_ms;rtd_no\n", wantAt: nil, wantMs: nil},
		{in: "Date_ms;response_time_ms;rtd_no\n36.001\n", wantErr: true},
		{in: "Date_ms;response_time_ms;rtd_no\nx;1;1\n", wantErr: true},
		{in: "Date_ms;response_time_ms;rtd_no\nNaN;1;1\n", wantErr: true},
	}
	for _, tc := range tests {
		at, ms, err := parseRTT(strings.NewReader(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseRTT(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (!equal(at, tc.wantAt) || !equal(ms, tc.wantMs)) {
			t.Errorf("parseRTT(%q) = %v %v, want %v %v", tc.in, at, ms, tc.wantAt, tc.wantMs)
		}
	}
	f, err := os.Open("testdata/sipp_rtt.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if at, _, err := parseRTT(f); err != nil || len(at) != 5 {
		t.Errorf("testdata/sipp_rtt.csv: %d rows, %v; want 5 rows", len(at), err)
	}
}

func TestParseSIPpDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00:02", 2 * time.Second, true},
		{"01:02:03:004000", time.Hour + 2*time.Minute + 3*time.Second + 4*time.Millisecond, true},
		{"00:00", 0, false},
		{"aa:00:00", 0, false},
		{"00:00:-1", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSIPpDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSIPpDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		// A command name with a space and a parenthesis; utime 150, stime 50 ticks.
		{"1234 (par ley) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 9 0 100 0 0", 2 * time.Second, true},
		{"1234 (parley) S 1 2", 0, false},
		{"1234 parley S", 0, false},
		{"1234 (parley) S 1 1234 1234 0 -1 4194560 100 0 0 0 x 50 0", 0, false},
	}
	for _, tc := range tests {
		got, err := parseProcStat(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseProcStat(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU of this process: %v", err)
	}
}

func TestPercentileAndRate(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {0, 1}, {10, 1}, {11, 2}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
	// 11 answers evenly over 2 s: 5 per second.
	at := []float64{0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000}
	if got := answeredRate(at); math.Abs(got-5) > 1e-9 {
		t.Errorf("answeredRate = %v, want 5", got)
	}
	if !math.IsNaN(answeredRate([]float64{1})) || !math.IsNaN(answeredRate([]float64{3, 3})) {
		t.Error("answeredRate needs two distinct times")
	}
	if _, err := parseRates("50, 100,x"); err == nil {
		t.Error("parseRates accepted x")
	}
	if r, err := parseRates("50,100 150"); err != nil || len(r) != 3 || r[2] != 150 {
		t.Errorf("parseRates = %v, %v", r, err)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseMachineStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, irq, err := parseMachineStat("cpu  100 10 50 1000 30 5 20 1 7 0")
	if err != nil {
		t.Fatal(err)
	}
	if busy != 1860*time.Millisecond || irq != 250*time.Millisecond {
		t.Errorf("busy %v irq %v, want 1.86s and 250ms", busy, irq)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, _, err := parseMachineStat(bad); err == nil {
			t.Errorf("parseMachineStat(%q) gave no error", bad)
		}
	}
}
