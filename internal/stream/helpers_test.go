package stream

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testApp is an in-process app: a WebSocket server that records what Parley sends.
type testApp struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *appConn
	// handle, when set, runs instead of the default reading loop.
	handle func(c *appConn)
	// reject, when set before the session starts, refuses an upgrade when it returns true.
	reject func() bool
}

type appConn struct {
	ws     *websocket.Conn
	req    *http.Request
	msgs   chan []byte
	closed chan websocket.StatusCode // the close status the reading loop saw
}

func newTestApp(t *testing.T, handle func(c *appConn)) *testApp {
	t.Helper()
	a := &testApp{t: t, conns: make(chan *appConn, 16), handle: handle}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.reject != nil && a.reject() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ws.SetReadLimit(MaxMessage)
		c := &appConn{ws: ws, req: r, msgs: make(chan []byte, 100000), closed: make(chan websocket.StatusCode, 1)}
		a.conns <- c
		if a.handle != nil {
			a.handle(c)
			return
		}
		c.readLoop()
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (c *appConn) readLoop() {
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.closed <- websocket.CloseStatus(err)
			close(c.msgs)
			return
		}
		c.msgs <- data
	}
}

func (a *testApp) url() string {
	return "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/ws/secret?lang=hi&x=1"
}

func (a *testApp) accept() *appConn {
	a.t.Helper()
	select {
	case c := <-a.conns:
		return c
	case <-time.After(5 * time.Second):
		a.t.Fatal("the session did not connect")
	}
	return nil
}

// next returns the next message whose event is one of events (others are skipped).
func (c *appConn) next(t *testing.T, events ...string) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case b, ok := <-c.msgs:
			if !ok {
				t.Fatalf("socket closed while waiting for %v", events)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("Parley sent bad JSON %q: %v", b, err)
			}
			for _, e := range events {
				if m["event"] == e {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %v message", events)
		}
	}
}

func (c *appConn) send(t *testing.T, msg string) {
	t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("app write: %v", err)
	}
}

// events records what OnEvent and OnSendDTMF receive.
type events struct {
	mu   sync.Mutex
	list []Event
	dtmf []string
	ch   chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 1000)} }

func (e *events) on(ev Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
	e.ch <- ev
}

func (e *events) onDTMF(d string) {
	e.mu.Lock()
	e.dtmf = append(e.dtmf, d)
	e.mu.Unlock()
}

func (e *events) wait(t *testing.T, kind EventKind) Event {
	t.Helper()
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind {
				return ev
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", kind)
		}
	}
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.list {
		out = append(out, string(ev.Kind))
	}
	return out
}

func (e *events) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.list...)
}

// startSession starts a session against the app with test-friendly defaults.
func startSession(t *testing.T, a *testApp, ev *events, mod func(*Config)) *Session {
	t.Helper()
	cfg := Config{
		URL:        a.url(),
		CallUUID:   "5401fd2e-6344-40df-a22c-c8ffea7a92e7",
		AccountID:  "MA_TEST",
		OnEvent:    ev.on,
		OnSendDTMF: ev.onDTMF,
		Backoff:    func(int) time.Duration { return 10 * time.Millisecond },
		Logger:     slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	s := Start(cfg)
	t.Cleanup(func() {
		s.Stop()
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Error("session did not end")
		}
	})
	return s
}

func waitDone(t *testing.T, s *Session) EndReason {
	t.Helper()
	select {
	case <-s.Done():
		return s.EndReason()
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
	return EndNone
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
