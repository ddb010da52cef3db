package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRealServer runs the handler behind net/http on 127.0.0.1, so raw paths (%2F, //), the
// 204 headers and Content-Length are checked as a client sees them.
func TestRealServer(t *testing.T) {
	fx := newFixture(t, nil)
	srv := httptest.NewServer(fx.h)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body string) *http.Response {
		t.Helper()
		r, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.SetBasicAuth(testAccount, testToken)
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	tests := []struct {
		method, path string
		status       int
		room         string
	}{
		{"POST", "/api/v1/Account/MA_X/Conference/a%2Fb%20c+d/Member/30/Mute/", 200, "a/b c+d"},
		{"POST", "/api/v1/Account/MA_X/Conference/a%2fb%20c+d/Member/30/Mute", 200, "a/b c+d"},
		{"DELETE", "/v1/account/MA_X/conference/MyConf/member/10/mute", 204, "MyConf"},
		{"GET", "/api/v1/Account/MA_X//Conference/", 404, ""},
		{"GET", "/api/v1/Account/MA_X/Conference/../Recording/", 404, ""},
		{"POST", "/api/v1/Account/MA_X/Endpoint/193962768711693/", 202, ""},
		{"DELETE", "/v1/Account/MA_X/call/0d4b2f6e-8c1a-4e3b-9f7d-2a5c6b8e1f30", 204, ""},
	}
	for _, tt := range tests {
		fx.conf.calls = nil
		resp := send(tt.method, tt.path, "")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, resp.StatusCode, body)
			continue
		}
		if got := fx.conf.lastCall().Name; got != tt.room {
			t.Errorf("%s %s: room %q want %q", tt.method, tt.path, got, tt.room)
		}
		if (tt.status == 204 || tt.status == 202) && (len(body) != 0 || resp.Header.Get("Content-Type") != "") {
			t.Errorf("%d with body %q / Content-Type %q", tt.status, body, resp.Header.Get("Content-Type"))
		}
		if tt.status == 202 && resp.Header.Get("Content-Length") != "0" {
			t.Errorf("202 Content-Length %q", resp.Header.Get("Content-Length"))
		}
		if tt.status != 204 && resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
		}
	}
}
