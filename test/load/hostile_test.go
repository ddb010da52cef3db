//go:build load

package load

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// rssKB reads the resident set of pid in kB (0 when unknown).
func rssKB(pid int) int {
	v, _ := strconv.Atoi(strings.TrimSuffix(procStatus(pid, "VmRSS"), " kB"))
	return v
}

// TestHostileFlood measures Parley under an untrusted INVITE flood (PARLEY_LOAD_FLOOD_RATE
// INVITE/s, default 3000, for PARLEY_LOAD_SECONDS, default 20, from 127.0.0.6): its peak RSS,
// the set-up time of legit calls from the trusted gateway meanwhile (PARLEY_LOAD_LEGIT_RATE
// calls/s, default 10), and what the flooder gets back; then the answered brute-force rate once
// a REGISTER guesser on 127.0.0.7 is banned. Results go in docs/BENCHMARKS.md.
func TestHostileFlood(t *testing.T) {
	rate, _ := strconv.Atoi(env("PARLEY_LOAD_FLOOD_RATE", "3000"))
	secs, _ := strconv.Atoi(env("PARLEY_LOAD_SECONDS", "20"))
	legitRate, _ := strconv.Atoi(env("PARLEY_LOAD_LEGIT_RATE", "10"))
	w := kit.NewApp(t, kit.WithoutRecording())
	w.XML("/answer", `<Response><Conference>Bench</Conference></Response>`)
	w.OK("/hangup")
	p := startServer(t, w, workDir(t, "hostile"), "33000-33999", map[string]string{
		"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32", "PARLEY_SIP_AUTH_BACKOFF_AFTER": "3", "PARLEY_SIP_BAN_AFTER": "5"})
	time.Sleep(500 * time.Millisecond)
	rssStart := rssKB(p.PID())

	flooder := kit.NewRawUA(t, "127.0.0.6", p)
	stop := make(chan struct{})
	got := kit.CountIncoming(flooder.Conn, stop)
	var wg sync.WaitGroup
	peak := rssStart
	wg.Add(2)
	sent := 0
	go func() { defer wg.Done(); sent = flooder.Flood("14155550199", rate, time.Duration(secs)*time.Second) }()
	samplerDone := make(chan struct{})
	go func() {
		defer wg.Done()
		for tick := time.NewTicker(250 * time.Millisecond); ; {
			select {
			case <-samplerDone:
				tick.Stop()
				return
			case <-tick.C:
				peak = max(peak, rssKB(p.PID()))
			}
		}
	}()
	var setups []time.Duration
	failed := 0
	gap := time.Second / time.Duration(max(legitRate, 1))
	for start := time.Now(); time.Since(start) < time.Duration(secs)*time.Second; {
		next := time.Now().Add(gap)
		t0 := time.Now()
		cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
		select {
		case <-cl.Answered():
			setups = append(setups, time.Since(t0))
			go cl.Hangup(kit.Context(t, 5*time.Second))
		case <-time.After(5 * time.Second):
			failed++
		}
		time.Sleep(time.Until(next))
	}
	close(samplerDone)
	wg.Wait()
	time.Sleep(time.Second)
	close(stop)
	sort.Slice(setups, func(i, j int) bool { return setups[i] < setups[j] })
	pct := func(q float64) time.Duration {
		if len(setups) == 0 {
			return 0
		}
		return setups[min(len(setups)-1, int(q*float64(len(setups))))]
	}

	// Brute force: guess until banned, then keep guessing for 10 s.
	uri := "sip:" + p.SIP
	guesser := kit.NewRawUA(t, "127.0.0.7", p)
	banned := time.Time{}
	answeredAfter, triesAfter := 0, 0
	for start := time.Now(); time.Since(start) < 30*time.Second; {
		if !banned.IsZero() && time.Since(banned) > 10*time.Second {
			break
		}
		if banned.IsZero() && strings.Contains(p.Tail(1<<16), `msg="parley sip ban" source=127.0.0.7`) {
			banned = time.Now()
		}
		chal := guesser.Register("nobody", "", 100*time.Millisecond)
		answered := kit.Status(chal) == "401"
		if answered {
			answered = kit.Status(guesser.Register("nobody", kit.DigestFor(chal, "REGISTER", uri, "nobody", "guess", 1), 100*time.Millisecond)) != "none"
		}
		if !banned.IsZero() {
			triesAfter++
			if answered {
				answeredAfter++
			}
		}
	}
	report := fmt.Sprintf(`hostile flood: %d INVITE/s for %d s from one untrusted source (%d sent), legit calls %d/s from the trusted gateway
  parley RSS: %d MB at start, %d MB peak
  flooder got %d responses (%.2f%% of its INVITEs)
  legit calls: %d answered, %d failed; set-up p50 %v, p99 %v, max %v
  brute force after the ban: %d guesses in 10 s, %d answered (%.1f/s)
  load average after: %s`,
		rate, secs, sent, legitRate, rssStart/1024, peak/1024, got.Load(), 100*float64(got.Load())/float64(max(sent, 1)),
		len(setups), failed, pct(0.5).Round(time.Microsecond*100), pct(0.99).Round(time.Microsecond*100), pct(1).Round(time.Microsecond*100),
		triesAfter, answeredAfter, float64(answeredAfter)/10, loadAvg())
	t.Log("\n" + report)
	if banned.IsZero() {
		t.Error("the guesser was never banned")
	}
}
