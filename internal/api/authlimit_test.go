package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// doFrom sends one request from src with the given token.
func doFrom(fx *fixture, src, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://parley.test"+base+"/Conference/", nil)
	r.RemoteAddr = src
	r.Header.Set("X-Auth-ID", testAccount)
	r.Header.Set("X-Auth-Token", token)
	w := httptest.NewRecorder()
	fx.h.ServeHTTP(w, r)
	return w
}

func TestAuthFailuresLimitedPerSource(t *testing.T) {
	var logs bytes.Buffer
	fx := newFixture(t, func(o *Options) {
		o.AuthFailures = 3
		o.AuthFailureWindow = 30 * time.Second
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	attacker, other := "198.51.100.7:40000", "198.51.100.8:40000"
	for i := 0; i < 3; i++ {
		if w := doFrom(fx, attacker, fmt.Sprintf("guess-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, w.Code)
		}
		*fx.clock = fx.clock.Add(time.Second)
	}
	// Over the limit even the right token is refused: the answer must not tell guesses apart.
	w := doFrom(fx, attacker, testToken)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "27" {
		t.Fatalf("4th request: %d Retry-After %q, want 429 with 27 s left of the window (it began 3 s ago)", w.Code, w.Header().Get("Retry-After"))
	}
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Error("429 carries a WWW-Authenticate challenge")
	}
	// One log line, the one docs/security.md's fail2ban filter reads.
	doFrom(fx, attacker, "guess-again")
	if n := strings.Count(logs.String(), "parley rest auth limit"); n != 1 {
		t.Fatalf("%d limit lines, want 1:\n%s", n, logs.String())
	}
	if !regexp.MustCompile(`level=WARN msg="parley rest auth limit" source=198\.51\.100\.7 failures=3 duration=30s`).MatchString(logs.String()) {
		t.Errorf("limit line: %s", logs.String())
	}
	// The same address over IPv6-mapped form is the same source.
	if w := doFrom(fx, "[::ffff:198.51.100.7]:1", testToken); w.Code != http.StatusTooManyRequests {
		t.Errorf("IPv4-mapped form of the source: %d, want 429", w.Code)
	}
	if w := doFrom(fx, other, testToken); w.Code != http.StatusOK {
		t.Fatalf("another source: %d, want 200", w.Code)
	}
	// Successes do not count: many of them from the other source never reach the limit.
	for i := 0; i < 10; i++ {
		doFrom(fx, other, testToken)
	}
	if w := doFrom(fx, other, testToken); w.Code != http.StatusOK {
		t.Fatalf("other source after successes: %d", w.Code)
	}
	*fx.clock = fx.clock.Add(27 * time.Second)
	if w := doFrom(fx, attacker, testToken); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d, want 200", w.Code)
	}
	// A new window counts from one again.
	doFrom(fx, attacker, "guess")
	if w := doFrom(fx, attacker, testToken); w.Code != http.StatusOK {
		t.Fatalf("one failure into a new window: %d, want 200", w.Code)
	}
}

func TestAuthFailureLimitOffAndDefault(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.AuthFailures = -1 })
	for i := 0; i < 50; i++ {
		doFrom(fx, "198.51.100.9:1", "guess")
	}
	if w := doFrom(fx, "198.51.100.9:1", testToken); w.Code != http.StatusOK {
		t.Fatalf("limit off: %d, want 200", w.Code)
	}
	fx = newFixture(t, nil)
	for i := 0; i < DefaultAuthFailures; i++ {
		doFrom(fx, "198.51.100.9:1", "guess")
	}
	if w := doFrom(fx, "198.51.100.9:1", testToken); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("default limit: %d Retry-After %q, want 429 and 60", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestAuthLimitedGolden pins the 429 body of both profiles (the house error format).
func TestAuthLimitedGolden(t *testing.T) {
	c := goldenCase{name: "err_auth_limited", method: "GET", path: base + "/Conference/"}
	for _, profile := range []Profile{ProfileClassic, ProfileCurrent} {
		t.Run(string(profile), func(t *testing.T) {
			fx := newFixture(t, func(o *Options) { o.Profile = profile; o.AuthFailures = 1 })
			fx.do(t, req{method: "GET", path: c.path, header: http.Header{"X-Auth-Token": {"wrong"}}})
			w := fx.do(t, req{method: c.method, path: c.path})
			decode(t, w)
			got := render(c, w.Code, w.Header(), w.Body.Bytes())
			file := filepath.Join("testdata", "golden", string(profile), c.name+".golden")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n got: %s\nwant: %s", file, got, want)
			}
		})
	}
}
