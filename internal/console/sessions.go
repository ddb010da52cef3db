package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie; it is scoped to the console's paths.
const cookieName = "parley_console"

// csrfHeader carries the session's CSRF token on every state-changing request.
const csrfHeader = "X-CSRF-Token"

// session is one signed-in browser.
type session struct {
	id      string
	account string
	csrf    string
	expires time.Time
}

// sessionStore keeps sessions in memory: a restart signs everyone out, which is fine for an
// operators' console. It is bounded; a cold structure, so a mutex is enough.
type sessionStore struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore(ttl time.Duration, max int, now func() time.Time) *sessionStore {
	return &sessionStore{ttl: ttl, max: max, now: now, m: map[string]*session{}}
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (it panics on a broken system)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for account, making room by dropping expired sessions and then the
// one that expires first.
func (s *sessionStore) create(account string) *session {
	now := s.now()
	x := &session{id: randomToken(), account: account, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		for id, o := range s.m {
			if !now.Before(o.expires) {
				delete(s.m, id)
			}
		}
	}
	for len(s.m) >= s.max {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[x.id] = x
	return x
}

// get returns the live session with that id, or nil.
func (s *sessionStore) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[id]
	if x == nil {
		return nil
	}
	if !s.now().Before(x.expires) {
		delete(s.m, id)
		return nil
	}
	return x
}

func (s *sessionStore) drop(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// live reports whether the session still exists and has not expired.
func (s *sessionStore) live(x *session) bool { return s.get(x.id) == x }

// fromRequest is the request's session, or nil.
func (s *sessionStore) fromRequest(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil
	}
	return s.get(ck.Value)
}

// csrfOK checks the request's CSRF header against the session's token in constant time.
func (x *session) csrfOK(r *http.Request) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(x.csrf)) == 1
}

// cookie is the session cookie: HttpOnly, SameSite=Strict, Secure when the console is served
// over TLS, scoped to /console, expiring with the session (Max-Age, relative, so the browser's
// clock does not matter).
func (x *session) cookie(secure bool, ttl time.Duration) *http.Cookie {
	return &http.Cookie{
		Name: cookieName, Value: x.id, Path: "/console", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}

// clearCookie removes the session cookie from the browser.
func clearCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name: cookieName, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	}
}
