package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// The console's paths. All are fixed (arguments go in the query or the body), so the HTTP
// listener can route them by exact match, as it does its other own paths.
const (
	pathRoot      = "/console"
	pathIndex     = "/console/"
	pathJS        = "/console/app.js"
	pathCSS       = "/console/app.css"
	pathLogin     = "/console/login"
	pathLogout    = "/console/logout"
	pathSnapshot  = "/console/api/snapshot"
	pathAction    = "/console/api/action"
	pathEvents    = "/console/events"
	pathRecording = "/console/recording"
)

// Owns reports whether path (as escaped on the wire) is one of the console's.
func Owns(path string) bool {
	switch path {
	case pathRoot, pathIndex, pathJS, pathCSS, pathLogin, pathLogout, pathSnapshot, pathAction, pathEvents, pathRecording:
		return true
	}
	return false
}

// Limits of the lists a snapshot carries and of request bodies.
const (
	listLimit    = 50
	maxBodyBytes = 16 << 10
	maxTextRunes = 1000
	// writeWindow is how long one write of the event stream may take; the listener's write
	// timeout would otherwise end every stream.
	writeWindow = 30 * time.Second
)

// contentSecurityPolicy allows the console's own files only: no inline script or style.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// ServeHTTP answers the console's paths; anything else is 404.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	switch r.URL.EscapedPath() {
	case pathRoot:
		http.Redirect(w, r, pathIndex, http.StatusFound)
	case pathIndex:
		c.asset(w, r, "assets/index.html", "text/html; charset=utf-8")
	case pathJS:
		c.asset(w, r, "assets/app.js", "text/javascript; charset=utf-8")
	case pathCSS:
		c.asset(w, r, "assets/app.css", "text/css; charset=utf-8")
	case pathLogin:
		c.login(w, r)
	case pathLogout:
		c.withSession(w, r, true, c.logout)
	case pathSnapshot:
		c.withSession(w, r, false, c.snapshot)
	case pathAction:
		c.withSession(w, r, true, c.action)
	case pathEvents:
		c.withSession(w, r, false, c.events)
	case pathRecording:
		c.withSession(w, r, false, c.recording)
	default:
		http.NotFound(w, r)
	}
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request, name, contentType string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	body, err := assets.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	_, _ = w.Write(body)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method not allowed"})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// withSession runs fn for a request of a signed-in browser. A state-changing request (post)
// must be a POST carrying the session's CSRF token: 403 without it.
func (c *Console) withSession(w http.ResponseWriter, r *http.Request, post bool, fn func(http.ResponseWriter, *http.Request, *session)) {
	if post && r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if !post && r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	x := c.sessions.fromRequest(r)
	if x == nil {
		writeJSON(w, http.StatusUnauthorized, errorBody{"not signed in"})
		return
	}
	if post && !x.csrfOK(r) {
		c.log.Warn("console request refused: missing or wrong CSRF token", "account", x.account, "path", r.URL.Path)
		writeJSON(w, http.StatusForbidden, errorBody{"missing or wrong CSRF token"})
		return
	}
	fn(w, r, x)
}

// sameOrigin reports whether a request's Origin, when sent, is this server: a sign-in form on
// another site must not sign a browser in (login CSRF), and SameSite does not cover it.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

type sessionBody struct {
	AuthID string `json:"auth_id"`
	CSRF   string `json:"csrf"`
}

// login checks auth_id and auth_token (form fields) like the REST API does and starts a
// session. Failures are counted per source address.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, errorBody{"sign-in from another site refused"})
		return
	}
	src := sourceOf(r)
	if blocked, wait := c.limiter.Blocked(src); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeJSON(w, http.StatusTooManyRequests, errorBody{"too many failed sign-ins; try again later"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"unreadable sign-in form"})
		return
	}
	id, token := r.PostForm.Get("auth_id"), r.PostForm.Get("auth_token")
	if !c.credentialsOK(id, token) {
		c.limiter.Failed(src)
		c.log.Warn("console sign-in failed", "source", src.String(), "auth_id", id)
		writeJSON(w, http.StatusUnauthorized, errorBody{"wrong auth_id or auth_token"})
		return
	}
	if old := c.sessions.fromRequest(r); old != nil {
		c.sessions.drop(old.id)
	}
	x := c.sessions.create(id)
	http.SetCookie(w, x.cookie(r.TLS != nil, c.opts.SessionTTL))
	c.log.Info("console sign-in", "account", id, "source", src.String())
	writeJSON(w, http.StatusOK, sessionBody{AuthID: id, CSRF: x.csrf})
}

// credentialsOK compares the token with the account's as SHA-256 digests in constant time;
// an unknown account costs the same comparison.
func (c *Console) credentialsOK(id, token string) bool {
	if id == "" || token == "" {
		return false
	}
	want, known := c.opts.Accounts.Lookup(id)
	if !known {
		want = "\x00unknown account"
	}
	got, exp := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1 && known
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, x *session) {
	c.sessions.drop(x.id)
	http.SetCookie(w, clearCookie(r.TLS != nil))
	writeJSON(w, http.StatusOK, struct{}{})
}

// snapshotBody is everything the page shows, read at one moment.
type snapshotBody struct {
	AuthID     string      `json:"auth_id"`
	CSRF       string      `json:"csrf"`
	Now        time.Time   `json:"now"`
	Rooms      []Room      `json:"rooms"`
	Calls      []Call      `json:"calls"`
	Deliveries []Delivery  `json:"deliveries"`
	Recordings []Recording `json:"recordings"`
	Errors     []string    `json:"errors,omitempty"`
}

// snapshot reads the account's rooms, calls, deliveries and recordings concurrently. A part
// that fails is reported and left empty, so one broken view does not blank the others.
func (c *Console) snapshot(w http.ResponseWriter, r *http.Request, x *session) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	body := snapshotBody{AuthID: x.account, CSRF: x.csrf, Now: c.opts.Now().UTC(),
		Rooms: []Room{}, Calls: []Call{}, Deliveries: []Delivery{}, Recordings: []Recording{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	part := func(what string, read func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := read(); err != nil {
				c.log.Warn("console snapshot part failed", "part", what, "account", x.account, "err", err)
				mu.Lock()
				body.Errors = append(body.Errors, what+": "+err.Error())
				mu.Unlock()
			}
		}()
	}
	part("conferences", func() (err error) {
		rooms, err := c.opts.Conferences.Rooms(ctx, x.account)
		if rooms != nil {
			body.Rooms = rooms
		}
		return err
	})
	part("calls", func() error {
		calls, err := c.opts.Calls.Live(ctx, x.account)
		if calls != nil {
			body.Calls = calls
		}
		return err
	})
	part("webhook deliveries", func() error {
		ds, err := c.opts.Deliveries.Recent(ctx, x.account, listLimit)
		if ds != nil {
			body.Deliveries = ds
		}
		return err
	})
	part("recordings", func() error {
		rs, err := c.opts.Recordings.List(ctx, x.account, listLimit)
		if rs != nil {
			body.Recordings = rs
		}
		return err
	})
	wg.Wait()
	writeJSON(w, http.StatusOK, body)
}

// actionBody is one command from the page.
type actionBody struct {
	Do        string `json:"do"`
	Room      string `json:"room"`
	Member    int64  `json:"member"`
	Call      string `json:"call"`
	Recording string `json:"recording"`
	URL       string `json:"url"`
	Text      string `json:"text"`
}

// errInput is an action the page should not have sent.
type errInput string

func (e errInput) Error() string { return string(e) }

func (c *Console) action(w http.ResponseWriter, r *http.Request, x *session) {
	var a actionBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&a); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"unreadable action"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err := c.run(ctx, x.account, a)
	var bad errInput
	switch {
	case err == nil:
		c.log.Info("console action", "account", x.account, "do", a.Do, "conference", a.Room, "member_id", a.Member, "call_uuid", a.Call)
		writeJSON(w, http.StatusOK, struct{}{})
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{"not found"})
	default:
		c.log.Warn("console action failed", "account", x.account, "do", a.Do, "err", err)
		writeJSON(w, http.StatusConflict, errorBody{err.Error()})
	}
}

// run applies one action for account through the domain adapters.
func (c *Console) run(ctx context.Context, account string, a actionBody) error {
	conf, calls := c.opts.Conferences, c.opts.Calls
	needRoom := func() error {
		if a.Room == "" {
			return errInput("room is missing")
		}
		return nil
	}
	needMember := func() error {
		if err := needRoom(); err != nil {
			return err
		}
		if a.Member <= 0 {
			return errInput("member is missing")
		}
		return nil
	}
	switch a.Do {
	case "kick", "mute", "unmute", "deaf", "undeaf":
		if err := needMember(); err != nil {
			return err
		}
		switch a.Do {
		case "kick":
			return conf.Kick(ctx, account, a.Room, a.Member)
		case "mute", "unmute":
			return conf.Mute(ctx, account, a.Room, a.Member, a.Do == "mute")
		default:
			return conf.Deaf(ctx, account, a.Room, a.Member, a.Do == "deaf")
		}
	case "hangup-member":
		if err := needRoom(); err != nil {
			return err
		}
		return conf.Hangup(ctx, account, a.Room, max(a.Member, AllMembers))
	case "play":
		if err := needRoom(); err != nil {
			return err
		}
		if err := webURL(a.URL); err != nil {
			return err
		}
		return conf.Play(ctx, account, a.Room, max(a.Member, AllMembers), a.URL)
	case "speak":
		if err := needRoom(); err != nil {
			return err
		}
		text := strings.TrimSpace(a.Text)
		if text == "" || len([]rune(text)) > maxTextRunes {
			return errInput(fmt.Sprintf("text must have 1 to %d characters", maxTextRunes))
		}
		return conf.Speak(ctx, account, a.Room, max(a.Member, AllMembers), text)
	case "record", "stop-record":
		if err := needRoom(); err != nil {
			return err
		}
		return conf.Record(ctx, account, a.Room, a.Do == "record")
	case "hangup-call":
		if a.Call == "" {
			return errInput("call is missing")
		}
		return calls.Hangup(ctx, account, a.Call)
	case "transfer":
		if a.Call == "" {
			return errInput("call is missing")
		}
		if err := webURL(a.URL); err != nil {
			return err
		}
		return calls.Transfer(ctx, account, a.Call, a.URL)
	case "delete-recording":
		if a.Recording == "" {
			return errInput("recording is missing")
		}
		return c.opts.Recordings.Delete(ctx, account, a.Recording)
	}
	return errInput(fmt.Sprintf("unknown action %q", a.Do))
}

// webURL accepts absolute http and https URLs.
func webURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errInput("url must be an absolute http or https URL")
	}
	return nil
}

// events streams the account's events as server-sent events until the page goes away or the
// session ends. The first event is "hello": the page reads a snapshot on every (re)connect,
// so it is correct whatever it missed while disconnected.
func (c *Console) events(w http.ResponseWriter, r *http.Request, x *session) {
	s := c.hub.subscribe(x.account)
	if s == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"too many open consoles for this account"})
		return
	}
	defer c.hub.unsubscribe(x.account, s)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	send := func(data string) bool {
		// Each write gets its own deadline: the listener's write timeout is for ordinary
		// answers, and a stream lives far longer.
		if err := rc.SetWriteDeadline(time.Now().Add(writeWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := fmt.Fprint(w, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\nevent: hello\ndata: {}\n\n") {
		return
	}
	heartbeat := time.NewTicker(c.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			if !c.sessions.live(x) {
				send("event: signedout\ndata: {}\n\n")
				return
			}
			if !send(": keep-alive\n\n") {
				return
			}
		case ev := <-s.ch:
			if s.missed.Swap(false) {
				ev = Event{Kind: eventResync}
			}
			data, _ := json.Marshal(ev)
			if !send("data: " + string(data) + "\n\n") {
				return
			}
		}
	}
}

// recording streams a recording file (id in the query) for the browser's audio element, or
// as a download with download=1.
func (c *Console) recording(w http.ResponseWriter, r *http.Request, x *session) {
	id := r.URL.Query().Get("id")
	f, rec, err := c.opts.Recordings.Open(r.Context(), x.account, id)
	if errors.Is(err, ErrNotFound) || id == "" {
		writeJSON(w, http.StatusNotFound, errorBody{"recording not found"})
		return
	}
	if err != nil {
		c.log.Error("console: opening a recording failed", "recording_id", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"the recording cannot be read"})
		return
	}
	defer f.Close()
	ct := "audio/wav"
	if rec.Format == "mp3" {
		ct = "audio/mpeg"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, no-cache")
	if r.URL.Query().Get("download") == "1" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+safeName(rec.ID)+"."+safeName(rec.Format)+`"`)
	}
	http.ServeContent(w, r, "", rec.Added, f)
}

// safeName keeps the characters a file name in a header may safely have.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
}
