package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunked hides the length of a body, so the limit is found while reading.
type chunked struct{ io.Reader }

func TestCheckOrder(t *testing.T) {
	big := `{"url":"` + strings.Repeat("a", 200) + `"}`
	mk := func(o *Options) { o.MaxBodyBytes = 100; o.RESTRate = 1; o.RESTBurst = 1 }
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		auth   bool
		hidden bool // send the body without Content-Length
		limit  bool // exhaust the rate limit first
		status int
		text   string
	}{
		{"404 route before 401", "POST", base + "/Nope/", big, false, false, true, 404, "route not found"},
		{"405 before 401", "GET", base + "/Conference/MyConf/Member/1/Play/", big, false, false, true, 405, "method not allowed"},
		{"401 before 429 and 413", "POST", base + "/Conference/MyConf/Member/1/Play/", big, false, true, true, 401, "authentication failed"},
		{"429 before 413", "POST", base + "/Conference/MyConf/Member/1/Play/", big, true, true, true, 429, "rate limit exceeded"},
		{"413 before 400", "POST", base + "/Conference/MyConf/Member/x/Play/", big, true, true, false, 413, "request body too large"},
		{"413 by Content-Length", "POST", base + "/Conference/MyConf/Member/x/Play/", big, true, false, false, 413, "request body too large"},
		{"400 malformed before member_id", "POST", base + "/Conference/Nope/Member/x/Play/", "{", true, false, false, 400, "malformed request body"},
		{"400 member_id before params", "POST", base + "/Conference/Nope/Member/x/Play/", "{}", true, false, false, 400, "invalid value for parameter: member_id"},
		{"400 params before 404 room", "POST", base + "/Conference/Nope/Member/1/Play/", "{}", true, false, false, 400, "missing required parameter: url"},
		{"404 room before 404 member", "POST", base + "/Conference/Nope/Member/99/Play/", `{"url":"http://a.test/x"}`, true, false, false, 404, "conference not found"},
		{"404 member", "POST", base + "/Conference/MyConf/Member/99/Play/", `{"url":"http://a.test/x"}`, true, false, false, 404, "member not found: 99"},
		{"409 after validation", "POST", base + "/Conference/MyConf/Record/", `{"time_limit":5}`, true, false, false, 409, "conference recording already in progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, mk)
			fx.conf.recording["MA_X/MyConf"] = true
			if tt.limit {
				fx.do(t, req{method: "GET", path: base + "/Conference/"})
			}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.hidden {
				body = chunked{body}
			}
			r := httptest.NewRequest(tt.method, "http://parley.test"+tt.path, body)
			if tt.auth {
				r.Header.Set("X-Auth-ID", testAccount)
				r.Header.Set("X-Auth-Token", testToken)
			}
			w := httptest.NewRecorder()
			fx.h.ServeHTTP(w, r)
			if w.Code != tt.status || errorText(t, w) != tt.text {
				t.Fatalf("got %d %s, want %d %q", w.Code, w.Body, tt.status, tt.text)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.RESTRate = 0.5; o.RESTBurst = 2 })
	get := func(acct, tok string) *httptest.ResponseRecorder {
		return fx.do(t, req{method: "GET", path: "/api/v1/Account/" + acct + "/Conference/", noAuth: true,
			header: http.Header{"X-Auth-Id": {acct}, "X-Auth-Token": {tok}}})
	}
	for i := range 2 {
		if w := get("MA_X", testToken); w.Code != 200 {
			t.Fatalf("request %d within burst: %d", i, w.Code)
		}
	}
	w := get("MA_X", testToken)
	if w.Code != 429 || errorText(t, w) != "rate limit exceeded" || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	// Another account has its own bucket.
	if w := get("MA_OTHER", "other-token"); w.Code != 200 {
		t.Fatalf("other account limited: %d", w.Code)
	}
	*fx.clock = fx.clock.Add(1500 * time.Millisecond)
	w = get("MA_X", testToken)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("after 1.5 s: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	*fx.clock = fx.clock.Add(2 * time.Second)
	if w := get("MA_X", testToken); w.Code != 200 {
		t.Fatalf("after refill: %d", w.Code)
	}
	off := newFixture(t, nil)
	for range 50 {
		if w := off.do(t, req{method: "GET", path: base + "/Conference/"}); w.Code != 200 {
			t.Fatal("rate limit applied while off")
		}
	}
}

func TestRetryAfterAtLeastOne(t *testing.T) {
	now := time.Unix(0, 0)
	l := newRateLimiter(1000, 1, func() time.Time { return now })
	l.allow("a")
	ok, wait := l.allow("a")
	if ok || wait != 1 {
		t.Fatalf("ok %v wait %d", ok, wait)
	}
}

func TestBodyLimitDefault(t *testing.T) {
	fx := newFixture(t, nil)
	body := `{"url":"http://a.test/x","pad":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	w := fx.do(t, req{method: "POST", path: base + "/Conference/MyConf/Member/10/Play/", body: body})
	if w.Code != 413 || errorText(t, w) != "request body too large" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	exact := `{"url":"http://a.test/x","pad":"` + strings.Repeat("a", DefaultMaxBodyBytes-len(`{"url":"http://a.test/x","pad":""}`)) + `"}`
	if len(exact) != DefaultMaxBodyBytes {
		t.Fatal("bad test body " + strconv.Itoa(len(exact)))
	}
	w = fx.do(t, req{method: "POST", path: base + "/Conference/MyConf/Member/10/Play/", body: exact})
	if w.Code != 200 {
		t.Fatalf("body at the limit: %d %s", w.Code, w.Body)
	}
}
