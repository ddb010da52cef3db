package kit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/webhook"
)

// App is a customer web application: it serves documents and files at the paths given to it
// and, unless made WithoutRecording, records every request it receives.
type App struct {
	srv    *httptest.Server
	mux    *http.ServeMux
	record bool

	mu       sync.Mutex
	requests []Request
}

// Request is a request the App received.
type Request struct {
	Method string
	Path   string
	Form   url.Values
	Header http.Header
	URL    string // as requested, scheme://host/path?query
	At     time.Time
}

// AppOption configures NewApp.
type AppOption func(*App)

// WithoutRecording makes the App keep nothing of its requests, for load tests whose handlers
// count what they need.
func WithoutRecording() AppOption { return func(a *App) { a.record = false } }

// NewApp starts an App on 127.0.0.1; the test's cleanup stops it. Every request's form is
// parsed before its handler runs.
func NewApp(t testing.TB, opts ...AppOption) *App {
	t.Helper()
	a := &App{mux: http.NewServeMux(), record: true}
	for _, o := range opts {
		o(a)
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		at := time.Now()
		_ = r.ParseForm()
		if a.record {
			rec := Request{Method: r.Method, Path: r.URL.Path, Form: r.Form, Header: r.Header.Clone(),
				URL: "http://" + r.Host + r.URL.RequestURI(), At: at}
			a.mu.Lock()
			a.requests = append(a.requests, rec)
			a.mu.Unlock()
		}
		a.mux.ServeHTTP(rw, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// URL returns the absolute URL of path on the App.
func (a *App) URL(path string) string { return a.srv.URL + path }

// HandleFunc serves path (a http.ServeMux pattern) with h.
func (a *App) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	a.mux.HandleFunc(pattern, h)
}

// Handle serves path (a http.ServeMux pattern) with h.
func (a *App) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// XML serves a fixed document at path.
func (a *App) XML(path, doc string) {
	a.Doc(path, func(*http.Request) string { return doc })
}

// Doc serves at path the document doc returns for each request.
func (a *App) Doc(path string, doc func(r *http.Request) string) {
	a.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
		body := doc(r)
		rw.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(rw, body)
	})
}

// DocsByFrom serves at path the document of the caller's From (without +); "" is the default.
func (a *App) DocsByFrom(path string, docs map[string]string) {
	a.Doc(path, func(r *http.Request) string {
		doc, ok := docs[r.Form.Get("From")]
		if !ok {
			doc = docs[""]
		}
		return doc
	})
}

// OK answers 200 with no body at path.
func (a *App) OK(path string) {
	a.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusOK) })
}

// File serves a fixed body at path.
func (a *App) File(path, contentType string, body []byte) {
	a.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", contentType)
		_, _ = rw.Write(body)
	})
}

// Tone serves at path a 16 kHz WAV file of a sine of freq Hz at -6 dBFS lasting d.
func (a *App) Tone(path string, freq float64, d time.Duration) {
	a.File(path, "audio/wav", ToneWAV(freq, 16000, d, -6))
}

// All returns every request received so far, in arrival order.
func (a *App) All() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Requests returns the requests made to path so far.
func (a *App) Requests(path string) []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Request
	for _, r := range a.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// WaitFor waits until path has received n requests and returns them all; it fails the test
// when timeout passes first.
func (a *App) WaitFor(t testing.TB, path string, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if got := a.Requests(path); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := a.Requests(path)
	t.Fatalf("%s received %d requests, want %d", path, len(got), n)
	return nil
}

// WaitReq waits for a request to path that satisfies ok; what names it in the failure.
func (a *App) WaitReq(t testing.TB, path string, timeout time.Duration, what string, ok func(Request) bool) Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range a.Requests(path) {
			if ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s at %s within %v (%d requests there)", what, path, timeout, len(a.Requests(path)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// VerifySignature checks the request's V2 and V3 signatures against authToken, as a customer
// application would.
func (r Request) VerifySignature(authToken string) error {
	req, err := http.NewRequest(r.Method, r.URL, strings.NewReader(""))
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	return webhook.VerifyRequest(req, authToken)
}

// AssertParams checks that form has every key of want with its value ("*" = any non-empty).
func AssertParams(t testing.TB, what string, form url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := form[k]
		switch {
		case !ok:
			t.Errorf("%s: parameter %s missing", what, k)
		case v == "*" && got[0] == "":
			t.Errorf("%s: parameter %s is empty", what, k)
		case v != "*" && got[0] != v:
			t.Errorf("%s: %s = %q, want %q", what, k, got[0], v)
		}
	}
}
