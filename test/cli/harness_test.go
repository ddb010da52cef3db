// Package cli_test runs the operator commands of the built parley binary (`parley conf|call|
// app|endpoint|recording`) against a running `parley serve` with live SIP calls on 127.0.0.1,
// in both output modes.
//
// The start-up code here is a minimal copy of test/e2e's harness (no shared test kit existed
// on main when it was written); it should move to the shared kit once there is one.
package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
)

// binPath is the parley binary built once for the package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-cli-")
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
	authID    = "MA_CLITEST1"
	authToken = "cli-secret-token-0123456789"
)

// server is one running `parley serve`.
type server struct {
	HTTP string // base URL
	SIP  string // host:port
	logs *syncBuffer
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

// startServer runs `parley serve` on loopback ports with a temporary data directory.
func startServer(t *testing.T, answerURL, hangupURL string) *server {
	t.Helper()
	env := map[string]string{
		"PARLEY_HTTP_ADDR":      "127.0.0.1:0",
		"PARLEY_SIP_ADDR":       "127.0.0.1:0",
		"PARLEY_RTP_PORTS":      "16000-16399", // below the ranges of test/e2e (20000+) and test/load (17000+)
		"PARLEY_DATA_DIR":       t.TempDir(),
		"PARLEY_AUTH_ID":        authID,
		"PARLEY_AUTH_TOKEN":     authToken,
		"PARLEY_LOG_LEVEL":      "debug",
		"PARLEY_SHUTDOWN_GRACE": "2s",
		"PARLEY_ANSWER_URL":     answerURL,
		"PARLEY_HANGUP_URL":     hangupURL,
	}
	cmd := exec.Command(binPath, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s := &server{logs: &syncBuffer{}}
	cmd.Stderr = s.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("parley logs:\n%s", s.logs.String())
		}
	})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.logs.Write([]byte("STDOUT: " + sc.Text() + "\n"))
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case m := <-found:
		s.HTTP, s.SIP = "http://"+m[1], m[2]
	case <-exited:
		t.Fatalf("parley exited before listening:\n%s", s.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("parley did not start listening:\n%s", s.logs.String())
	}
	return s
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs `parley args…` against s with the credentials in the environment.
func (s *server) cli(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PARLEY_URL=" + s.HTTP, "PARLEY_AUTH_ID=" + authID, "PARLEY_AUTH_TOKEN=" + authToken}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("parley %v: %v", args, err)
	}
	return r
}

// ok runs the CLI and fails the test unless it exits 0; it returns stdout.
func (s *server) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.cli(t, args...)
	if r.code != 0 {
		t.Fatalf("parley %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs the CLI with --json and decodes stdout, which must be one JSON object.
func (s *server) okJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := s.ok(t, append(args, "--json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("parley %s --json: stdout is not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// okEmpty runs the CLI with --json for a command whose answer has no body.
func (s *server) okEmpty(t *testing.T, args ...string) {
	t.Helper()
	if out := s.ok(t, append(args, "--json")...); out != "" {
		t.Fatalf("parley %s --json: stdout %q, want nothing (no body)", strings.Join(args, " "), out)
	}
}

// webApp serves the documents of the test calls.
func webApp(t *testing.T, docs map[string]string) *httptest.Server {
	mux := http.NewServeMux()
	for path, doc := range docs {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, doc)
		})
	}
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// dial places a call from from to Parley and waits until it is answered.
func dial(t *testing.T, s *server, from string) *siptest.Call {
	t.Helper()
	c, err := siptest.NewClient(siptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	call, err := c.Dial(ctx, "sip:14155550199@"+s.SIP, siptest.DialOptions{From: from})
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	select {
	case <-call.Answered():
		return call
	case <-call.Ended():
		t.Fatalf("call from %s ended unanswered (status %d: %v)", from, call.FinalStatus(), call.Err())
	case <-time.After(10 * time.Second):
		t.Fatalf("call from %s not answered", from)
	}
	return nil
}

// waitEnded waits until Parley has ended call.
func waitEnded(t *testing.T, call *siptest.Call, what string) {
	t.Helper()
	select {
	case <-call.Ended():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: call still up", what)
	}
}

// decode parses one JSON object.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}
