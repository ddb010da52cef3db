// Package natstest runs a throw-away nats-server with JetStream for tests: listening on
// 127.0.0.1 on a free port, its store in a temporary directory, stopped and removed at the
// end. It uses the server of the Debian package nats-server (/usr/sbin/nats-server, else
// nats-server on PATH), which `make test` installs when missing.
//
// When nats-server is not installed the tests that need it are skipped with the reason, except
// under CI (CI=true), where that is a failure: CI must run them.
//
// It must NOT know about Parley's use of NATS (buckets, subjects): it hands out a server.
package natstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is one running nats-server, or the reason there is none.
type Server struct {
	dir         string // the JetStream store and the log; removed by Stop
	port        int
	cmd         *exec.Cmd
	exited      chan struct{}
	log         *lockedBuffer
	unavailable string
}

// Runner runs a package's tests: a *testing.M, or a RunFunc around another helper's Main
// (natstest.Main(natstest.RunFunc(func() int { return pgtest.Main(m, &pg) }), &nats)).
type Runner interface{ Run() int }

// RunFunc makes a function a Runner.
type RunFunc func() int

// Run calls f.
func (f RunFunc) Run() int { return f() }

// Main is for TestMain: it starts a server in *srv, runs the tests and stops it, and returns
// the exit code. Without nats-server, *srv holds the reason and Require skips (or, under CI,
// Main fails before running anything).
func Main(m Runner, srv **Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := Start(ctx)
	cancel()
	switch {
	case errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true":
		*srv = &Server{unavailable: err.Error()}
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, "natstest:", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "natstest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// ErrNotInstalled: no nats-server on this machine.
var ErrNotInstalled = errors.New("nats-server is not installed (Debian package nats-server; `make test` installs it)")

// Require returns the server, or skips t when nats-server is not installed.
func (s *Server) Require(t testing.TB) *Server {
	t.Helper()
	if s == nil {
		t.Fatal("natstest: no server: call natstest.Main from TestMain")
	}
	if s.unavailable != "" {
		t.Skip("natstest: " + s.unavailable)
	}
	return s
}

// Binary finds the nats-server program.
func Binary() (string, error) {
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// Start starts a server with JetStream in a new temporary directory and waits until it
// accepts connections.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-nats-")
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	// A free port can be taken between our probe and the server's bind: try a few.
	for try := 0; ; try++ {
		var s *Server
		if s, err = start(ctx, bin, dir); err == nil {
			return s, nil
		}
		if try == 2 || ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

func start(ctx context.Context, bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: port, exited: make(chan struct{}), log: &lockedBuffer{}}
	// Not CommandContext: the server outlives Start's context; Stop ends it.
	s.cmd = exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port),
		"-sd", filepath.Join(dir, "jetstream"))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("natstest: start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("natstest: nats-server exited:\n%s", s.log.String())
		case <-ctx.Done():
			s.kill()
			return nil, fmt.Errorf("natstest: nats-server did not accept on %s: %w\n%s", s.Addr(), ctx.Err(), s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("natstest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's client URL, nats://127.0.0.1:<port>.
func (s *Server) URL() string { return "nats://" + s.Addr() }

// PID is the nats-server's process id (benchmarks read its CPU time).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log is what the server wrote so far.
func (s *Server) Log() string { return s.log.String() }

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and removes its directory.
func (s *Server) Stop() error {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.kill()
	}
	return os.RemoveAll(s.dir)
}

// lockedBuffer collects the server's output, written by the exec package's copier and read by
// the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
