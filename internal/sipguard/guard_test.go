package sipguard

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func newClock() *clock                   { return &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func addr(s string) netip.Addr           { return netip.MustParseAddr(s) }
func quietLogger() *slog.Logger          { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }
func bufLogger(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestAdmitTokenBuckets(t *testing.T) {
	clk := newClock()
	g := New(Config{
		Invite:   Limit{Rate: 1, Burst: 3},
		Register: Limit{Rate: 2, Burst: 1},
		Options:  Limit{Rate: -1},
		Trusted:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:   quietLogger(),
	})
	a, b := addr("192.0.2.1"), addr("192.0.2.2")
	steps := []struct {
		name    string
		advance time.Duration
		src     netip.Addr
		method  string
		want    Verdict
	}{
		{"burst 1", 0, a, "INVITE", Allow},
		{"burst 2", 0, a, "INVITE", Allow},
		{"burst 3", 0, a, "INVITE", Allow},
		{"over the burst", 0, a, "INVITE", Drop},
		{"another source has its own bucket", 0, b, "INVITE", Allow},
		{"REGISTER has its own bucket", 0, a, "REGISTER", Allow},
		{"REGISTER burst of 1", 0, a, "REGISTER", Drop},
		{"OPTIONS limit turned off", 0, a, "OPTIONS", Allow},
		{"OPTIONS limit turned off again", 0, a, "OPTIONS", Allow},
		{"methods without a limit pass", 0, a, "ACK", Allow},
		{"half a second refills half a token", 500 * time.Millisecond, a, "INVITE", Drop},
		{"a whole token after a second", 500 * time.Millisecond, a, "INVITE", Allow},
		{"and only one", 0, a, "INVITE", Drop},
		{"REGISTER refills at 2/s", 0, a, "REGISTER", Allow},
		{"trusted source is never limited", 0, addr("10.1.2.3"), "INVITE", Allow},
		{"IPv4-mapped trusted source", 0, addr("::ffff:10.1.2.3"), "INVITE", Allow},
	}
	for i := 0; i < 10; i++ {
		steps = append(steps, steps[len(steps)-1])
	}
	for _, s := range steps {
		clk.advance(s.advance)
		if got := g.Admit(s.src, s.method, "Linphone/5.2", clk.now()); got != s.want {
			t.Fatalf("%s: Admit(%s, %s) = %s, want %s", s.name, s.src, s.method, got, s.want)
		}
	}
	st := g.Stats()
	if st.DroppedRate != 4 {
		t.Errorf("DroppedRate = %d, want 4", st.DroppedRate)
	}
}

func TestAdmitMappedSourceSharesBucket(t *testing.T) {
	clk := newClock()
	g := New(Config{Invite: Limit{Rate: 1, Burst: 1}, Logger: quietLogger()})
	if g.Admit(addr("192.0.2.9"), "INVITE", "", clk.now()) != Allow {
		t.Fatal("first INVITE refused")
	}
	if got := g.Admit(addr("::ffff:192.0.2.9"), "INVITE", "", clk.now()); got != Drop {
		t.Fatalf("the IPv4-mapped form of the same source got %s, want drop", got)
	}
}

func TestScannerUserAgents(t *testing.T) {
	clk := newClock()
	g := New(Config{ScannerUserAgents: []string{"EvilDialer"}, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Logger: quietLogger()})
	for _, tc := range []struct {
		ua   string
		src  string
		want Verdict
	}{
		{"friendly-scanner", "192.0.2.1", Drop},
		{"Friendly-Scanner/1.0", "192.0.2.1", Drop},
		{"sipvicious", "192.0.2.1", Drop},
		{"SIPVicious 0.3.4", "192.0.2.1", Drop},
		{"sipcli/v1.8", "192.0.2.1", Drop},
		{"VaxSIPUserAgent/3.1", "192.0.2.1", Drop},
		{"PPLSIP", "192.0.2.1", Drop},
		{"evildialer 2", "192.0.2.1", Drop},
		{"Linphone/5.2.0 (belle-sip/5.2.0)", "192.0.2.1", Allow},
		{"Asterisk PBX 20.5.0", "192.0.2.1", Allow},
		{"", "192.0.2.1", Allow},
		{"friendly-scanner", "10.0.0.1", Allow}, // trusted networks are exempt from every rule
	} {
		if got := g.Admit(addr(tc.src), "OPTIONS", tc.ua, clk.now()); got != tc.want {
			t.Errorf("User-Agent %q from %s: %s, want %s", tc.ua, tc.src, got, tc.want)
		}
	}
	if st := g.Stats(); st.DroppedScanner != 8 {
		t.Errorf("DroppedScanner = %d, want 8", st.DroppedScanner)
	}
	g2 := New(Config{NoDefaultScanners: true, Logger: quietLogger()})
	if g2.IsScanner("friendly-scanner") {
		t.Error("NoDefaultScanners still drops the default list")
	}
}

func TestMemoryIsBoundedByConfiguration(t *testing.T) {
	clk := newClock()
	g := New(Config{MaxSources: 64, MaxUsers: 32, MaxNonces: 16, Logger: quietLogger()})
	for i := 0; i < 20000; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		g.Admit(src, "INVITE", "", clk.now())
		g.AuthFailed(src, fmt.Sprintf("user%d", i), clk.now())
		n := g.Nonces().Issue(clk.now())
		g.Nonces().Use(n, "00000001", clk.now())
	}
	st := g.Stats()
	if st.TrackedSources > 64 || st.TrackedUsers > 32 || st.TrackedNonces > 16 {
		t.Fatalf("tables grew past their caps: %+v", st)
	}
	if st.TrackedSources < 32 {
		t.Errorf("TrackedSources = %d: the table should fill up to near its cap", st.TrackedSources)
	}
	clk.advance(time.Hour)
	g.Sweep(clk.now())
	if st := g.Stats(); st.TrackedSources != 0 || st.TrackedUsers != 0 || st.TrackedNonces != 0 {
		t.Errorf("Sweep after an idle hour left %+v", st)
	}
}

func TestIdleSourceStartsAgain(t *testing.T) {
	clk := newClock()
	g := New(Config{Invite: Limit{Rate: 0.001, Burst: 1}, IdleExpiry: time.Minute, Logger: quietLogger()})
	a := addr("192.0.2.7")
	if g.Admit(a, "INVITE", "", clk.now()) != Allow || g.Admit(a, "INVITE", "", clk.now()) != Drop {
		t.Fatal("burst of one not enforced")
	}
	clk.advance(2 * time.Minute)
	if got := g.Admit(a, "INVITE", "", clk.now()); got != Allow {
		t.Fatalf("after the idle expiry: %s, want allow (a fresh bucket)", got)
	}
}

// banRegexp is the fail2ban failregex of docs/security.md, with <HOST> as fail2ban expands it
// (simplified to IPv4 and IPv6 literals).
const banRegexp = `level=WARN msg="parley (?:sip ban|rest auth limit)" source=<HOST>(?: |$)`

func hostRegexp(re string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(re, "<HOST>", `(?P<host>[0-9a-fA-F.:]+)`))
}

func TestAuthFailuresBackoffAndBan(t *testing.T) {
	clk := newClock()
	var logs bytes.Buffer
	g := New(Config{
		BackoffAfter: 3, BackoffBase: time.Second, BackoffMax: 4 * time.Second,
		BanAfter: 7, UserBanAfter: 100, BanDuration: 10 * time.Minute,
		Logger: bufLogger(&logs),
	})
	a, other := addr("203.0.113.5"), addr("203.0.113.6")
	fail := func() { g.AuthFailed(a, "alice", clk.now()) }
	admit := func(m string) Verdict { return g.Admit(a, m, "", clk.now()) }

	fail()
	fail()
	if v := admit("REGISTER"); v != Allow {
		t.Fatalf("after 2 failures: %s, want allow", v)
	}
	fail() // 3rd: back-off 1 s
	if v := admit("REGISTER"); v != Drop {
		t.Fatalf("after 3 failures: REGISTER %s, want drop (back-off)", v)
	}
	if v := admit("OPTIONS"); v != Allow {
		t.Fatalf("back-off applies to OPTIONS: %s", v)
	}
	if v := g.Admit(other, "REGISTER", "", clk.now()); v != Allow {
		t.Fatalf("another source in back-off: %s", v)
	}
	clk.advance(time.Second + time.Millisecond)
	if v := admit("INVITE"); v != Allow {
		t.Fatalf("after the 1 s back-off: %s, want allow", v)
	}
	// Each further failure doubles the back-off: 2 s, 4 s, then capped at 4 s.
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		fail()
		clk.advance(want - 10*time.Millisecond)
		if v := admit("INVITE"); v != Drop {
			t.Fatalf("failure %d: %s just before the %s back-off ends, want drop", 4+i, v, want)
		}
		clk.advance(20 * time.Millisecond)
		if v := admit("INVITE"); v != Allow {
			t.Fatalf("failure %d: %s after the %s back-off, want allow", 4+i, v, want)
		}
	}
	if strings.Contains(logs.String(), "parley sip ban") {
		t.Fatal("a ban was logged before the threshold")
	}
	fail() // 7th: ban
	for _, m := range []string{"INVITE", "REGISTER", "OPTIONS", "BYE"} {
		if v := admit(m); v != Banned {
			t.Fatalf("banned source, %s: %s", m, v)
		}
	}
	fail() // failures while banned are not logged again
	fail()
	if n := strings.Count(logs.String(), "parley sip ban"); n != 1 {
		t.Fatalf("%d ban lines, want 1:\n%s", n, logs.String())
	}
	line := strings.TrimSpace(logs.String())
	m := hostRegexp(banRegexp).FindStringSubmatch(line)
	if m == nil || m[1] != "203.0.113.5" {
		t.Fatalf("the fail2ban regexp does not find the source in %q", line)
	}
	for _, want := range []string{`user=alice`, `reason=source-failures`, `failures=7`, `duration=10m0s`} {
		if !strings.Contains(line, want) {
			t.Errorf("ban line %q lacks %s", line, want)
		}
	}
	if !g.Banned(a, clk.now()) || g.Banned(other, clk.now()) {
		t.Errorf("Banned: %v for the banned source, %v for another", g.Banned(a, clk.now()), g.Banned(other, clk.now()))
	}
	if bans := g.Bans(clk.now()); len(bans) != 1 || bans[0].Source != a {
		t.Errorf("Bans = %+v", bans)
	}
	clk.advance(10*time.Minute + time.Second)
	if v := admit("INVITE"); v != Allow || g.Banned(a, clk.now()) {
		t.Fatalf("after the ban: %s, want allow", v)
	}
	fail() // counting starts again: one failure is no back-off
	if v := admit("INVITE"); v != Allow {
		t.Fatalf("first failure after a ban: %s, want allow", v)
	}
	st := g.Stats()
	if st.Bans != 1 || st.AuthFailures != 10 || st.DroppedBanned != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestUserFailuresAcrossSources(t *testing.T) {
	clk := newClock()
	var logs bytes.Buffer
	g := New(Config{BackoffAfter: 2, BanAfter: 100, UserBanAfter: 4, BanDuration: time.Hour,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Logger: bufLogger(&logs)})
	for i := 0; i < 2; i++ {
		g.AuthFailed(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "bob", clk.now())
	}
	if v := g.CheckUser(addr("198.51.100.200"), "bob", "REGISTER", clk.now()); v != Drop {
		t.Fatalf("bob in back-off from a third source: %s, want drop", v)
	}
	if v := g.CheckUser(addr("198.51.100.200"), "carol", "REGISTER", clk.now()); v != Allow {
		t.Fatalf("another user: %s", v)
	}
	if v := g.CheckUser(addr("10.0.0.1"), "bob", "REGISTER", clk.now()); v != Allow {
		t.Fatalf("trusted source: %s", v)
	}
	for i := 2; i < 4; i++ {
		g.AuthFailed(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "bob", clk.now())
	}
	if v := g.CheckUser(addr("198.51.100.200"), "bob", "OPTIONS", clk.now()); v != Banned {
		t.Fatalf("bob after 4 failures: %s, want banned", v)
	}
	if !strings.Contains(logs.String(), `source=198.51.100.3 user=bob reason=user-failures failures=4`) {
		t.Errorf("user ban line: %s", logs.String())
	}
	// Each source failed once: none is in back-off.
	if v := g.Admit(addr("198.51.100.0"), "INVITE", "", clk.now()); v != Allow {
		t.Errorf("a source with one failure: %s", v)
	}
	// Failures from trusted sources are not counted.
	for i := 0; i < 10; i++ {
		g.AuthFailed(addr("10.0.0.1"), "carol", clk.now())
	}
	if v := g.CheckUser(addr("198.51.100.200"), "carol", "INVITE", clk.now()); v != Allow {
		t.Errorf("failures from a trusted source counted: %s", v)
	}
}

func TestAuthSucceededClearsBackoff(t *testing.T) {
	clk := newClock()
	g := New(Config{BackoffAfter: 2, Logger: quietLogger()})
	a := addr("192.0.2.50")
	g.AuthFailed(a, "dave", clk.now())
	g.AuthFailed(a, "dave", clk.now())
	if v := g.Admit(a, "REGISTER", "", clk.now()); v != Drop {
		t.Fatalf("in back-off: %s", v)
	}
	g.AuthSucceeded(a, "dave", clk.now())
	if v := g.Admit(a, "REGISTER", "", clk.now()); v != Allow {
		t.Fatalf("after success: %s, want allow", v)
	}
	if v := g.CheckUser(a, "dave", "REGISTER", clk.now()); v != Allow {
		t.Fatalf("user after success: %s, want allow", v)
	}
	g.AuthFailed(a, "dave", clk.now())
	if v := g.Admit(a, "REGISTER", "", clk.now()); v != Allow {
		t.Fatalf("the count started again at one: %s", v)
	}
}

func TestBanSurvivesAFloodOfNewSources(t *testing.T) {
	clk := newClock()
	g := New(Config{MaxSources: 64, BanAfter: 1, BanDuration: time.Hour, Logger: quietLogger()})
	banned := addr("203.0.113.99")
	g.AuthFailed(banned, "", clk.now())
	for i := 0; i < 5000; i++ {
		clk.advance(time.Millisecond)
		g.AuthFailed(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), "", clk.now())
	}
	// Every entry is banned here (BanAfter 1), so eviction had to drop bans: the bound on
	// memory comes first.
	if n := g.srcFails.size(); n > 64 {
		t.Fatalf("failure table holds %d sources, cap 64", n)
	}

	g2 := New(Config{MaxSources: 64, BanAfter: 3, BanDuration: time.Hour, Logger: quietLogger()})
	for i := 0; i < 3; i++ {
		g2.AuthFailed(banned, "", clk.now())
	}
	for i := 0; i < 5000; i++ {
		clk.advance(time.Millisecond)
		g2.AuthFailed(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), "", clk.now())
	}
	if v := g2.Admit(banned, "OPTIONS", "", clk.now()); v != Banned {
		t.Fatalf("a flood of single failures from new sources washed the ban out: %s", v)
	}
}

func TestDefaults(t *testing.T) {
	g := New(Config{Logger: quietLogger()})
	d := DefaultConfig()
	if g.cfg.Invite != d.Invite || g.cfg.BanAfter != d.BanAfter || g.cfg.NonceTTL != d.NonceTTL {
		t.Errorf("zero Config did not take the defaults: %+v", g.cfg)
	}
	g = New(Config{Invite: Limit{Rate: 2.5}, Logger: quietLogger()})
	if g.cfg.Invite.Burst != 3 {
		t.Errorf("burst of rate 2.5 = %d, want 3", g.cfg.Invite.Burst)
	}
}

func TestLongUserAgent(t *testing.T) {
	g := New(Config{Logger: quietLogger()})
	long := strings.Repeat("x", 300)
	if g.IsScanner(long) {
		t.Error("a long harmless User-Agent is a scanner")
	}
	if !g.IsScanner(long + "SIPVicious") {
		t.Error("a scanner name after 300 characters is missed")
	}
}

// TestConcurrentUse exercises every entry point from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	g := New(Config{MaxSources: 128, MaxUsers: 64, MaxNonces: 64, BanAfter: 5, Logger: quietLogger()})
	start := time.Now()
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				now := start.Add(time.Duration(i) * time.Millisecond)
				src := netip.AddrFrom4([4]byte{198, 18, byte(w), byte(i % 300)})
				g.Admit(src, "INVITE", "Linphone", now)
				g.AuthFailed(src, fmt.Sprintf("u%d", i%100), now)
				g.CheckUser(src, "u1", "REGISTER", now)
				n := g.Nonces().Issue(now)
				g.Nonces().Use(n, "00000001", now)
				if i%500 == 0 {
					g.Sweep(now)
					g.Bans(now)
					g.Stats()
				}
			}
		}(w)
	}
	for w := 0; w < 4; w++ {
		<-done
	}
	if st := g.Stats(); st.TrackedSources > 128 || st.TrackedUsers > 64 || st.TrackedNonces > 64 || st.Bans == 0 {
		t.Errorf("after concurrent use: %+v", st)
	}
}

// TestTrustedAlsoChangesAtRunTime: a source that TrustedAlso names is exempt from the limits
// for as long as it names it (a cluster node that joins and leaves).
func TestTrustedAlsoChangesAtRunTime(t *testing.T) {
	clk := newClock()
	peer := addr("192.0.2.7")
	trusted := true
	g := New(Config{Invite: Limit{Rate: 1, Burst: 1}, Logger: quietLogger(),
		TrustedAlso: func(src netip.Addr) bool { return trusted && src == peer }})
	for i := 0; i < 5; i++ {
		if v := g.Admit(peer, "INVITE", "", clk.now()); v != Allow {
			t.Fatalf("INVITE %d from a trusted peer: %v", i, v)
		}
	}
	if !g.Trusted(addr("::ffff:192.0.2.7")) || g.Trusted(addr("192.0.2.8")) {
		t.Fatal("Trusted does not follow TrustedAlso")
	}
	trusted = false
	if v1, v2 := g.Admit(peer, "INVITE", "", clk.now()), g.Admit(peer, "INVITE", "", clk.now()); v1 != Allow || v2 != Drop {
		t.Fatalf("a peer no longer trusted: %v then %v, want the burst of 1 then Drop", v1, v2)
	}
}
