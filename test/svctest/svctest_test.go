package svctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var errNotInstalled = errors.New("frobd is not installed")

// fakeService records Stop.
type fakeService struct {
	reason  string
	stopped bool
	stopErr error
}

func (f *fakeService) Unavailable() string { return f.reason }
func (f *fakeService) Stop() error         { f.stopped = true; return f.stopErr }

func TestSkippable(t *testing.T) {
	wrapped := fmt.Errorf("frobtest: %w", errNotInstalled)
	t.Setenv("CI", "")
	if !Skippable(wrapped, errNotInstalled) {
		t.Error("a missing package outside CI is not skippable")
	}
	if Skippable(errors.New("frobd crashed"), errNotInstalled) {
		t.Error("another error is skippable")
	}
	t.Setenv("CI", "true")
	if Skippable(wrapped, errNotInstalled) {
		t.Error("a missing package under CI=true is skippable")
	}
}

func TestMainWithoutThePackage(t *testing.T) {
	start := func(context.Context) (*fakeService, error) { return nil, errNotInstalled }
	absent := func(reason string) *fakeService { return &fakeService{reason: reason} }

	t.Setenv("CI", "")
	var srv *fakeService
	ran := false
	code := Main(RunFunc(func() int { ran = true; return 7 }), &srv, "frobtest", errNotInstalled, time.Second, start, absent)
	if !ran || code != 7 {
		t.Fatalf("outside CI: ran %v, code %d; want the tests run and their code 7", ran, code)
	}
	if srv == nil || srv.Unavailable() != errNotInstalled.Error() {
		t.Fatalf("outside CI: server %+v, want one that says why it is missing", srv)
	}

	t.Setenv("CI", "true")
	srv, ran = nil, false
	code = Main(RunFunc(func() int { ran = true; return 0 }), &srv, "frobtest", errNotInstalled, time.Second, start, absent)
	if ran || code != 1 {
		t.Fatalf("under CI: ran %v, code %d; want no tests and code 1", ran, code)
	}
}

func TestMainStopsTheService(t *testing.T) {
	for _, tc := range []struct {
		name     string
		testCode int
		stopErr  error
		want     int
	}{
		{"tests pass", 0, nil, 0},
		{"tests fail", 3, nil, 3},
		{"stop fails", 0, errors.New("did not stop"), 1},
		{"both fail", 3, errors.New("did not stop"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := &fakeService{stopErr: tc.stopErr}
			var srv *fakeService
			code := Main(RunFunc(func() int {
				if srv != started {
					t.Error("the tests do not see the started service")
				}
				return tc.testCode
			}), &srv, "frobtest", errNotInstalled, time.Second,
				func(context.Context) (*fakeService, error) { return started, nil },
				func(string) *fakeService { t.Fatal("absent called for a started service"); return nil })
			if code != tc.want || !started.stopped {
				t.Fatalf("code %d, stopped %v; want %d and stopped", code, started.stopped, tc.want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	reached := false
	t.Run("unavailable", func(t *testing.T) {
		Require(t, "frobtest", &fakeService{reason: "no frobd"})
		reached = true
	})
	if reached {
		t.Error("Require went on for an unavailable service")
	}
	srv := &fakeService{}
	if got := Require(t, "frobtest", srv); got != srv {
		t.Errorf("Require returned %p, want the service %p", got, srv)
	}
}

func TestProgram(t *testing.T) {
	if _, err := Program("parley-no-such-program", errNotInstalled); !errors.Is(err, errNotInstalled) {
		t.Fatalf("a missing program: %v, want %v", err, errNotInstalled)
	}
	p, err := Program("sh", errNotInstalled)
	if err != nil || !strings.HasSuffix(p, "/sh") {
		t.Fatalf("sh: %q %v", p, err)
	}
}

func TestWaitReadyReportsTheExitWithTheOutput(t *testing.T) {
	p, err := StartProcess(exec.Command("sh", "-c", "echo frobd: bad config; exit 3"), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.WaitReady(ctx, 10*time.Millisecond, func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "frobd: bad config") {
		t.Fatalf("WaitReady: %v, want the exit with the program's output", err)
	}
}

func TestWaitReadyUntilReady(t *testing.T) {
	p, err := StartProcess(exec.Command("sleep", "60"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, time.Millisecond, func() bool { calls++; return calls == 3 }); err != nil || calls != 3 {
		t.Fatalf("WaitReady: %v after %d probes, want nil after 3", err, calls)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := p.WaitReady(short, 10*time.Millisecond, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady past its context: %v, want the deadline", err)
	}
}

// TestKillTakesTheGroup: a program that forks a worker loses it with the kill.
func TestKillTakesTheGroup(t *testing.T) {
	p, err := StartProcess(exec.Command("sh", "-c", "sleep 60 & echo $!; wait"), true)
	if err != nil {
		t.Fatal(err)
	}
	var worker int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, 10*time.Millisecond, func() bool {
		worker, _ = strconv.Atoi(strings.TrimSpace(p.Log()))
		return worker > 0
	}); err != nil {
		p.Kill()
		t.Fatal(err)
	}
	p.Kill()
	for deadline := time.Now().Add(5 * time.Second); alive(worker); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(worker, syscall.SIGKILL)
			t.Fatalf("worker %d outlived the kill of its group", worker)
		}
	}
}

func TestStopEndsTheProgram(t *testing.T) {
	p, err := StartProcess(exec.Command("sleep", "60"), false)
	if err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	p.Stop(5 * time.Second)
	if took := time.Since(begun); took > 4*time.Second {
		t.Fatalf("Stop took %v: SIGINT did not end sleep", took)
	}
}

// alive reports whether process pid runs; a zombie (gone, not yet reaped) does not.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}
