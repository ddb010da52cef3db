package sip

import (
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/call"
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
	n := newNonceMaker()
	now := time.Now()
	pw := func(u string) (string, bool) {
		if u == "alice" {
			return "secret", true
		}
		return "", false
	}
	answer := func(issued time.Time, user, password, realm string) digestParams {
		chal := n.challenge(realm, false, issued)
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
	for _, tc := range []struct {
		name string
		p    digestParams
		want authResult
	}{
		{"right", answer(now, "alice", "secret", "r"), authOK},
		{"wrong password", answer(now, "alice", "nope", "r"), authWrong},
		{"unknown user", answer(now, "bob", "secret", "r"), authWrong},
		{"other realm", answer(now, "alice", "secret", "other"), authMissing},
		{"stale nonce", answer(now.Add(-nonceTTL-time.Minute), "alice", "secret", "r"), authStale},
		{"forged nonce", func() digestParams {
			p := answer(now, "alice", "secret", "r")
			p["nonce"] = newNonceMaker().make(now)
			return p
		}(), authMissing},
		{"empty", digestParams{}, authMissing},
	} {
		if _, got := n.verifyDigest(tc.p, "INVITE", "r", now, pw); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
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
		n := newNonceMaker()
		_, _ = n.verifyDigest(p, "INVITE", "r", time.Now(), func(string) (string, bool) { return "pw", true })
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
