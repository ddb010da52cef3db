// Package e2e holds black-box tests of the built parley binary: real SIP and RTP on 127.0.0.1,
// a test web application, and audio checks on what a Go SIP client received.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binPath is the parley binary built once for the package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", binPath, "github.com/parley-voice/parley/cmd/parley")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building parley:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testAuthID    = "MA_E2ETEST1"
	testAuthToken = "e2e-secret-token-0123456789"
)

// rtpBase hands each Parley of this test process its own RTP range.
var rtpBase atomic.Int32

// parley is one running binary.
type parley struct {
	t       *testing.T
	cmd     *exec.Cmd
	HTTP    string // base URL
	SIP     string // host:port
	dataDir string
	logs    *syncBuffer
	exited  chan struct{}
	env     map[string]string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenLine = regexp.MustCompile(`Parley listening: http=(\S+) sip=(\S+)`)

// startParley runs the binary with env on top of test defaults and waits until it listens.
func startParley(t *testing.T, env map[string]string) *parley {
	t.Helper()
	p := &parley{t: t, dataDir: t.TempDir(), env: env}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("parley logs:\n%s", p.logs.String())
		}
	})
	return p
}

func (p *parley) start() {
	t := p.t
	// Ranges stay below the kernel's ephemeral ports (32768+), which the test clients use.
	base := 20000 + int(rtpBase.Add(1)%30)*400
	full := map[string]string{
		"PARLEY_HTTP_ADDR":       "127.0.0.1:0",
		"PARLEY_SIP_ADDR":        "127.0.0.1:0",
		"PARLEY_RTP_PORTS":       fmt.Sprintf("%d-%d", base, base+399),
		"PARLEY_DATA_DIR":        p.dataDir,
		"PARLEY_AUTH_ID":         testAuthID,
		"PARLEY_AUTH_TOKEN":      testAuthToken,
		"PARLEY_LOG_LEVEL":       "debug",
		"PARLEY_SHUTDOWN_GRACE":  "5s",
		"PARLEY_WEBHOOK_TIMEOUT": "3s",
	}
	for k, v := range p.env {
		full[k] = v
	}
	cmd := exec.Command(binPath, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range full {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p.logs = &syncBuffer{}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte("STDOUT: " + line + "\n"))
			if m := listenLine.FindStringSubmatch(line); m != nil {
				found <- m
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	select {
	case m := <-found:
		p.HTTP = "http://" + m[1]
		p.SIP = m[2]
	case <-p.exited:
		t.Fatalf("parley exited before listening:\n%s", p.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("parley did not start listening:\n%s", p.logs.String())
	}
}

// signal sends sig and waits for the process to exit.
func (p *parley) stop(sig syscall.Signal, wait time.Duration) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("parley did not exit within %v after %v", wait, sig)
	}
}

func (p *parley) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// restart starts the binary again on the same data directory.
func (p *parley) restart() {
	p.kill()
	p.start()
}

// waitLog waits until the process has logged a line containing substr (its stderr is read
// through a pipe, so a line may arrive after the event it reports).
func (p *parley) waitLog(substr string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.logs.String(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// uri is a SIP URI at this Parley for user.
func (p *parley) uri(user string) string { return "sip:" + user + "@" + p.SIP }

// webApp is a customer application for tests: it serves documents and records every request.
type webApp struct {
	srv *httptest.Server
	mux *http.ServeMux

	mu       sync.Mutex
	requests []recorded
	notify   chan recorded
}

type recorded struct {
	Method string
	Path   string
	Form   url.Values
	Header http.Header
	URL    string // as requested, scheme://host/path?query
	At     time.Time
}

func newWebApp(t *testing.T) *webApp {
	t.Helper()
	w := &webApp{mux: http.NewServeMux(), notify: make(chan recorded, 256)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rec := recorded{Method: r.Method, Path: r.URL.Path, Form: r.Form, Header: r.Header.Clone(),
			URL: "http://" + r.Host + r.URL.RequestURI(), At: time.Now()}
		w.mu.Lock()
		w.requests = append(w.requests, rec)
		w.mu.Unlock()
		select {
		case w.notify <- rec:
		default:
		}
		w.mux.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// URL returns the absolute URL of path on the app.
func (w *webApp) URL(path string) string { return w.srv.URL + path }

// xml serves a fixed document at path.
func (w *webApp) xml(path, doc string) {
	w.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(rw, doc)
	})
}

// ok answers 200 at path.
func (w *webApp) ok(path string) {
	w.mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusOK) })
}

// requestsTo returns the requests made to path so far.
func (w *webApp) requestsTo(path string) []recorded {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []recorded
	for _, r := range w.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until path has received n requests.
func (w *webApp) waitFor(t *testing.T, path string, n int, timeout time.Duration) []recorded {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if got := w.requestsTo(path); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := w.requestsTo(path)
	t.Fatalf("%s received %d requests, want %d", path, len(got), n)
	return nil
}

// assertParams checks that form has every key with the given value ("*" = any non-empty).
func assertParams(t *testing.T, what string, form url.Values, want map[string]string) {
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

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func has(s, sub string) bool { return strings.Contains(s, sub) }
