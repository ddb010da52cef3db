package e2e

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// flakyReceiver is a hangup_url that refuses the first n attempts.
type flakyReceiver struct {
	refuse   int32
	attempts atomic.Int32
	mu       sync.Mutex
	ids      []string
	oks      int
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.attempts.Add(1)
	f.mu.Lock()
	f.ids = append(f.ids, r.Header.Get("X-Parley-Delivery-ID"))
	if n > f.refuse {
		f.oks++
	}
	f.mu.Unlock()
	if n <= f.refuse {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (f *flakyReceiver) snapshot() (ids []string, oks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...), f.oks
}

func sameIDs(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("delivery ids differ between attempts: %q", ids)
		}
	}
}

func TestHangupWebhookRetried(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak>Retry test.</Speak></Response>`)
	recv := &flakyReceiver{refuse: 2}
	w.Handle("/hangup", recv)
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitEnd(t, cl, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, oks := recv.snapshot(); oks > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids, oks := recv.snapshot()
	if oks != 1 || len(ids) != 3 {
		t.Fatalf("%d attempts with %d accepted, want 3 attempts and the third accepted", len(ids), oks)
	}
	sameIDs(t, ids)
	// A webhook answered 2xx is not sent again.
	time.Sleep(3 * time.Second)
	if ids2, _ := recv.snapshot(); len(ids2) != 3 {
		t.Fatalf("delivered webhook sent again: %d attempts", len(ids2))
	}
}

func TestHangupWebhookSurvivesRestart(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak>Restart test.</Speak></Response>`)
	// The receiver is down: its port is reserved, then closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_HANGUP_URL": "http://" + addr + "/hangup"}})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitEnd(t, cl, 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // at least one failed attempt
	if err := p.Stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// Receiver comes up, Parley starts again on the same data directory.
	recv := &flakyReceiver{}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: recv}
	go srv.Serve(ln2)
	t.Cleanup(func() { srv.Close() })
	p.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, oks := recv.snapshot(); oks > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids, oks := recv.snapshot()
	if oks != 1 {
		t.Fatalf("after restart the receiver got %d webhooks (%d attempts), want 1", oks, len(ids))
	}
	sameIDs(t, ids)
}

func TestGracefulShutdownDrainsCall(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak loop="0">Still talking during shutdown.</Speak></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_SHUTDOWN_GRACE": "2s"}})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "not answered")
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	// New calls are refused while draining.
	time.Sleep(300 * time.Millisecond)
	c2, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	second, err := c2.Dial(kit.Context(t, 5*time.Second), p.URI("14155550199"), siptest.DialOptions{From: kit.CallerNumber})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Settled():
	case <-time.After(5 * time.Second):
		t.Fatal("INVITE during drain got no final answer")
	}
	if st := second.FinalStatus(); st != 503 {
		t.Errorf("INVITE during drain answered %d, want 503", st)
	}
	kit.WaitEnd(t, cl, 15*time.Second)
	if el := time.Since(sent); el < 1500*time.Millisecond {
		t.Errorf("call ended %v after SIGTERM, before the 2 s grace", el)
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4000", "HangupSource": "Vobiz"})
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("parley did not exit after draining")
	}
}
