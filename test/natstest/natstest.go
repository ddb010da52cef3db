// Package natstest runs a throw-away nats-server with JetStream for tests: listening on
// 127.0.0.1 on a free port, its store in a temporary directory, stopped and removed at the
// end. It uses the server of the Debian package nats-server (/usr/sbin/nats-server, else
// nats-server on PATH), which `make test` installs when missing.
//
// When nats-server is not installed the tests that need it are skipped with the reason, except
// under CI (CI=true), where that is a failure: CI must run them (test/svctest holds that rule).
//
// It must NOT know about Parley's use of NATS (buckets, subjects): it hands out a server.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/svctest"
)

// Server is one running nats-server, or the reason there is none.
type Server struct {
	dir         string // the JetStream store and the log; removed by Stop
	port        int
	proc        *svctest.Process
	unavailable string
}

// Main is for TestMain: it starts a server in *srv, runs the tests and stops it, and returns
// the exit code. Without nats-server, *srv holds the reason and Require skips (or, under CI,
// Main fails before running anything). m is a *testing.M or, to start other services around
// the tests too, a svctest.RunFunc around their Main.
func Main(m svctest.Runner, srv **Server) int {
	return svctest.Main(m, srv, "natstest", ErrNotInstalled, time.Minute, Start,
		func(reason string) *Server { return &Server{unavailable: reason} })
}

// ErrNotInstalled: no nats-server on this machine.
var ErrNotInstalled = errors.New("nats-server is not installed (Debian package nats-server; `make test` installs it)")

// Require returns the server, or skips t when nats-server is not installed.
func (s *Server) Require(t testing.TB) *Server {
	t.Helper()
	return svctest.Require(t, "natstest", s)
}

// Unavailable is why there is no server ("" when there is one).
func (s *Server) Unavailable() string { return s.unavailable }

// Binary finds the nats-server program.
func Binary() (string, error) { return svctest.Program("nats-server", ErrNotInstalled) }

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
	port, err := svctest.FreePort()
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	s := &Server{dir: dir, port: port}
	// Not CommandContext: the server outlives Start's context; Stop ends it.
	s.proc, err = svctest.StartProcess(exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port),
		"-sd", filepath.Join(dir, "jetstream")), false)
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	if err := s.proc.WaitReady(ctx, 20*time.Millisecond, func() bool { return svctest.Accepts(s.Addr()) }); err != nil {
		s.proc.Kill()
		return nil, fmt.Errorf("natstest: nats-server on %s: %w", s.Addr(), err)
	}
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's client URL, nats://127.0.0.1:<port>.
func (s *Server) URL() string { return "nats://" + s.Addr() }

// PID is the nats-server's process id (benchmarks read its CPU time).
func (s *Server) PID() int { return s.proc.PID() }

// Log is what the server wrote so far.
func (s *Server) Log() string { return s.proc.Log() }

// Stop ends the server (SIGINT, then SIGKILL after 10 s) and removes its directory.
func (s *Server) Stop() error {
	s.proc.Stop(10 * time.Second)
	return os.RemoveAll(s.dir)
}
