package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// screenshotEnv names a file that TestConsole writes a screenshot of the console with a live
// room to (docs/console.png is made this way); unset, no screenshot is taken.
const screenshotEnv = "PARLEY_CONSOLE_SCREENSHOT"

// TestConsole drives the web console in headless Chromium: a wrong token cannot sign in; the
// right one shows three SIP callers in a room with the one sending a tone marked talking and
// the silent two not; clicking Kick on one makes that caller hear the next element of its
// document; account A never sees account B's room, nor B A's; and a POST without the CSRF
// token is refused.
func TestConsole(t *testing.T) {
	w := kit.NewApp(t)
	room := func(name string) string {
		return `<Response><Conference beep="false" stayAlone="true" callbackUrl="/events">` + name + `</Conference><Play>` +
			w.URL("/next.wav") + `</Play></Response>`
	}
	w.Tone("/next.wav", otherTone, 3*time.Second)
	w.DocsByFrom("/answer", map[string]string{"": room("Lobby")})
	w.XML("/answerB", room("SecretB"))
	w.OK("/hangup")
	w.OK("/events")
	p := suite.Start(t, kit.Options{Env: twoAccounts(t, w)})

	cs := newCallers(400, 0, 0)
	talker, quiet, kicked := cs[0], cs[1], cs[2]
	for _, c := range cs {
		c.join(t, p)
	}
	members(t, p, "Lobby", cs...)
	kit.NewPhone(t, "127.0.0.2").CallAnswered(t, p, "14155550199", siptest.DialOptions{From: "+14155550201"})
	membersAs(t, p, authIDB, authTokenB, "SecretB", 1)

	ctx := browser(t)
	page := p.HTTP + "/console/"
	must(t, "open the console", chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("auth_id"))))

	// A wrong token: an error, and the console stays closed.
	signIn(t, ctx, kit.AuthID, kit.AuthToken+"x")
	waitTrue(t, ctx, "a sign-in error is shown", `document.querySelector("#signin-error").textContent.length > 0`, 10*time.Second)
	if open := eval[bool](t, ctx, `!document.querySelector("#console-view").classList.contains("hidden")`); open {
		t.Fatal("the console opened with a wrong token")
	}
	if st := evalStatus(t, ctx, "/console/api/snapshot"); st != 401 {
		t.Fatalf("snapshot after a failed sign-in: %d, want 401", st)
	}

	// The right token: the room with its three members; the one sending a tone talks.
	eval[bool](t, ctx, `(document.querySelector("#auth_id").value = "", document.querySelector("#auth_token").value = "", true)`)
	signIn(t, ctx, kit.AuthID, kit.AuthToken)
	row := func(c *caller) string { return `document.querySelector('tr.member[data-member="` + c.id + `"]')` }
	waitTrue(t, ctx, "three members listed in Lobby",
		`document.querySelectorAll('.room[data-room="Lobby"] tr.member').length === 3`, 10*time.Second)
	waitTrue(t, ctx, "the talking caller marked", row(talker)+`.classList.contains("talking")`, 10*time.Second)
	// The silent callers have had as long as the talker to be marked; they must not be.
	time.Sleep(500 * time.Millisecond)
	for _, c := range []*caller{quiet, kicked} {
		if eval[bool](t, ctx, row(c)+`.classList.contains("talking")`) {
			t.Errorf("silent caller %s is marked talking", c.name)
		}
	}
	if got := eval[string](t, ctx, row(talker)+`.dataset.from`); got != talker.number() {
		t.Errorf("talking row's caller %q, want %s", got, talker.number())
	}
	// Account A sees nothing of B's.
	if eval[bool](t, ctx, `document.body.textContent.includes("SecretB")`) {
		t.Error("account A's console shows B's room SecretB")
	}
	if path := os.Getenv(screenshotEnv); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must(t, "screenshot", err)
		must(t, "write the screenshot", os.WriteFile(path, png, 0o644))
	}

	// Pushed by events: a caller who starts talking is marked in place (the row is the same
	// node: no snapshot was re-read), and one who hangs up leaves the page.
	eval[bool](t, ctx, row(quiet)+`.probe = true`)
	quiet.call.SetSource(kit.ToneSource(700))
	waitTrue(t, ctx, "the caller who started talking marked in place", row(quiet)+`.classList.contains("talking") && `+row(quiet)+`.probe === true`, 5*time.Second)
	gone := cs[1]
	must(t, "hang up "+gone.name, gone.call.Hangup(kit.Context(t, 5*time.Second)))
	waitTrue(t, ctx, "the member who hung up gone from the page", row(gone)+` === null`, 5*time.Second)
	waitTrue(t, ctx, "the webhook deliveries listed", `document.querySelector("#deliveries").textContent.includes("ConferenceExit")`, 5*time.Second)

	// Kick: the caller leaves the page's room (pushed by an event) and hears its next element.
	since := time.Now()
	must(t, "click Kick", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-act="kick"][data-member="`+kicked.id+`"]`))))
	waitTrue(t, ctx, "the kicked member gone from the page", row(kicked)+` === null`, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for kit.ToneFramesSince(kicked.call, otherTone, since) < 25 {
		if time.Now().After(deadline) {
			t.Fatalf("the kicked caller heard %d frames of the next element, want 25", kit.ToneFramesSince(kicked.call, otherTone, since))
		}
		time.Sleep(100 * time.Millisecond)
	}
	membersAs(t, p, kit.AuthID, kit.AuthToken, "Lobby", 1)

	// A plain client: B's console lists SecretB and not Lobby, and its POSTs need the token.
	cl, csrf := consoleSignIn(t, p, authIDB, authTokenB)
	st, body := consoleDo(t, cl, "GET", p.HTTP+"/console/api/snapshot", "", "")
	if st != 200 || !strings.Contains(body, `"SecretB"`) || strings.Contains(body, "Lobby") {
		t.Errorf("B's snapshot: %d %s, want SecretB only", st, body)
	}
	kick := `{"do":"kick","room":"Lobby","member":` + talker.id + `}`
	if st, body := consoleDo(t, cl, "POST", p.HTTP+"/console/api/action", "", kick); st != 403 {
		t.Errorf("POST without the CSRF token: %d %s, want 403", st, body)
	}
	if st, body := consoleDo(t, cl, "POST", p.HTTP+"/console/api/action", csrf, kick); st == 200 {
		t.Errorf("B kicked A's member: %d %s", st, body)
	}
	membersAs(t, p, kit.AuthID, kit.AuthToken, "Lobby", 1)

	// Record the room from the page, play the file through the console, delete it.
	lobby := `.room[data-room="Lobby"] `
	must(t, "click Record", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(lobby+`button[data-act="record"]`))))
	time.Sleep(1500 * time.Millisecond)
	must(t, "click Stop recording", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(lobby+`button[data-act="stop-record"]`))))
	recRow := `document.querySelector("#recordings tr[data-recording]")`
	waitTrue(t, ctx, "the recording listed", recRow+` !== null`, 10*time.Second)
	recID := eval[string](t, ctx, recRow+`.dataset.recording`)
	if st := evalStatus(t, ctx, "/console/recording?id="+url.QueryEscape(recID)); st != 200 {
		t.Errorf("the recording's audio: %d, want 200", st)
	}
	if st := evalStatus(t, ctx, "/console/recording?id=nosuch"); st != 404 {
		t.Errorf("an unknown recording: %d, want 404", st)
	}
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	must(t, "click Delete", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#recordings tr[data-recording] button[data-act="delete-recording"]`))))
	waitTrue(t, ctx, "the recording deleted", recRow+` === null`, 10*time.Second)
	if st := evalStatus(t, ctx, "/console/recording?id="+url.QueryEscape(recID)); st != 404 {
		t.Errorf("the deleted recording's audio: %d, want 404", st)
	}

	// Hang up the last call from the calls table: the server ends it.
	callUUID := eval[string](t, ctx, row(talker)+`.dataset.call`)
	must(t, "click Hang up", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#calls tr[data-call="`+callUUID+`"] button[data-act="hangup-call"]`))))
	kit.WaitEnd(t, talker.call, 10*time.Second)
	waitTrue(t, ctx, "no live conference left", `document.querySelector("#rooms").textContent.includes("No live conference")`, 10*time.Second)

	// A wrong token gets no session from a plain client either.
	res, err := http.PostForm(p.HTTP+"/console/login", url.Values{"auth_id": {authIDB}, "auth_token": {authTokenB + "x"}})
	must(t, "sign-in with a wrong token", err)
	res.Body.Close()
	if res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Errorf("wrong token: %d with cookies %v, want 401 and none", res.StatusCode, res.Cookies())
	}
}

// browser starts headless Chromium for the test. Chromium refuses to run as root with its
// sandbox, and CI runs the suite as root in a throwaway machine, so the sandbox is off: the
// browser only ever loads the local server's console.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run make deps-test (scripts/deps.sh test)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func signIn(t *testing.T, ctx context.Context, id, token string) {
	t.Helper()
	must(t, "sign in", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("auth_id"), id),
		chromedp.SendKeys(chromedp.ID("auth_token"), token),
		chromedp.Click(chromedp.ID("signin-button"))))
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	must(t, "evaluate "+expr, err)
	return v
}

// evalStatus is the status the page's own fetch of path gets (with the page's cookies).
func evalStatus(t *testing.T, ctx context.Context, path string) int {
	t.Helper()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch(`+strconv.Quote(path)+`, {credentials: "same-origin"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	must(t, "fetch "+path+" in the page", err)
	return st
}

// waitTrue waits until the page's expression is true.
func waitTrue(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+expr+`); } catch (e) { return false; } })()`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consoleSignIn signs a plain HTTP client in and returns it with the session's CSRF token.
func consoleSignIn(t *testing.T, p *kit.Server, id, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := cl.PostForm(p.HTTP+"/console/login", url.Values{"auth_id": {id}, "auth_token": {token}})
	must(t, "console sign-in", err)
	defer res.Body.Close()
	var b struct{ CSRF string }
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil || res.StatusCode != 200 || b.CSRF == "" {
		t.Fatalf("console sign-in of %s: %d %v", id, res.StatusCode, err)
	}
	return cl, b.CSRF
}

func consoleDo(t *testing.T, cl *http.Client, method, u, csrf, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	must(t, "request", err)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	res, err := cl.Do(req)
	must(t, method+" "+u, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
