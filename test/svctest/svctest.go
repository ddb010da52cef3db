// Package svctest holds what the starters of throw-away services for tests share (test/pgtest,
// test/natstest and test/kit's Kamailio): finding the program of a Debian package, a free port
// on 127.0.0.1, the rule for a missing package (skip with the reason, except under CI=true,
// where it is a failure), a TestMain wrapper that starts one service for a package's tests,
// running a program as a system user, and a started program whose output is kept for failure
// messages and that is waited for until it is ready and stopped (with its process group) at
// the end.
//
// It must NOT know about any particular service (program names, options, configuration) nor
// about Parley: its callers bring those.
package svctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Skippable reports whether err, from starting a service, means only that its package
// (notInstalled) is missing and CI is not set: then the tests that need it are skipped. Under
// CI (CI=true) they must run, so a missing package is a failure there.
func Skippable(err, notInstalled error) bool {
	return errors.Is(err, notInstalled) && os.Getenv("CI") != "true"
}

// Missing skips t when err is notInstalled (outside CI, see Skippable) and fails it otherwise.
func Missing(t testing.TB, err, notInstalled error) {
	t.Helper()
	if Skippable(err, notInstalled) {
		t.Skip(err.Error())
	}
	t.Fatal(err)
}

// Program finds the program name of a Debian package: /usr/sbin/<name>, else name on PATH, else
// notInstalled.
func Program(name string, notInstalled error) (string, error) {
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", notInstalled
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FreePort is a TCP port of 127.0.0.1 that is free now. Another process can take it before the
// service binds it, so starters try a few times.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Accepts reports whether something accepts TCP connections at addr within 200 ms.
func Accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// SystemUser is the credential of the system user name (one a Debian package creates), for a
// service that refuses to run as root.
func SystemUser(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root needs the %s system user: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s user: %w", name, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Runner runs a package's tests: a *testing.M, or a RunFunc around another helper's Main
// (natstest.Main(svctest.RunFunc(func() int { return pgtest.Main(m, &pg) }), &nats)).
type Runner interface{ Run() int }

// RunFunc makes a function a Runner.
type RunFunc func() int

// Run calls f.
func (f RunFunc) Run() int { return f() }

// Service is a started service, or one that stands for a missing package.
type Service interface {
	// Unavailable is why there is no service; "" when there is one.
	Unavailable() string
	Stop() error
}

// Main is the body of a helper's Main for TestMain: it starts a service with start (bounded by
// timeout) into *srv, runs the tests and stops it, and returns the exit code. When the package
// is missing (Skippable), *srv is absent(reason) and the tests run (Require skips them); any
// other error fails before running anything. pkg prefixes the messages.
func Main[S Service](m Runner, srv *S, pkg string, notInstalled error, timeout time.Duration,
	start func(context.Context) (S, error), absent func(reason string) S) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	s, err := start(ctx)
	cancel()
	switch {
	case Skippable(err, notInstalled):
		*srv = absent(err.Error())
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, pkg+":", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, pkg+":", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Require is the body of a helper's Server.Require: it fails t when srv is nil (pkg.Main did
// not run) and skips t with the reason when the service is unavailable; else it returns srv.
func Require[T any, S interface {
	*T
	Service
}](t testing.TB, pkg string, srv S) S {
	t.Helper()
	if srv == nil {
		t.Fatalf("%s: no server: call %s.Main from TestMain", pkg, pkg)
	}
	if reason := srv.Unavailable(); reason != "" {
		t.Skip(pkg + ": " + reason)
	}
	return srv
}

// Process is a started service program. Its output is kept for failure messages.
type Process struct {
	cmd    *exec.Cmd
	group  bool
	exited chan struct{}
	log    *lockedLog
}

// StartProcess starts cmd (which must not have its Stdout or Stderr set) and collects its
// output. With group, the program runs in a process group of its own, which Kill and Stop
// signal whole: a program that forks its workers takes them along.
func StartProcess(cmd *exec.Cmd, group bool) (*Process, error) {
	p := &Process{cmd: cmd, group: group, exited: make(chan struct{}), log: &lockedLog{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	// Wait does not wait for the output of a worker that outlived a kill.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Log is what the program wrote so far.
func (p *Process) Log() string { return p.log.String() }

// PID is the program's process id (benchmarks read its CPU time).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// WaitReady calls ready every interval until it reports true (nil), the program exits or ctx
// ends (an error that carries the program's output). It does not stop the program.
func (p *Process) WaitReady(ctx context.Context, interval time.Duration, ready func() bool) error {
	for !ready() {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited:\n%s", p.cmd.Path, p.Log())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", p.cmd.Path, ctx.Err(), p.Log())
		case <-time.After(interval):
		}
	}
	return nil
}

// Kill ends the program (its group, when it has one) with SIGKILL and waits until it is gone.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// Stop asks the program to end (SIGINT) and kills it when it has not after grace.
func (p *Process) Stop(grace time.Duration) {
	p.signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}

func (p *Process) signal(sig syscall.Signal) {
	if p.group {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		return
	}
	_ = p.cmd.Process.Signal(sig)
}

// lockedLog collects a program's output, written by the exec package's copier and read by the
// test.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
