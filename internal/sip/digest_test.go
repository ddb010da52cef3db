package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/sipguard"
)

func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want digestParams
		ok   bool
	}{
		{`Digest username="alice", realm="r", nonce="n1", uri="sip:x@y", response="abc", qop=auth, nc=00000001, cnonce="c"`,
			digestParams{"username": "alice", "realm": "r", "nonce": "n1", "uri": "sip:x@y", "response": "abc", "qop": "auth", "nc": "00000001", "cnonce": "c"}, true},
		{`digest Realm="a,b", NONCE=xyz,qop="auth,auth-int"`, digestParams{"realm": "a,b", "nonce": "xyz", "qop": "auth,auth-int"}, true},
		{`Digest username="a\"b"`, digestParams{"username": `a"b`}, true},
		{`Basic dXNlcjpwYXNz`, nil, false},
		{`Digest username="unterminated`, nil, false},
		{`Digest =x`, nil, false},
		{``, nil, false},
	} {
		got, err := parseDigest(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v", tc.in, err)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

// TestDigestRFC2617Example checks the response of RFC 2617 §3.5.
func TestDigestRFC2617Example(t *testing.T) {
	got := digestResponse("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
		"dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b")
	if got != "6629fae49393a05397450978507c4ef1" {
		t.Errorf("response %s", got)
	}
}

func TestVerifyDigest(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("203.0.113.7")
	pw := func(u string) (string, bool) {
		if u == "alice" {
			return "secret", true
		}
		return "", false
	}
	newGuard := func() *sipguard.Guard {
		return sipguard.New(sipguard.Config{Logger: testLogger(), BackoffAfter: 100, BanAfter: 100})
	}
	answerWith := func(g *sipguard.Guard, issued time.Time, user, password, realm string) digestParams {
		chal := challengeValue(realm, g.Nonces().Issue(issued), false)
		v, err := answerChallenge(chal, "INVITE", "sip:1000@example.com", user, password, 1)
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseDigest(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	check := func(g *sipguard.Guard) digestCheck {
		return digestCheck{method: "INVITE", realm: "r", src: src, now: now, guard: g, password: pw}
	}
	g := newGuard()
	for _, tc := range []struct {
		name string
		p    digestParams
		want authResult
	}{
		{"right", answerWith(g, now, "alice", "secret", "r"), authOK},
		{"wrong password", answerWith(g, now, "alice", "nope", "r"), authWrong},
		{"unknown user", answerWith(g, now, "bob", "secret", "r"), authWrong},
		{"other realm", answerWith(g, now, "alice", "secret", "other"), authMissing},
		{"stale nonce", answerWith(g, now.Add(-6*time.Minute), "alice", "secret", "r"), authStale},
		{"forged nonce", answerWith(newGuard(), now, "alice", "secret", "r"), authMissing},
		{"empty", digestParams{}, authMissing},
	} {
		if _, got := verifyDigest(tc.p, check(g)); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if st := g.Stats(); st.AuthFailures != 2 {
		t.Errorf("auth failures counted %d, want 2 (wrong password, unknown user)", st.AuthFailures)
	}

	// The same credentials twice: the second is a replay, answered as stale and counted.
	g = newGuard()
	p := answerWith(g, now, "alice", "secret", "r")
	if _, got := verifyDigest(p, check(g)); got != authOK {
		t.Fatalf("first use: %v", got)
	}
	if _, got := verifyDigest(p, check(g)); got != authStale {
		t.Errorf("replayed credentials: got %v, want stale", got)
	}
	if st := g.Stats(); st.NonceReplays != 1 || st.AuthFailures != 1 {
		t.Errorf("replay not counted: %+v", st)
	}

	// A locked-out username is not even checked.
	g = sipguard.New(sipguard.Config{Logger: testLogger(), UserBanAfter: 2, BanAfter: 100, BackoffAfter: 100})
	for i := 0; i < 2; i++ {
		verifyDigest(answerWith(g, now, "alice", "nope", "r"), check(g))
	}
	if _, got := verifyDigest(answerWith(g, now, "alice", "secret", "r"), check(g)); got != authIgnored {
		t.Errorf("banned username: got %v, want ignored", got)
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="alice", realm="r", nonce="n", uri="sip:a@b", response="x", qop=auth, nc=1, cnonce="c"`)
	f.Add(`Digest realm="a\\\"b",,,nonce=`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseDigest(s)
		if err == nil && p == nil {
			t.Fatal("nil params without error")
		}
		g := sipguard.New(sipguard.Config{Logger: testLogger()})
		_, _ = verifyDigest(p, digestCheck{method: "INVITE", realm: "r", src: netip.MustParseAddr("192.0.2.1"),
			now: time.Now(), guard: g, password: func(string) (string, bool) { return "pw", true }})
		_, _ = answerChallenge(s, "INVITE", "sip:x@y", "u", "p", 1)
	})
}

func TestCauseForSIPStatus(t *testing.T) {
	for status, want := range map[int]int{486: 3010, 600: 3010, 603: 3020, 480: 3000, 408: 3000, 403: 3040,
		404: 3050, 484: 3050, 500: 3080, 503: 3090, 488: 5000} {
		if got := call.CauseForSIPStatus(status).Code; got != want {
			t.Errorf("%d -> %d, want %d", status, got, want)
		}
	}
}
