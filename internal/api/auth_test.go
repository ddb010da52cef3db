package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func basic(id, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+token))
}

func TestAuthentication(t *testing.T) {
	path := base + "/Conference/"
	tests := []struct {
		name   string
		header http.Header
		path   string
		status int
		text   string
	}{
		{"x-auth headers", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {testToken}}, path, 200, ""},
		{"basic", http.Header{"Authorization": {basic("MA_X", testToken)}}, path, 200, ""},
		{"basic lower-case scheme", http.Header{"Authorization": {"basic " + base64.StdEncoding.EncodeToString([]byte("MA_X:"+testToken))}}, path, 200, ""},
		{"x-auth wins over bad bearer", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {testToken}, "Authorization": {"Bearer junk"}}, path, 200, ""},
		{"x-auth wins over good basic", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {"wrong"}, "Authorization": {basic("MA_X", testToken)}}, path, 401, "authentication failed"},
		{"x-auth id only, good basic ignored", http.Header{"X-Auth-Id": {"MA_X"}, "Authorization": {basic("MA_X", testToken)}}, path, 401, "authentication failed"},
		{"x-auth token only", http.Header{"X-Auth-Token": {testToken}}, path, 401, "authentication failed"},
		{"no credentials", nil, path, 401, "authentication failed"},
		{"bearer alone", http.Header{"Authorization": {"Bearer " + testToken}}, path, 401, "authentication failed"},
		{"malformed basic", http.Header{"Authorization": {"Basic !!!"}}, path, 401, "authentication failed"},
		{"basic without colon", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("MA_X"))}}, path, 401, "authentication failed"},
		{"wrong token", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {"secret-tokeN"}}, path, 401, "authentication failed"},
		{"token prefix", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {"secret"}}, path, 401, "authentication failed"},
		{"empty token", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {""}}, path, 401, "authentication failed"},
		{"unknown account", http.Header{"X-Auth-Id": {"MA_NOPE"}, "X-Auth-Token": {testToken}}, path, 401, "authentication failed"},
		{"id case matters", http.Header{"X-Auth-Id": {"ma_x"}, "X-Auth-Token": {testToken}}, path, 401, "authentication failed"},
		{"other account's token", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {"other-token"}}, path, 401, "authentication failed"},
		{"path auth_id differs", http.Header{"X-Auth-Id": {"MA_OTHER"}, "X-Auth-Token": {"other-token"}}, path, 401, "auth_id does not match credentials"},
		{"path auth_id case differs", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {testToken}}, "/api/v1/Account/ma_x/Conference/", 401, "auth_id does not match credentials"},
		{"bad credentials and other path", http.Header{"X-Auth-Id": {"MA_X"}, "X-Auth-Token": {"bad"}}, "/api/v1/Account/MA_OTHER/Conference/", 401, "authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "GET", path: tt.path, header: tt.header, noAuth: true})
			if w.Code != tt.status {
				t.Fatalf("status %d want %d: %s", w.Code, tt.status, w.Body)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			if tt.status == 401 {
				if got := errorText(t, w); got != tt.text {
					t.Errorf("error %q want %q", got, tt.text)
				}
				if challenge != `Basic realm="parley"` {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
				if c := fx.conf.lastCall(); c.Op != "" {
					t.Errorf("domain called without auth: %+v", c)
				}
			} else if challenge != "" {
				t.Errorf("WWW-Authenticate on success")
			}
		})
	}
}

// countingAccounts records the looked-up ids, to show that the comparison of an unknown account
// still happens and that the stored token is never compared byte by byte.
type countingAccounts struct {
	fakeAccounts
	lookups []string
}

func (c *countingAccounts) Lookup(id string) (string, bool) {
	c.lookups = append(c.lookups, id)
	return c.fakeAccounts.Lookup(id)
}

func TestAuthNoAccountsConfigured(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Accounts = nil })
	if w := fx.do(t, req{method: "GET", path: base + "/Conference/"}); w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
}

// TestConstantTimeCompare checks that the comparison does not depend on how much of the token
// matches: a token sharing a long prefix with the real one takes no longer (on average) than
// one differing at the first byte. Timing tests are noisy, so the bound is generous and the
// test only catches a gross leak such as early-exit comparison of long tokens.
func TestConstantTimeCompare(t *testing.T) {
	long := strings.Repeat("k", 1<<16)
	acc := &countingAccounts{fakeAccounts: fakeAccounts{"MA_X": long}}
	s := &server{opts: Options{Accounts: acc}}
	measure := func(token string) time.Duration {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("X-Auth-ID", "MA_X")
		r.Header.Set("X-Auth-Token", token)
		best := time.Duration(1 << 62)
		for range 30 {
			start := time.Now()
			if _, ok := s.authenticate(r); ok {
				t.Fatal("wrong token accepted")
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	early := measure("x" + long[1:])
	late := measure(long[:len(long)-1] + "x")
	if late > 3*early+50*time.Microsecond {
		t.Errorf("late mismatch %v vs early mismatch %v: comparison leaks the matching prefix", late, early)
	}
	// Unknown accounts go through the same digest comparison.
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-Auth-ID", "MA_NOPE")
	r.Header.Set("X-Auth-Token", "\x00parley-unknown-account")
	if _, ok := s.authenticate(r); ok {
		t.Fatal("unknown account accepted with the dummy token")
	}
}
