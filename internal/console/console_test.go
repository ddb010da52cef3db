package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDomain keeps per-account rooms and records the commands it was given.
type fakeDomain struct {
	mu    sync.Mutex
	rooms map[string][]Room
	done  []string
}

func (f *fakeDomain) log(s string) {
	f.mu.Lock()
	f.done = append(f.done, s)
	f.mu.Unlock()
}

func (f *fakeDomain) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.done...)
}

func (f *fakeDomain) Lookup(id string) (string, bool) {
	tok, ok := map[string]string{"MA_A": "token-a", "MA_B": "token-b"}[id]
	return tok, ok
}
func (f *fakeDomain) Rooms(_ context.Context, acct string) ([]Room, error) { return f.rooms[acct], nil }
func (f *fakeDomain) Kick(_ context.Context, acct, room string, m int64) error {
	f.log(acct + " kick " + room)
	return nil
}
func (f *fakeDomain) Mute(context.Context, string, string, int64, bool) error   { return nil }
func (f *fakeDomain) Deaf(context.Context, string, string, int64, bool) error   { return nil }
func (f *fakeDomain) Hangup(context.Context, string, string, int64) error       { return nil }
func (f *fakeDomain) Play(context.Context, string, string, int64, string) error { return nil }
func (f *fakeDomain) Speak(_ context.Context, acct, room string, _ int64, text string) error {
	f.log(acct + " speak " + text)
	return nil
}
func (f *fakeDomain) Record(context.Context, string, string, bool) error { return nil }
func (f *fakeDomain) Live(context.Context, string) ([]Call, error)       { return nil, nil }
func (f *fakeDomain) Transfer(context.Context, string, string, string) error {
	return nil
}
func (f *fakeDomain) Recent(context.Context, string, int) ([]Delivery, error) { return nil, nil }
func (f *fakeDomain) List(context.Context, string, int) ([]Recording, error)  { return nil, nil }
func (f *fakeDomain) Delete(context.Context, string, string) error            { return nil }
func (f *fakeDomain) Open(_ context.Context, acct, id string) (io.ReadSeekCloser, Recording, error) {
	if acct != "MA_A" || id != "r1" {
		return nil, Recording{}, ErrNotFound
	}
	return nopCloser{strings.NewReader("RIFFdata")}, Recording{ID: "r1", Format: "wav"}, nil
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// calls is the fake's Calls (its Hangup differs from the rooms' one).
type calls struct{ *fakeDomain }

func (c calls) Hangup(context.Context, string, string) error { return nil }

type rig struct {
	t   *testing.T
	c   *Console
	srv *httptest.Server
	f   *fakeDomain
	now time.Time
	mu  sync.Mutex
}

func newRig(t *testing.T, opts Options) *rig {
	f := &fakeDomain{rooms: map[string][]Room{
		"MA_A": {{Name: "RoomA", Members: []Member{{ID: 1, From: "100", Talking: true}}}},
		"MA_B": {{Name: "RoomB"}},
	}}
	g := &rig{t: t, f: f, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Accounts, opts.Conferences, opts.Calls, opts.Deliveries, opts.Recordings = f, f, calls{f}, f, f
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Now = func() time.Time { g.mu.Lock(); defer g.mu.Unlock(); return g.now }
	g.c = New(opts)
	g.srv = httptest.NewServer(g.c)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *rig) advance(d time.Duration) { g.mu.Lock(); g.now = g.now.Add(d); g.mu.Unlock() }

// client is a browser-like client with a cookie jar.
func (g *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (g *rig) login(cl *http.Client, id, token string) (*http.Response, sessionBody) {
	g.t.Helper()
	res, err := cl.PostForm(g.srv.URL+pathLogin, url.Values{"auth_id": {id}, "auth_token": {token}})
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	var b sessionBody
	_ = json.NewDecoder(res.Body).Decode(&b)
	return res, b
}

func (g *rig) do(cl *http.Client, method, path, csrf, body string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.srv.URL+path, strings.NewReader(body))
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	res, err := cl.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestSignInCookieAndScope(t *testing.T) {
	g := newRig(t, Options{})
	cl := g.client()
	if st, _ := g.do(cl, "GET", pathSnapshot, "", ""); st != 401 {
		t.Fatalf("snapshot before sign-in: %d, want 401", st)
	}
	res, _ := g.login(cl, "MA_A", "token-b")
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token: %d with cookies %v, want 401 and none", res.StatusCode, res.Cookies())
	}
	if res, _ := g.login(cl, "MA_X", "token-a"); res.StatusCode != 401 {
		t.Fatalf("unknown account: %d, want 401", res.StatusCode)
	}
	res, sb := g.login(cl, "MA_A", "token-a")
	if res.StatusCode != 200 || sb.AuthID != "MA_A" || len(sb.CSRF) != 43 {
		t.Fatalf("sign-in: %d %+v", res.StatusCode, sb)
	}
	ck := res.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/console" ||
		ck[0].Secure || len(ck[0].Value) != 43 {
		t.Fatalf("session cookie %+v", ck)
	}
	st, body := g.do(cl, "GET", pathSnapshot, "", "")
	if st != 200 || !strings.Contains(body, `"RoomA"`) || strings.Contains(body, "RoomB") || !strings.Contains(body, `"talking":true`) {
		t.Fatalf("A's snapshot: %d %s", st, body)
	}
}

func TestCSRFRequired(t *testing.T) {
	g := newRig(t, Options{})
	cl := g.client()
	_, sb := g.login(cl, "MA_A", "token-a")
	kick := `{"do":"kick","room":"RoomA","member":1}`
	if st, _ := g.do(cl, "POST", pathAction, "", kick); st != 403 {
		t.Errorf("action without CSRF token: %d, want 403", st)
	}
	if st, _ := g.do(cl, "POST", pathAction, sb.CSRF+"x", kick); st != 403 {
		t.Errorf("action with a wrong CSRF token: %d, want 403", st)
	}
	if st, _ := g.do(cl, "POST", pathLogout, "", ""); st != 403 {
		t.Errorf("logout without CSRF token: %d, want 403", st)
	}
	if st, _ := g.do(cl, "GET", pathAction, sb.CSRF, ""); st != 405 {
		t.Errorf("GET of an action: %d, want 405", st)
	}
	if got := g.f.commands(); len(got) != 0 {
		t.Fatalf("refused actions ran: %v", got)
	}
	if st, body := g.do(cl, "POST", pathAction, sb.CSRF, kick); st != 200 {
		t.Fatalf("kick with token: %d %s", st, body)
	}
	if st, body := g.do(cl, "POST", pathAction, sb.CSRF, `{"do":"speak","room":"RoomA","text":"  "}`); st != 400 {
		t.Errorf("empty speak: %d %s, want 400", st, body)
	}
	if st, body := g.do(cl, "POST", pathAction, sb.CSRF, `{"do":"play","room":"RoomA","url":"file:///etc/passwd"}`); st != 400 {
		t.Errorf("play of a file URL: %d %s, want 400", st, body)
	}
	if got := g.f.commands(); len(got) != 1 || got[0] != "MA_A kick RoomA" {
		t.Fatalf("commands %v, want one kick by MA_A", got)
	}
	if st, _ := g.do(cl, "POST", pathLogout, sb.CSRF, ""); st != 200 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := g.do(cl, "GET", pathSnapshot, "", ""); st != 401 {
		t.Errorf("snapshot after logout: %d, want 401", st)
	}
}

func TestLoginFromAnotherSiteRefused(t *testing.T) {
	g := newRig(t, Options{})
	req, _ := http.NewRequest("POST", g.srv.URL+pathLogin, strings.NewReader("auth_id=MA_A&auth_token=token-a"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || len(res.Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d %v, want 403 and no cookie", res.StatusCode, res.Cookies())
	}
}

func TestLoginFailuresLimited(t *testing.T) {
	g := newRig(t, Options{LoginFailures: 3, LoginWindow: time.Minute})
	cl := g.client()
	for range 3 {
		if res, _ := g.login(cl, "MA_A", "guess"); res.StatusCode != 401 {
			t.Fatalf("failure: %d, want 401", res.StatusCode)
		}
	}
	res, _ := g.login(cl, "MA_A", "token-a")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "60" {
		t.Fatalf("right token over the limit: %d Retry-After %q, want 429 and 60", res.StatusCode, res.Header.Get("Retry-After"))
	}
	g.advance(time.Minute)
	if res, _ := g.login(cl, "MA_A", "token-a"); res.StatusCode != 200 {
		t.Fatalf("after the window: %d, want 200", res.StatusCode)
	}
}

func TestSessionsExpireAndAreBounded(t *testing.T) {
	g := newRig(t, Options{SessionTTL: time.Hour, MaxSessions: 2})
	first, second, third := g.client(), g.client(), g.client()
	g.login(first, "MA_A", "token-a")
	g.advance(time.Second)
	g.login(second, "MA_A", "token-a")
	g.advance(time.Second)
	g.login(third, "MA_B", "token-b")
	if st, _ := g.do(first, "GET", pathSnapshot, "", ""); st != 401 {
		t.Errorf("oldest session kept past MaxSessions: %d", st)
	}
	if st, _ := g.do(second, "GET", pathSnapshot, "", ""); st != 200 {
		t.Errorf("second session: %d", st)
	}
	g.advance(time.Hour)
	if st, _ := g.do(third, "GET", pathSnapshot, "", ""); st != 401 {
		t.Errorf("expired session: %d, want 401", st)
	}
}

func TestEventsOfTheAccountOnly(t *testing.T) {
	g := newRig(t, Options{})
	cl := g.client()
	g.login(cl, "MA_A", "token-a")
	req, _ := http.NewRequest("GET", g.srv.URL+pathEvents, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cl.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	rd := bufio.NewReader(res.Body)
	readEvent := func() string {
		var lines []string
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if l == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, l)
		}
	}
	if ev := readEvent(); !strings.Contains(ev, "event: hello") {
		t.Fatalf("first event %q, want hello", ev)
	}
	g.c.Publish(Event{Account: "MA_B", Kind: EventRoom, Room: "RoomB"})
	g.c.Publish(Event{Account: "MA_A", Kind: EventTalking, Room: "RoomA", Member: 1, Talking: true})
	if ev := readEvent(); ev != `data: {"kind":"talking","room":"RoomA","member":1,"talking":true}`+"\n" {
		t.Fatalf("event %q, want A's talking event only", ev)
	}
}

func TestRecordingStreamsForTheAccount(t *testing.T) {
	g := newRig(t, Options{})
	a, b := g.client(), g.client()
	g.login(a, "MA_A", "token-a")
	g.login(b, "MA_B", "token-b")
	if st, body := g.do(a, "GET", pathRecording+"?id=r1", "", ""); st != 200 || body != "RIFFdata" {
		t.Errorf("A's recording: %d %q", st, body)
	}
	if st, _ := g.do(b, "GET", pathRecording+"?id=r1", "", ""); st != 404 {
		t.Errorf("B reads A's recording: %d, want 404", st)
	}
	if st, _ := g.do(g.client(), "GET", pathRecording+"?id=r1", "", ""); st != 401 {
		t.Errorf("recording without a session: %d, want 401", st)
	}
}

func TestOwnsFixedPaths(t *testing.T) {
	for p, want := range map[string]bool{
		"/console": true, "/console/": true, "/console/app.js": true, "/console/events": true,
		"/console/../api": false, "/console/x": false, "/consolex": false, "/api/v1/": false,
	} {
		if Owns(p) != want {
			t.Errorf("Owns(%q) = %v", p, !want)
		}
	}
}

// An event stream outlives the listener's read and write timeouts: it extends its own
// deadlines, which the timeouts of ordinary answers would otherwise cut.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	g := newRig(t, Options{Heartbeat: 50 * time.Millisecond})
	srv := httptest.NewUnstartedServer(g.c)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	g.srv = srv
	cl := g.client()
	g.login(cl, "MA_A", "token-a")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+pathEvents, nil)
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	start := time.Now()
	for time.Since(start) < 1200*time.Millisecond {
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatalf("the stream ended after %v: %v", time.Since(start), err)
		}
	}
	g.c.Publish(Event{Account: "MA_A", Kind: EventCall})
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event after the timeouts: %v", err)
		}
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"call"`) {
			return
		}
	}
}
