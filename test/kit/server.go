package kit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/api/openapitest"
)

// Options shape a server started by Kit.Start.
type Options struct {
	// Env is set on top of the defaults (listen on 127.0.0.1 ports of the kernel's choice, the
	// data directory, an RTP range, the AuthID account, debug logs, a 5 s shutdown grace, 3 s
	// webhook timeout). An empty value removes the variable, so the binary's own default holds.
	Env map[string]string
	// App, when set, is the default number application: answer_url App's /answer and
	// hangup_url its /hangup (Env may still override either).
	App *App
	// DataDir is the data directory; default a new temporary directory.
	DataDir string
	// RTPPorts is the RTP range such as "30000-39999"; default a 400-port range of this Kit.
	RTPPorts string
	// LogFile, when set, receives the server's log (stderr) instead of memory: for long runs.
	LogFile string
	// StopGrace, when positive, makes the test's cleanup send SIGTERM and wait this long before
	// killing; by default the cleanup kills at once.
	StopGrace time.Duration
	// NoAPIValidation turns off the check of every REST answer against the OpenAPI document
	// (load runs, where the check would cost the client CPU).
	NoAPIValidation bool
}

// Server is one running parley binary. Its methods are safe for concurrent use, except Restart.
type Server struct {
	t       testing.TB
	bin     string
	env     []string
	opts    Options
	HTTP    string // base URL, http://host:port
	SIP     string // host:port
	SIPTLS  string // host:port of SIP over TLS; "" when the server runs none
	DataDir string

	client *http.Client // REST client; validates answers against the OpenAPI document
	logs   *logSink
	cmd    *exec.Cmd
	exited chan struct{}
}

var (
	listenLine = regexp.MustCompile(`Parley listening: http=(\S+) sip=(\S+)`)
	tlsListen  = regexp.MustCompile(` sip-tls=(\S+)`)
)

// Start runs the binary with opts and waits until it listens; the test's cleanup stops it and,
// when the test failed, logs the end of its log.
func (k *Kit) Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := k.Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, opts: opts, DataDir: opts.DataDir, client: http.DefaultClient}
	if !opts.NoAPIValidation {
		v, err := k.apiDoc()
		if err != nil {
			t.Fatal(err)
		}
		s.client = &http.Client{Transport: openapitest.Transport(t, v, nil)}
	}
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	rtp := opts.RTPPorts
	if rtp == "" {
		rtp = k.rtpRange()
	}
	env := map[string]string{
		"PARLEY_HTTP_ADDR":       "127.0.0.1:0",
		"PARLEY_SIP_ADDR":        "127.0.0.1:0",
		"PARLEY_RTP_PORTS":       rtp,
		"PARLEY_DATA_DIR":        s.DataDir,
		"PARLEY_AUTH_ID":         AuthID,
		"PARLEY_AUTH_TOKEN":      AuthToken,
		"PARLEY_LOG_LEVEL":       "debug",
		"PARLEY_SHUTDOWN_GRACE":  "5s",
		"PARLEY_WEBHOOK_TIMEOUT": "3s",
	}
	if opts.App != nil {
		env["PARLEY_ANSWER_URL"] = opts.App.URL("/answer")
		env["PARLEY_HANGUP_URL"] = opts.App.URL("/hangup")
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	s.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		if v != "" {
			s.env = append(s.env, k+"="+v)
		}
	}
	t.Cleanup(func() {
		if s.exited == nil {
			return // never started
		}
		s.shutdown()
		if t.Failed() {
			t.Logf("parley log (end):\n%s", s.Tail(1<<20))
		}
	})
	s.start()
	return s
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	logs, err := newLogSink(s.opts.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	s.logs = logs
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = logs.Write([]byte("STDOUT: " + line + "\n"))
			if m := listenLine.FindStringSubmatch(line); m != nil {
				if tm := tlsListen.FindStringSubmatch(line); tm != nil {
					m = append(m, tm[1])
				}
				select {
				case found <- m:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait() // also waits for the copy of stderr into logs
		logs.close()
		close(s.exited)
	}()
	select {
	case m := <-found:
		s.HTTP = "http://" + m[1]
		s.SIP = m[2]
		if len(m) > 3 {
			s.SIPTLS = m[3]
		}
	case <-s.exited:
		t.Fatalf("parley exited before listening:\n%s", s.Tail(1<<20))
	case <-time.After(20 * time.Second):
		t.Fatalf("parley did not start listening:\n%s", s.Tail(1<<20))
	}
}

// shutdown ends the process as Options.StopGrace says.
func (s *Server) shutdown() {
	if s.opts.StopGrace > 0 && s.Stop(syscall.SIGTERM, s.opts.StopGrace) == nil {
		return
	}
	s.Kill()
}

// PID is the process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Signal sends sig to the process without waiting.
func (s *Server) Signal(sig syscall.Signal) { _ = s.cmd.Process.Signal(sig) }

// Stop sends sig and waits up to wait for the process to exit.
func (s *Server) Stop(sig syscall.Signal, wait time.Duration) error {
	s.Signal(sig)
	select {
	case <-s.exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("parley did not exit within %v after %v", wait, sig)
	}
}

// Kill kills the process (if it still runs) and waits for it.
func (s *Server) Kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Alive reports whether the process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Restart kills the process and starts the binary again with the same options and data
// directory; the log starts afresh (a LogFile is truncated). Its addresses may change.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Logs returns the log written so far (stderr, and stdout lines prefixed "STDOUT: ").
func (s *Server) Logs() string { return s.logs.String() }

// Tail returns at most the last n bytes of the log.
func (s *Server) Tail(n int) string { return s.logs.tail(int64(n)) }

// WaitLog waits until the log holds substr. The log arrives through a pipe, so a line may come
// after the event it reports.
func (s *Server) WaitLog(substr string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.Logs(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// URI is a SIP URI at this server for user.
func (s *Server) URI(user string) string { return "sip:" + user + "@" + s.SIP }

// logSink holds a server's log in memory or appends it to a file.
type logSink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File // nil: in memory
	path string
}

func newLogSink(path string) (*logSink, error) {
	if path == "" {
		return &logSink{}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	return &logSink{file: f, path: path}, nil
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		return l.file.Write(p)
	}
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return l.buf.String()
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (l *logSink) tail(n int64) string {
	if l.path == "" {
		s := l.String()
		return s[max(0, int64(len(s))-n):]
	}
	return TailFile(l.path, n)
}

// TailFile returns at most the last n bytes of the file at path (or the error reading it).
func TailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func (l *logSink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_ = l.file.Close()
		l.file = nil
	}
}

// LogPath is the file the log goes to, "" when it is kept in memory.
func (s *Server) LogPath() string { return s.opts.LogFile }
