//go:build load

package load

import (
	"strings"
	"testing"
	"time"
)

func TestParseOutUASLog(t *testing.T) {
	in := `INVITE 1795740191.000000 45158.000000 1-3698@127.0.0.1 To: <sip:14150000001@127.0.0.1:25070>
ACK 1795740191.000000 46361.000000 1-3698@127.0.0.1 To: <sip:14150000001@127.0.0.1:25070>;tag=1SIPpTag011
INVITE 1795740192.000000 999999.000000 2-3698@127.0.0.1 To: service <sip:service@127.0.0.1:25070>

`
	got, err := parseOutUASLog(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d calls, want 2: %v", len(got), got)
	}
	a := got["1-3698@127.0.0.1"]
	if a.ToUser != "14150000001" || a.Invite != time.Unix(1795740191, 45158000) || a.Ack.Sub(a.Invite) != 1203*time.Microsecond {
		t.Errorf("call 1: %+v", a)
	}
	b := got["2-3698@127.0.0.1"]
	if b.ToUser != "service" || !b.Ack.IsZero() || b.Invite.Nanosecond() != 999999000 {
		t.Errorf("call 2 (no ACK): %+v", b)
	}
	for _, bad := range []string{
		"INVITE 1 2\n",
		"BYE 1 2 x\n",
		"ACK x 2 id\n",
		"ACK 1 1000000 id\n",
		"ACK 1 -1 id\n",
		"INVITE NaN 1 id\n",
	} {
		if _, err := parseOutUASLog(strings.NewReader(bad)); err == nil {
			t.Errorf("parseOutUASLog(%q) gave no error", bad)
		}
	}
}

func TestJudgeDial(t *testing.T) {
	t0 := time.Unix(1795740000, 0)
	good := outCall{
		AnswerReq: t0.Add(-time.Millisecond), AnswerResp: t0, Number: "14150000001",
		Hangups: 1, Cause: dialOKACause, Source: dialOKASource, Connected: t0.Add(5 * time.Millisecond),
		DialEvents: map[string]int{"DialAnswer": 1, "DialConnected": 1, "DialHangup": 1}, BCause: dialOKBCause,
	}
	gw := outUASTimes{Invite: t0.Add(time.Millisecond), Ack: t0.Add(3 * time.Millisecond), ToUser: "14150000001"}
	o := judgeDial(good, gw, true)
	if !o.OK || o.ToB != 1 || o.ToAck != 3 || o.ToConn != 5 || o.Fetch != 1 {
		t.Errorf("good dial: %+v", o)
	}

	with := func(f func(*outCall)) outCall {
		c := good
		c.DialEvents = map[string]int{"DialAnswer": 1, "DialConnected": 1, "DialHangup": 1}
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		c     outCall
		gw    outUASTimes
		haveB bool
		why   string
	}{
		{"never fetched", outCall{}, gw, true, "no answer_url fetch"},
		{"no B leg", good, outUASTimes{}, false, "no B INVITE at the gateway"},
		{"no ACK", good, outUASTimes{Invite: gw.Invite}, true, "no ACK of the B leg's 200"},
		{"no connected", with(func(c *outCall) { c.Connected = time.Time{} }), gw, true, "no DialConnected callback"},
		{"two hangup events", with(func(c *outCall) { c.DialEvents["DialHangup"] = 2 }), gw, true, "2 DialHangup callbacks"},
		{"B cause", with(func(c *outCall) { c.BCause = "Normal Hangup" }), gw, true, `B leg cause "Normal Hangup"`},
		{"A cause", with(func(c *outCall) { c.Source = "Caller" }), gw, true, `A leg cause "End Of XML Instructions / Caller"`},
		{"no A hangup", with(func(c *outCall) { c.Hangups = 0 }), gw, true, "no hangup webhook"},
		{"dup A hangup", with(func(c *outCall) { c.Hangups = 2 }), gw, true, "2 hangup webhooks"},
	}
	for _, tc := range tests {
		o := judgeDial(tc.c, tc.gw, tc.haveB)
		if o.OK || o.Why != tc.why {
			t.Errorf("%s: OK=%v why %q, want %q", tc.name, o.OK, o.Why, tc.why)
		}
	}
}

func TestOutStepPassed(t *testing.T) {
	base := outStep{Rate: 100, Calls: 1000, FailPct: 0, Achieved: 99, HookLag: time.Second}
	tests := []struct {
		name string
		edit func(*outStep)
		want bool
	}{
		{"clean", func(*outStep) {}, true},
		{"1% failed", func(s *outStep) { s.FailPct = 1 }, true},
		{"1.1% failed", func(s *outStep) { s.FailPct = 1.1 }, false},
		{"slow", func(s *outStep) { s.Achieved = 94 }, false},
		{"hooks late", func(s *outStep) { s.HookLag = 6 * time.Second }, false},
	}
	for _, tc := range tests {
		s := base
		tc.edit(&s)
		if got := s.passed(); got != tc.want {
			t.Errorf("%s: passed() = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := outPct(nil); got != "- / -" {
		t.Errorf("outPct(nil) = %q", got)
	}
	if got := outCounts(map[string]int{"b": 1, "": 2}); got != "(none)×2, b×1" {
		t.Errorf("outCounts = %q", got)
	}
}

func TestParseUDPDrops(t *testing.T) {
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 4119: 0100007F:B346 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 76165 2 00000000590c8cd2 17
 7520: 0100007F:808F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 69850 2 00000000f8ee36b5 0
 7521: 00000000:B346 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 69851 2 00000000f8ee36b6 99
`
	for _, tc := range []struct {
		port int
		want int64
	}{{0xB346, 17}, {0x808F, 0}, {5060, -1}} {
		if got := parseUDPDrops(table, tc.port); got != tc.want {
			t.Errorf("parseUDPDrops(port %d) = %d, want %d", tc.port, got, tc.want)
		}
	}
	if outPort("127.0.0.1:5070") != 5070 || outPort("nonsense") != 0 {
		t.Error("outPort")
	}
}
