package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
)

// checkAuth authenticates a request and answers it when it cannot go on: 429 with Retry-After
// for a source over the failed-authentication limit (checked before the credentials), 401 for
// wrong credentials (counted against the source).
func (s *server) checkAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	src := sourceOf(r)
	if s.authLimit != nil {
		if blocked, wait := s.authLimit.Blocked(src); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			s.writeError(w, http.StatusTooManyRequests, msgAuthLimited)
			return "", false
		}
	}
	account, ok := s.authenticate(r)
	if !ok {
		if s.authLimit != nil && s.authLimit.Failed(src) {
			s.log.Warn(authLimitedLogMsg, "source", src.String(), "failures", s.authLimit.Max(),
				"duration", s.authLimit.Window().String())
		}
		s.unauthorized(w, msgAuthFailed)
		return "", false
	}
	return account, true
}

// authenticate returns the account the request's credentials name (§1.2), or "" and false.
// Tokens are compared as SHA-256 digests in constant time, and an unknown account costs the
// same comparison, so neither the token length nor the account's existence leaks by timing.
func (s *server) authenticate(r *http.Request) (string, bool) {
	var id, token string
	_, hasID := r.Header["X-Auth-Id"]
	_, hasToken := r.Header["X-Auth-Token"]
	switch {
	case hasID || hasToken:
		if !hasID || !hasToken {
			return "", false
		}
		id, token = r.Header.Get("X-Auth-ID"), r.Header.Get("X-Auth-Token")
	default:
		var ok bool
		id, token, ok = r.BasicAuth()
		if !ok {
			return "", false
		}
	}
	if id == "" || s.opts.Accounts == nil {
		return "", false
	}
	want, known := s.opts.Accounts.Lookup(id)
	if !known {
		want = "\x00parley-unknown-account"
	}
	got := sha256.Sum256([]byte(token))
	exp := sha256.Sum256([]byte(want))
	match := subtle.ConstantTimeCompare(got[:], exp[:]) == 1
	return id, known && match
}

// unauthorized answers 401 with the challenge header every 401 carries.
func (s *server) unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="parley"`)
	s.writeError(w, http.StatusUnauthorized, msg)
}
