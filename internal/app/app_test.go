package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/internal/store"
)

// TestCallerHangupLeavesNoCallGoroutines runs a real SIP call through an in-process server,
// hangs up during Speak, and checks that nothing of that call keeps running.
func TestCallerHangupLeavesNoCallGoroutines(t *testing.T) {
	var mu sync.Mutex
	var hangups []string
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.URL.Path {
		case "/answer":
			io.WriteString(w, `<Response><Speak loop="0">This repeats until the caller hangs up.</Speak></Response>`)
		case "/hangup":
			mu.Lock()
			hangups = append(hangups, r.Form.Get("HangupSource"))
			mu.Unlock()
		}
	}))
	defer web.Close()

	env := map[string]string{
		"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_SIP_ADDR": "127.0.0.1:0", "PARLEY_RTP_PORTS": "19000-19199",
		"PARLEY_DATA_DIR": t.TempDir(), "PARLEY_AUTH_ID": "MA_APPTEST1", "PARLEY_AUTH_TOKEN": "app-test-token",
		"PARLEY_ANSWER_URL": web.URL + "/answer", "PARLEY_HANGUP_URL": web.URL + "/hangup",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cl, err := client.Dial(ctx, "sip:14155550199@"+srv.sip.Addr().String(), siptest.DialOptions{From: "+14155550100"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-cl.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal("not answered")
	}
	time.Sleep(time.Second)
	if err := cl.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(hangups)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(hangups) != 1 || hangups[0] != "Caller" {
		t.Fatalf("hangup webhooks %v, want one with source Caller", hangups)
	}
	mu.Unlock()

	// Every goroutine of the call (flow, media reader and pump, SIP leg) must be gone.
	var leftover string
	for time.Now().Before(deadline.Add(5 * time.Second)) {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		leftover = ""
		for _, g := range strings.Split(buf.String(), "\n\n") {
			if strings.Contains(g, "internal/call.") || strings.Contains(g, "internal/flow.") ||
				strings.Contains(g, "internal/sip.(*inbound") || strings.Contains(g, "internal/sip.(*legCore") || strings.Contains(g, "internal/sip.(*legMedia") || strings.Contains(g, "internal/app.(*Server).handleInbound") {
				leftover += g + "\n\n"
			}
		}
		if leftover == "" && srv.calls.Len() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("goroutines of the ended call are still running (live calls %d):\n%s", srv.calls.Len(), leftover)
}

// TestConfigAppliedAtEveryStart: the account and default application from the environment are
// stored once and updated on the next start, never duplicated.
func TestConfigAppliedAtEveryStart(t *testing.T) {
	dir := t.TempDir()
	start := func(answerURL string) *Server {
		env := map[string]string{
			"PARLEY_DATA_DIR": dir, "PARLEY_AUTH_ID": "MA_APPTEST2", "PARLEY_AUTH_TOKEN": "tok-1",
			"PARLEY_ANSWER_URL": answerURL,
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	ctx := context.Background()
	s1 := start("https://app.example.com/one")
	apps, total, err := s1.store.ListApplications(ctx, "MA_APPTEST2", store.AppFilter{Limit: 100})
	if err != nil || total != 1 || apps[0].AnswerURL != "https://app.example.com/one" || !apps[0].DefaultNumberApp {
		t.Fatalf("first start: %d apps %+v %v", total, apps, err)
	}
	id := apps[0].AppID
	s1.Close()
	s2 := start("https://app.example.com/two")
	defer s2.Close()
	apps, total, err = s2.store.ListApplications(ctx, "MA_APPTEST2", store.AppFilter{Limit: 100})
	if err != nil || total != 1 {
		t.Fatalf("second start: %d apps, want 1 (%v)", total, err)
	}
	if apps[0].AppID != id || apps[0].AnswerURL != "https://app.example.com/two" {
		t.Fatalf("second start: app %+v, want %s updated to /two", apps[0], id)
	}
	accts, err := s2.store.ListAccounts(ctx)
	if err != nil || len(accts) != 1 || accts[0].AuthToken != "tok-1" {
		t.Fatalf("accounts %+v %v", accts, err)
	}
}
