package openapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that keeps Errorf calls instead of failing the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const apiID = "0b0c2f6e-1d2a-4b3c-9d4e-5f6a7b8c9d0e"

func TestTransport(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/api/v1/Account/MA_X/Conference/":
			fmt.Fprintf(w, `{"api_id":%q,"conferences":["a"]}`, apiID)
		case "/v1/account/MA_X/call/": // any case, /v1 base
			fmt.Fprintf(w, `{"api_id":%q,"calls":[1]}`, apiID) // calls must be strings
		default:
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprint(w, `not json`)
		}
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	client := &http.Client{Transport: Transport(rec, v, nil)}
	get := func(path string) string {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := get("/api/v1/Account/MA_X/Conference/"); !strings.Contains(body, `"conferences":["a"]`) {
		t.Errorf("body not handed on: %q", body)
	}
	if len(rec.errs) != 0 {
		t.Fatalf("valid response reported: %v", rec.errs)
	}
	get("/v1/account/MA_X/call/")
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "calls") {
		t.Fatalf("invalid body not reported once: %v", rec.errs)
	}
	get("/elsewhere") // not an API path: not checked
	if len(rec.errs) != 1 {
		t.Fatalf("non-API path checked: %v", rec.errs)
	}
}

func TestRoute(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/api/v1/Account/MA_X/Recording/abc.mp3":                "/Account/{auth_id}/Recording/{recording_id}.{format}",
		"/api/v1/Account/MA_X/Recording/abc.ogg":                "/Account/{auth_id}/Recording/{recording_id}/",
		"/api/v1/Account/MA_X/Recording/abc/":                   "/Account/{auth_id}/Recording/{recording_id}/",
		"/API/V1/account/MA_X/conference/a%2Fb/member/1,2/kick": "/Account/{auth_id}/Conference/{conference_name}/Member/{member_id}/Kick/",
		"/v1/Account/MA_X/Call/c1/Stream/s1/?x=1":               "/Account/{auth_id}/Call/{call_uuid}/Stream/{stream_id}/",
		"/api/v1/Account/MA_X/Conference/a/b/":                  "",
		"/api/v2/Account/MA_X/Conference/":                      "",
		"/api/v1/openapi.json":                                  "/openapi.json",
	} {
		if got, _ := v.Route(path); got != want {
			t.Errorf("Route(%s) = %q, want %q", path, got, want)
		}
	}
}
