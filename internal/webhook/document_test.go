package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "3dF8sKq29xLmPz0"

// hit is one request seen by a test receiver.
type hit struct {
	method, path, query, contentType, userAgent string
	form                                        url.Values
	header                                      http.Header
	sigErr                                      error
}

// receiver is a test web app that records requests and answers with reply(n), n counting from 1.
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	hits  []hit
	reply func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{t: t, reply: reply}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	h := hit{
		method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		contentType: r.Header.Get("Content-Type"), userAgent: r.UserAgent(),
		header: r.Header.Clone(), sigErr: VerifyRequest(r, testToken),
	}
	if err := r.ParseForm(); err != nil {
		rc.t.Errorf("receiver: parsing form: %v", err)
	}
	h.form = r.Form
	rc.mu.Lock()
	rc.hits = append(rc.hits, h)
	n := len(rc.hits)
	rc.mu.Unlock()
	if rc.reply != nil {
		rc.reply(n, w, r)
	}
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

func testClient(o HTTPOptions) *Client {
	return NewClient(ClientOptions{HTTPOptions: o, RetryWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}})
}

func TestFetchDocumentSignedRequest(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantMethod         string
		wantQuery          url.Values
	}{
		{name: "POST", method: "POST", path: "/answer", wantMethod: "POST", wantQuery: url.Values{}},
		{name: "default POST", method: "", path: "/answer", wantMethod: "POST", wantQuery: url.Values{}},
		{name: "GET keeps query", method: "get", path: "/answer?step=2&x=a+b", wantMethod: "GET",
			wantQuery: url.Values{"step": {"2"}, "x": {"a b"}, "CallUUID": {"c-1"}, "From": {"+15550001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, "<Response/>")
			})
			c := testClient(HTTPOptions{Version: "1.2.3"})
			params := url.Values{"CallUUID": {"c-1"}, "From": {"+15550001"}}
			doc, err := c.FetchDocument(context.Background(), Request{URL: rc.url(tt.path), Method: tt.method, Params: params, AuthToken: testToken})
			if err != nil {
				t.Fatal(err)
			}
			if string(doc.Body) != "<Response/>" {
				t.Errorf("body = %q", doc.Body)
			}
			hits := rc.got()
			if len(hits) != 1 {
				t.Fatalf("got %d requests, want 1", len(hits))
			}
			h := hits[0]
			if h.sigErr != nil {
				t.Errorf("signature: %v", h.sigErr)
			}
			if h.method != tt.wantMethod {
				t.Errorf("method = %s, want %s", h.method, tt.wantMethod)
			}
			if h.userAgent != "Parley/1.2.3" {
				t.Errorf("User-Agent = %q", h.userAgent)
			}
			if h.header.Get(HeaderSignatureV2Nonce) != h.header.Get(HeaderSignatureV3Nonce) {
				t.Error("V2 and V3 nonces differ")
			}
			q, _ := url.ParseQuery(h.query)
			if fmt.Sprint(q) != fmt.Sprint(tt.wantQuery) {
				t.Errorf("query = %v, want %v", q, tt.wantQuery)
			}
			if tt.wantMethod == "POST" && h.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", h.contentType)
			}
			if h.form.Get("CallUUID") != "c-1" || h.form.Get("From") != "+15550001" {
				t.Errorf("form = %v, missing parameters", h.form)
			}
		})
	}
}

func TestFetchDocumentRedirects(t *testing.T) {
	var base string
	mux := http.NewServeMux()
	var mu sync.Mutex
	var seen []hit
	record := func(r *http.Request) {
		r.ParseForm()
		mu.Lock()
		seen = append(seen, hit{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, form: r.Form, sigErr: VerifyRequest(r, testToken), header: r.Header.Clone()})
		mu.Unlock()
	}
	mux.HandleFunc("/r302", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, "/r307", http.StatusFound)
	})
	mux.HandleFunc("/r307", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, base+"/final", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/r303", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, "/final?from=303", http.StatusSeeOther)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		io.WriteString(w, "<Response/>")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL

	tests := []struct {
		name       string
		path       string
		wantPaths  []string
		wantMethod []string
		wantErr    bool
	}{
		{name: "302 then 307 keep POST", path: "/r302", wantPaths: []string{"/r302", "/r307", "/final"}, wantMethod: []string{"POST", "POST", "POST"}},
		{name: "303 turns into GET", path: "/r303", wantPaths: []string{"/r303", "/final"}, wantMethod: []string{"POST", "GET"}},
		{name: "too many redirects", path: "/loop", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			c := NewClient(ClientOptions{RetryWaits: []time.Duration{}})
			doc, err := c.FetchDocument(context.Background(), Request{URL: base + tt.path, Method: "POST", Params: url.Values{"A": {"1"}}, AuthToken: testToken})
			mu.Lock()
			got := append([]hit(nil), seen...)
			mu.Unlock()
			if tt.wantErr {
				if !errors.Is(err, ErrUnreachable) {
					t.Fatalf("err = %v, want ErrUnreachable", err)
				}
				if len(got) != MaxRedirects+1 {
					t.Errorf("%d requests, want %d", len(got), MaxRedirects+1)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if doc.URL == nil || doc.URL.Path != "/final" {
				t.Errorf("final URL = %v, want .../final", doc.URL)
			}
			if len(got) != len(tt.wantPaths) {
				t.Fatalf("requests %v, want paths %v", got, tt.wantPaths)
			}
			nonces := map[string]bool{}
			for i, h := range got {
				if h.path != tt.wantPaths[i] || h.method != tt.wantMethod[i] {
					t.Errorf("hop %d: %s %s, want %s %s", i, h.method, h.path, tt.wantMethod[i], tt.wantPaths[i])
				}
				if h.sigErr != nil {
					t.Errorf("hop %d (%s): %v", i, h.path, h.sigErr)
				}
				if h.method == "POST" && h.form.Get("A") != "1" {
					t.Errorf("hop %d: POST body lost: %v", i, h.form)
				}
				nonces[h.header.Get(HeaderSignatureV2Nonce)] = true
			}
			if len(nonces) != len(got) {
				t.Errorf("nonces reused across hops")
			}
		})
	}
}

func TestFetchDocumentRetries(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int // attempts answered 500 before a 200
		wantHits  int
		wantErr   bool
	}{
		{name: "always failing", failFirst: 99, wantHits: 3, wantErr: true},
		{name: "2xx after a failure", failFirst: 1, wantHits: 2},
		{name: "2xx after two failures", failFirst: 2, wantHits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n <= tt.failFirst {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "<Response/>")
			})
			c := testClient(HTTPOptions{})
			_, err := c.FetchDocument(context.Background(), Request{URL: rc.url("/a"), AuthToken: testToken})
			hits := rc.got()
			if len(hits) != tt.wantHits {
				t.Errorf("%d attempts, want %d", len(hits), tt.wantHits)
			}
			nonces := map[string]bool{}
			for _, h := range hits {
				nonces[h.header.Get(HeaderSignatureV3Nonce)] = true
				if h.sigErr != nil {
					t.Error(h.sigErr)
				}
			}
			if len(nonces) != len(hits) {
				t.Error("a nonce was reused across attempts")
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable", err)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 500 {
				t.Errorf("err = %v, want the last cause HTTP 500", err)
			}
		})
	}
}

func TestFetchDocumentNetworkFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/answer"
	ln.Close()

	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)

	tests := []struct {
		name string
		url  string
	}{
		{"connection refused", closedURL},
		{"timeout", slow.URL + "/answer"},
		{"not http", "ftp://127.0.0.1/x"},
		{"relative", "/answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClient(HTTPOptions{Timeout: 100 * time.Millisecond})
			start := time.Now()
			_, err := c.FetchDocument(context.Background(), Request{URL: tt.url, AuthToken: testToken})
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestFetchDocumentCancel(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer failing.Close()

	tests := []struct {
		name  string
		url   string
		waits []time.Duration
	}{
		{"during a request", srv.URL, nil},
		{"during the wait between attempts", failing.URL, []time.Duration{10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(ClientOptions{RetryWaits: tt.waits})
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err := c.FetchDocument(ctx, Request{URL: tt.url, AuthToken: testToken})
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want context.Canceled only", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("returned after %v, want at once", d)
			}
		})
	}
}

func TestFetchDocumentSizeLimit(t *testing.T) {
	tests := []struct {
		size    int
		wantErr bool
	}{
		{size: MaxDocumentBytes - 1},
		{size: MaxDocumentBytes},
		{size: MaxDocumentBytes + 1, wantErr: true},
		{size: 3 * MaxDocumentBytes, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			body := bytes.Repeat([]byte("x"), tt.size)
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.Write(body) })
			c := testClient(HTTPOptions{})
			doc, err := c.FetchDocument(context.Background(), Request{URL: rc.url("/big"), AuthToken: testToken})
			if n := len(rc.got()); n != 1 {
				t.Errorf("%d attempts, want 1 (a large 2xx is not retried)", n)
			}
			if tt.wantErr {
				if !errors.Is(err, ErrDocumentTooLarge) || errors.Is(err, ErrUnreachable) {
					t.Fatalf("err = %v, want ErrDocumentTooLarge", err)
				}
				if len(doc.Body) != MaxDocumentBytes {
					t.Errorf("truncated body has %d bytes, want %d", len(doc.Body), MaxDocumentBytes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Body) != tt.size {
				t.Errorf("body has %d bytes, want %d", len(doc.Body), tt.size)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := VerifyRequest(r, testToken); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, "<Response/>")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	tests := []struct {
		name     string
		insecure bool
		wantErr  bool
	}{
		{"verified by default", false, true},
		{"verification off", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(ClientOptions{HTTPOptions: HTTPOptions{InsecureSkipVerify: tt.insecure}, RetryWaits: []time.Duration{}})
			_, err := c.FetchDocument(context.Background(), Request{URL: srv.URL + "/x", AuthToken: testToken})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("err = %v, want a certificate error", err)
			}
		})
	}
}
