package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func tokens(authID string) (string, bool) {
	if authID == "MA_TEST" {
		return testToken, true
	}
	return "", false
}

// syncBuffer is a log sink safe for concurrent writes.
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

func fastOptions(logs *syncBuffer) DispatcherOptions {
	o := DispatcherOptions{
		HTTPOptions:  HTTPOptions{Version: "t", Timeout: 2 * time.Second},
		BaseBackoff:  20 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		PollInterval: 20 * time.Millisecond,
	}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// start runs d until the test ends or the returned stop is called.
func start(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func note(rc *receiver, key, event string) Notification {
	return Notification{AuthID: "MA_TEST", URL: rc.url("/hook"), Method: "POST", OrderKey: key,
		Params: url.Values{"Event": {event}, "Key": {key}}}
}

func TestNotifyRetriesWithSameDeliveryID(t *testing.T) {
	tests := []struct {
		name   string
		method string
		fail   func(n int, w http.ResponseWriter)
	}{
		{"500 twice, POST", "POST", func(n int, w http.ResponseWriter) { w.WriteHeader(500) }},
		{"404 then 503, GET", "GET", func(n int, w http.ResponseWriter) {
			w.WriteHeader(map[int]int{1: 404, 2: 503}[n])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n <= 2 {
					tt.fail(n, w)
					return
				}
				w.WriteHeader(204)
			})
			ob := NewMemoryOutbox()
			d := NewDispatcher(ob, tokens, fastOptions(nil))
			start(t, d)
			n := note(rc, "call-1", "Hangup")
			n.Method = tt.method
			if err := d.Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "three attempts", func() bool { return len(rc.got()) >= 3 && len(ob.Pending()) == 0 })
			time.Sleep(100 * time.Millisecond) // a resend would show up here
			hits := rc.got()
			if len(hits) != 3 {
				t.Fatalf("%d attempts, want 3", len(hits))
			}
			id := hits[0].header.Get(HeaderDeliveryID)
			if id == "" {
				t.Fatal("no delivery ID header")
			}
			nonces := map[string]bool{}
			for i, h := range hits {
				if got := h.header.Get(HeaderDeliveryID); got != id {
					t.Errorf("attempt %d: delivery ID %q, want %q", i+1, got, id)
				}
				if h.sigErr != nil {
					t.Errorf("attempt %d: %v", i+1, h.sigErr)
				}
				if h.method != tt.method || h.form.Get("Event") != "Hangup" {
					t.Errorf("attempt %d: %s with %v", i+1, h.method, h.form)
				}
				nonces[h.header.Get(HeaderSignatureV2Nonce)] = true
			}
			if len(nonces) != 3 {
				t.Error("a nonce was reused")
			}
		})
	}
}

func TestNotifyDeliveredOnce(t *testing.T) {
	rc := newReceiver(t, nil) // 200 OK
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, fastOptions(nil))
	start(t, d)
	for i := range 3 {
		if err := d.Notify(context.Background(), note(rc, fmt.Sprint("call-", i), "Hangup")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "delivery", func() bool { return len(rc.got()) >= 3 })
	time.Sleep(150 * time.Millisecond) // several poll intervals
	if n := len(rc.got()); n != 3 {
		t.Errorf("%d requests, want 3 (a 2xx is never sent again)", n)
	}
	if p := ob.Pending(); len(p) != 0 {
		t.Errorf("outbox still holds %v", p)
	}
}

func TestNotifyRejectsBadInput(t *testing.T) {
	d := NewDispatcher(NewMemoryOutbox(), tokens, fastOptions(nil))
	tests := []Notification{
		{AuthID: "MA_TEST", URL: "/relative"},
		{AuthID: "MA_TEST", URL: "mailto:x@example.com"},
		{AuthID: "MA_TEST", URL: "http://127.0.0.1/x", Method: "PUT"},
	}
	for _, n := range tests {
		if err := d.Notify(context.Background(), n); err == nil {
			t.Errorf("Notify(%+v) = nil, want an error", n)
		}
	}
}

// TestRestartResumes: a dispatcher stops while its receiver is down; a second one on the same
// outbox delivers the notification and keeps counting attempts.
func TestRestartResumes(t *testing.T) {
	var mu sync.Mutex
	up := false
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ob := NewMemoryOutbox()
	d1 := NewDispatcher(ob, tokens, fastOptions(nil))
	stop1 := start(t, d1)
	if err := d1.Notify(context.Background(), note(rc, "call-1", "Hangup")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two failed attempts", func() bool {
		p := ob.Pending()
		return len(p) == 1 && p[0].Attempts >= 2
	})
	stop1()
	left := ob.Pending()
	if len(left) != 1 || left[0].LastError == "" {
		t.Fatalf("after stop the outbox holds %+v, want one failed notification", left)
	}
	before := len(rc.got())
	if before != left[0].Attempts {
		t.Errorf("receiver saw %d attempts, outbox counts %d", before, left[0].Attempts)
	}
	mu.Lock()
	up = true
	mu.Unlock()

	d2 := NewDispatcher(ob, tokens, fastOptions(nil))
	start(t, d2)
	waitFor(t, "delivery after restart", func() bool { return len(ob.Pending()) == 0 })
	hits := rc.got()
	if len(hits) != before+1 {
		t.Errorf("%d requests in all, want %d", len(hits), before+1)
	}
	for _, h := range hits {
		if h.header.Get(HeaderDeliveryID) != left[0].ID {
			t.Errorf("delivery ID %q, want %q", h.header.Get(HeaderDeliveryID), left[0].ID)
		}
	}
}

// recordingOutbox counts Reschedule calls to check that the attempt count continues.
type recordingOutbox struct {
	*MemoryOutbox
	mu       sync.Mutex
	attempts []int
	dropped  []string
}

func (r *recordingOutbox) Reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	r.mu.Lock()
	r.attempts = append(r.attempts, attempts)
	r.mu.Unlock()
	return r.MemoryOutbox.Reschedule(ctx, id, attempts, next, lastError)
}

func (r *recordingOutbox) Drop(ctx context.Context, id string, reason string) error {
	r.mu.Lock()
	r.dropped = append(r.dropped, reason)
	r.mu.Unlock()
	return r.MemoryOutbox.Drop(ctx, id, reason)
}

func (r *recordingOutbox) seen() ([]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts...), append([]string(nil), r.dropped...)
}

func TestAttemptCountSurvivesRestart(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	ob := &recordingOutbox{MemoryOutbox: NewMemoryOutbox()}
	now := time.Now()
	// Left by a previous process after 4 failed attempts.
	prev := Notification{ID: "0b7f7a4e-1111-4222-8333-944445555666", AuthID: "MA_TEST", URL: rc.url("/h"), Method: "POST",
		Attempts: 4, CreatedAt: now.Add(-time.Minute), NextAttempt: now.Add(-time.Second), LastError: "HTTP status 500"}
	if err := ob.Enqueue(context.Background(), prev); err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(ob, tokens, fastOptions(nil))
	stop := start(t, d)
	waitFor(t, "a retry", func() bool { a, _ := ob.seen(); return len(a) >= 1 })
	stop()
	a, _ := ob.seen()
	if a[0] != 5 {
		t.Errorf("first attempt after restart recorded as %d, want 5", a[0])
	}
}

func TestMaxAgeDrop(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	tests := []struct {
		name      string
		createdAt time.Duration // relative to now
		wantHits  bool
	}{
		{"expires while retrying", 0, true},
		{"already too old at start", -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rc.got())
			logs := &syncBuffer{}
			o := fastOptions(logs)
			o.MaxAge = 200 * time.Millisecond
			ob := &recordingOutbox{MemoryOutbox: NewMemoryOutbox()}
			d := NewDispatcher(ob, tokens, o)
			start(t, d)
			n := note(rc, "call-1", "Hangup")
			if tt.createdAt != 0 {
				n.CreatedAt = time.Now().Add(tt.createdAt)
			}
			if err := d.Notify(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "drop", func() bool { _, dr := ob.seen(); return len(dr) == 1 })
			if p := ob.Pending(); len(p) != 0 {
				t.Errorf("outbox still holds %v", p)
			}
			hits := len(rc.got()) - before
			if (hits > 0) != tt.wantHits {
				t.Errorf("%d attempts, want attempts: %v", hits, tt.wantHits)
			}
			if !strings.Contains(logs.String(), "level=ERROR msg=\"webhook dropped\"") {
				t.Errorf("no error log for the drop; logs:\n%s", logs)
			}
		})
	}
}

func TestUnknownAccountDropped(t *testing.T) {
	rc := newReceiver(t, nil)
	logs := &syncBuffer{}
	ob := &recordingOutbox{MemoryOutbox: NewMemoryOutbox()}
	d := NewDispatcher(ob, tokens, fastOptions(logs))
	start(t, d)
	n := note(rc, "call-1", "Hangup")
	n.AuthID = "MA_GONE"
	if err := d.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drop", func() bool { _, dr := ob.seen(); return len(dr) == 1 })
	if len(rc.got()) != 0 {
		t.Error("a notification of an unknown account was sent")
	}
	if !strings.Contains(logs.String(), "MA_GONE") {
		t.Errorf("drop not logged:\n%s", logs)
	}
}

// TestOrderPerKey: first attempts of one key reach the receiver in event order even with
// several workers and a receiver that answers after random delays.
func TestOrderPerKey(t *testing.T) {
	const keys, events = 3, 12
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
	})
	o := fastOptions(nil)
	o.Workers = 6
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, o)
	for e := range events {
		for k := range keys {
			if err := d.Notify(context.Background(), note(rc, fmt.Sprint("key-", k), fmt.Sprint(e))); err != nil {
				t.Fatal(err)
			}
		}
	}
	start(t, d)
	waitFor(t, "all delivered", func() bool { return len(ob.Pending()) == 0 })
	order := map[string][]string{}
	for _, h := range rc.got() {
		order[h.form.Get("Key")] = append(order[h.form.Get("Key")], h.form.Get("Event"))
	}
	if len(order) != keys {
		t.Fatalf("got keys %v", order)
	}
	for k, evs := range order {
		if len(evs) != events {
			t.Errorf("key %s: %d events, want %d", k, len(evs), events)
		}
		for i, e := range evs {
			if e != fmt.Sprint(i) {
				t.Fatalf("key %s received events in order %v", k, evs)
			}
		}
	}
}

// TestRetryDoesNotHoldBack: when the first event of a key fails, the later ones go out before
// its retry.
func TestRetryDoesNotHoldBack(t *testing.T) {
	var mu sync.Mutex
	failed := false
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.FormValue("Event") == "0" && !failed {
			failed = true
			w.WriteHeader(500)
		}
	})
	o := fastOptions(nil)
	o.BaseBackoff = 300 * time.Millisecond
	o.MaxBackoff = time.Second
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, o)
	for e := range 3 {
		if err := d.Notify(context.Background(), note(rc, "room-1", fmt.Sprint(e))); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	waitFor(t, "all delivered", func() bool { return len(ob.Pending()) == 0 })
	var got []string
	for _, h := range rc.got() {
		got = append(got, h.form.Get("Event"))
	}
	if want := "0 1 2 0"; strings.Join(got, " ") != want {
		t.Errorf("receiver saw events %v, want %s", got, want)
	}
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		wantPending int
	}{
		{"delivers what is due", 200, 0},
		{"one pass, failures stay queued", 500, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) })
			ob := NewMemoryOutbox()
			d := NewDispatcher(ob, tokens, fastOptions(nil))
			for e := range 4 {
				if err := d.Notify(context.Background(), note(rc, fmt.Sprint("call-", e%2), fmt.Sprint(e))); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(rc.got()); n != 4 {
				t.Errorf("%d requests, want 4", n)
			}
			if n := len(ob.Pending()); n != tt.wantPending {
				t.Errorf("%d left in the outbox, want %d", n, tt.wantPending)
			}
		})
	}
}

func TestFlushStopsAtDeadline(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	ob := NewMemoryOutbox()
	d := NewDispatcher(ob, tokens, fastOptions(nil))
	if err := d.Notify(context.Background(), note(rc, "call-1", "Hangup")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Flush(ctx); err == nil {
		t.Error("Flush = nil, want the deadline error")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Flush took %v", el)
	}
	p := ob.Pending()
	if len(p) != 1 || p[0].Attempts != 0 {
		t.Errorf("outbox holds %+v, want the notification with its attempt not counted", p)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		rand     float64
		want     time.Duration
	}{
		{1, 0.5, time.Second},
		{2, 0.5, 2 * time.Second},
		{3, 0.5, 4 * time.Second},
		{1, 0, 800 * time.Millisecond},
		{1, 1, 1200 * time.Millisecond},
		{9, 0.5, 256 * time.Second},
		{10, 0.5, 5 * time.Minute},
		{10, 0, 4 * time.Minute},
		{1000, 1, 5 * time.Minute},
	}
	for _, tt := range tests {
		d := NewDispatcher(NewMemoryOutbox(), tokens, DispatcherOptions{Rand: func() float64 { return tt.rand }})
		if got := d.backoff(tt.attempts); got != tt.want {
			t.Errorf("backoff(%d) with rand %v = %v, want %v", tt.attempts, tt.rand, got, tt.want)
		}
	}
}

// countingOutbox counts the rows Due returns.
type countingOutbox struct {
	*MemoryOutbox
	rows, reads atomic.Int64
}

func (c *countingOutbox) Due(ctx context.Context, now time.Time, limit int) ([]Notification, error) {
	ns, err := c.MemoryOutbox.Due(ctx, now, limit)
	c.rows.Add(int64(len(ns)))
	c.reads.Add(1)
	return ns, err
}

// TestBacklogReadsEachRowAboutOnce: draining a backlog reads (and decodes) each row about
// once, not a window of BatchSize rows per delivery; every notification is sent exactly once.
func TestBacklogReadsEachRowAboutOnce(t *testing.T) {
	const total = 1500
	tests := []struct {
		name       string
		workers    int
		batch      int
		keyEvery   int // notifications share an OrderKey in runs of this length
		maxPerNote float64
	}{
		{"hangups, default workers", 0, 0, 1, 1.5},
		{"small batch", 8, 32, 1, 2},
		{"events of a room", 8, 64, 50, 5}, // a read waits for a quarter of its rows to start
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen[r.Header.Get(HeaderDeliveryID)]++
				mu.Unlock()
			})
			ob := &countingOutbox{MemoryOutbox: NewMemoryOutbox()}
			o := fastOptions(nil)
			o.Workers, o.BatchSize = tt.workers, tt.batch
			o.PollInterval = time.Hour // only wake-ups drive it
			d := NewDispatcher(ob, tokens, o)
			for i := range total {
				if err := d.Notify(context.Background(), note(rc, fmt.Sprint("key-", i/tt.keyEvery), fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			start(t, d)
			waitFor(t, "all delivered", func() bool { return len(ob.Pending()) == 0 })
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != total {
				t.Errorf("%d distinct deliveries, want %d", len(seen), total)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s sent %d times", id, n)
				}
			}
			if per := float64(ob.rows.Load()) / total; per > tt.maxPerNote {
				t.Errorf("read %.2f rows per notification in %d reads, want at most %v", per, ob.reads.Load(), tt.maxPerNote)
			}
		})
	}
}

// TestFlushBesideRun: a Flush during Run sends nothing twice and returns once all is done.
func TestFlushBesideRun(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(HeaderDeliveryID)]++
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(2)) * time.Millisecond)
	})
	ob := NewMemoryOutbox()
	o := fastOptions(nil)
	o.Workers, o.BatchSize = 6, 16
	d := NewDispatcher(ob, tokens, o)
	const total = 300
	for i := range total {
		if err := d.Notify(context.Background(), note(rc, fmt.Sprint("key-", i%7), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p := ob.Pending(); len(p) != 0 {
		t.Errorf("%d left after Flush", len(p))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Errorf("%d distinct deliveries, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
}
