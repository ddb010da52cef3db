package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/api/v1/Account/MA_X/Conference/Room1/Member/10/Kick/", "/Account/MA_X/Conference/Room1/Member/10/Kick", true},
		{"/api/v1/account/MA_X/conference/Room1/member/10/kick/", "/Account/MA_X/Conference/Room1/Member/10/Kick", true},
		{"/API/V1/ACCOUNT/MA_X/CONFERENCE/Room1/MEMBER/10/KICK", "/Account/MA_X/Conference/Room1/Member/10/Kick", true},
		{"/api/v1/Account/MA_X/Conference/Room1/Member/10/Kick", "/Account/MA_X/Conference/Room1/Member/10/Kick", true},
		{"/v1/Account/MA_X/Conference/Room1/Member/10/Kick/", "/Account/MA_X/Conference/Room1/Member/10/Kick", true},
		{"/v1/Account/MA_X/Conference/", "/Account/MA_X/Conference", true},
		// Variable segments keep their case, are decoded once, and '/' and '%' survive routing.
		{"/api/v1/Account/ma_x/Conference/room1/", "/Account/ma_x/Conference/room1", true},
		{"/api/v1/Account/MA_X/Conference/a%2Fb/", "/Account/MA_X/Conference/a%2Fb", true},
		{"/api/v1/Account/MA_X/Conference/a+b/", "/Account/MA_X/Conference/a+b", true},
		{"/api/v1/Account/MA_X/Conference/a%20b/", "/Account/MA_X/Conference/a b", true},
		{"/api/v1/Account/MA_X/Conference/100%2525/", "/Account/MA_X/Conference/100%2525", true},
		{"/api/v1/Account/MA_X/Conference/member/Member/10/Mute", "/Account/MA_X/Conference/member/Member/10/Mute", true},
		{"/api/v1/Account/MA_X/Recording/abc.mp3", "/Account/MA_X/Recording/abc.mp3", true},
		{"/api/v1/Account/MA_X/%43onference/", "/Account/MA_X/Conference", true},
		{"/api/v1/Account/MA_X", "/Account/MA_X", true},
		// Paths that match nothing.
		{"/api/v1/Account/MA_X/Conference//", "", false},
		{"/api/v1/Account/MA_X//Conference/", "", false},
		{"//api/v1/Account/MA_X/Conference/", "", false},
		{"/api/v1/Account/MA_X/Conference/Room1//", "", false},
		{"/api/v2/Account/MA_X/Conference/", "", false},
		{"/api/Account/MA_X/Conference/", "", false},
		{"/Account/MA_X/Conference/", "", false},
		{"/api/v1/Account/", "", false},
		{"/api/v1/Account/MA_X/Conferences/", "", false},
		{"/api/v1/Account/MA_X/Account/x", "", false},
		{"/api/v1/Account/MA_X/Conference/%zz/", "", false},
		{"api/v1/Account/MA_X/Conference/", "", false},
		{"/", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizePath(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("normalizePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestPathForms checks every accepted form of §1.1 end to end, and that names reach the domain
// decoded exactly once.
func TestPathForms(t *testing.T) {
	tests := []struct {
		name, path string
		status     int
		room       string // name the fake was asked for
	}{
		{"canonical", "/api/v1/Account/MA_X/Conference/MyConf/Member/10/Kick/", 200, "MyConf"},
		{"lowercase", "/api/v1/account/MA_X/conference/MyConf/member/10/kick/", 200, "MyConf"},
		{"no trailing slash", "/api/v1/Account/MA_X/Conference/MyConf/Member/10/Kick", 200, "MyConf"},
		{"plivo prefix", "/v1/Account/MA_X/Conference/MyConf/Member/10/Kick/", 200, "MyConf"},
		{"plivo prefix lowercase no slash", "/v1/account/MA_X/conference/MyConf/member/10/kick", 200, "MyConf"},
		{"encoded slash plus space", "/api/v1/Account/MA_X/Conference/a%2Fb%20c+d/Member/30/Kick/", 200, "a/b c+d"},
		{"name case matters", "/api/v1/Account/MA_X/Conference/myconf/Member/10/Kick/", 404, "myconf"},
		{"double slash", "/api/v1/Account/MA_X/Conference/MyConf/Member//Kick/", 404, ""},
		{"trailing double slash", "/api/v1/Account/MA_X/Conference/MyConf/Member/10/Kick//", 404, ""},
		{"room-wide play", "/api/v1/Account/MA_X/Conference/MyConf/Play/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			w := fx.do(t, req{method: "POST", path: tt.path})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if w.Code/100 == 3 || w.Header().Get("Location") != "" {
				t.Fatal("redirected")
			}
			if got := fx.conf.lastCall().Name; got != tt.room {
				t.Errorf("room %q, want %q", got, tt.room)
			}
		})
	}
}

func TestRouteNotFoundAndMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v1/Account/MA_X/Nope/", 404, ""},
		{"GET", "/api/v1/Account/MA_X/", 404, ""},
		{"FOO", "/api/v1/Account/MA_X/Nope/", 404, ""},
		{"GET", "/api/v1/Account/MA_X/Conference/R/Member/", 404, ""},
		{"GET", "/api/v1/Account/MA_X/Recording/x/Export/", 404, ""},
		{"POST", "/api/v1/Account/MA_X/Call/abc/Export/", 404, ""},
		{"GET", "/api/v1/Account/MA_X/Call/abc/dtmf/", 405, "POST"},
		{"GET", "/api/v1/Account/MA_X/Request/", 404, ""},
		{"DELETE", "/api/v1/Account/MA_X/Call/", 405, "GET, POST"},
		{"PUT", "/api/v1/Account/MA_X/Call/abc/", 405, "GET, POST, DELETE"},
		{"GET", "/api/v1/Account/MA_X/Request/abc/", 405, "DELETE"},
		{"DELETE", "/api/v1/Account/MA_X/Application/", 405, "GET, POST"},
		{"PUT", "/v1/account/MA_X/application/1", 405, "GET, POST, DELETE"},
		{"DELETE", "/api/v1/Account/MA_X/Endpoint/", 405, "GET, POST"},
		{"PATCH", "/api/v1/Account/MA_X/Endpoint/1/", 405, "GET, POST, DELETE"},
		{"PUT", "/api/v1/Account/MA_X/Conference/", 405, "GET, DELETE"},
		{"POST", "/api/v1/Account/MA_X/Conference/", 405, "GET, DELETE"},
		{"POST", "/api/v1/Account/MA_X/Conference/R/", 405, "GET, DELETE"},
		{"GET", "/api/v1/Account/MA_X/Conference/R/Record/", 405, "POST, DELETE"},
		{"GET", "/api/v1/Account/MA_X/Conference/R/Member/1/", 405, "DELETE"},
		{"GET", "/api/v1/Account/MA_X/Conference/R/Member/1/Kick", 405, "POST"},
		{"DELETE", "/api/v1/Account/MA_X/Conference/R/Member/1/Kick", 405, "POST"},
		{"PATCH", "/v1/account/MA_X/conference/R/member/1/mute", 405, "POST, DELETE"},
		{"FOO", "/api/v1/Account/MA_X/Conference/", 405, "GET, DELETE"},
		{"POST", "/api/v1/Account/MA_X/Recording/", 405, "GET"},
		{"POST", "/api/v1/Account/MA_X/Recording/abc.mp3", 405, "GET, DELETE"},
	}
	for _, tt := range tests {
		fx := newFixture(t, nil)
		// No credentials: routing answers before authentication.
		w := fx.do(t, req{method: tt.method, path: tt.path, noAuth: true})
		want := map[int]string{404: "route not found", 405: "method not allowed"}[tt.status]
		if w.Code != tt.status || errorText(t, w) != want {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, w.Code, w.Body, tt.status, want)
		}
		if got := w.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

// FuzzNormalizePath checks that the normaliser never panics, that its output is canonical
// (normalising it again under either prefix gives the same result), and that it never yields an
// empty segment.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/api/v1/Account/MA_X/Conference/Room1/Member/10/Kick/",
		"/v1/account/MA_X/conference/a%2Fb/member/all/mute",
		"/api/v1/Account/MA_X/Conference//", "/api/v1/Account/MA_X/Recording/x.mp3",
		"/api/v1/Account/%zz", "/%", "/api/v1/Account/MA_X/Conference/%25%2F%2f/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		canon, ok := normalizePath(p)
		if !ok {
			return
		}
		if !strings.HasPrefix(canon, "/Account/") || strings.Contains(canon, "//") || strings.HasSuffix(canon, "/") {
			t.Fatalf("normalizePath(%q) = %q: not canonical", p, canon)
		}
		for _, prefix := range []string{"/api/v1", "/v1"} {
			again, ok2 := normalizePath(prefix + canon + "/")
			if !ok2 || again != canon {
				t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, canon, again, ok2)
			}
		}
		// Every variable segment round-trips through the router escaping.
		for _, seg := range strings.Split(canon, "/")[1:] {
			if varEscaper.Replace(varUnescaper.Replace(seg)) != seg {
				t.Fatalf("segment %q does not round-trip", seg)
			}
		}
	})
}

// FuzzServePath sends arbitrary paths and methods through the whole handler without
// credentials: it must never panic and can only answer 404, 405 or 401.
func FuzzServePath(f *testing.F) {
	f.Add("GET", "/api/v1/Account/MA_X/Conference/a%2Fb/Member/1,2/Kick/")
	f.Add("PUT", "/v1/account/MA_X/recording/x.mp3")
	f.Add("GET", "/api/v1/Account/MA_X/Conference/{name}/*")
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, method, p string) {
		u, err := url.Parse("http://parley.test" + p)
		if err != nil || method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}, Body: http.NoBody}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		switch w.Code {
		case 404, 405, 401:
		default:
			t.Fatalf("%s %q: status %d", method, p, w.Code)
		}
	})
}

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		path string
		want Target
		ok   bool
	}{
		{"/v1/Account/MA_1/Conference/My%20Room/Member/3/Kick/", Target{"MA_1", "Conference", "My Room"}, true},
		{"/api/v1/account/MA_1/conference/a%2Fb/", Target{"MA_1", "Conference", "a/b"}, true},
		{"/v1/Account/MA_1/Call/3f2a-uuid/Stream/s1", Target{"MA_1", "Call", "3f2a-uuid"}, true},
		{"/v1/Account/MA_1/Request/r1/", Target{"MA_1", "Request", "r1"}, true},
		{"/v1/Account/MA_1/Conference/", Target{"MA_1", "Conference", ""}, true},
		{"/v1/Account/MA_1/", Target{"MA_1", "", ""}, true},
		{"/v1/Account/MA_1/Nope/x", Target{}, false},
		{"/metrics", Target{}, false},
	} {
		got, ok := ParseTarget(c.path)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}
