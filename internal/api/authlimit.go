package api

import (
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the limit on failed REST authentications per source address.
const (
	DefaultAuthFailures      = 10
	DefaultAuthFailureWindow = time.Minute
	// authLimitSources caps the source addresses tracked; when full, expired windows are
	// dropped and then an arbitrary one, so memory stays bounded under a spread-out attack.
	authLimitSources = 16384
)

// msgAuthLimited is the error text of a source refused after too many failed authentications.
const msgAuthLimited = "too many failed authentications"

// The log line of a source reaching the limit; docs/security.md gives a fail2ban filter for it.
const authLimitedLogMsg = "parley rest auth limit"

// authLimiter counts failed authentications per source address in fixed windows that start at
// a source's first failure. Once a source reaches max failures, every request from it is
// refused with 429 until the window ends, before its credentials are looked at: otherwise a
// right guess would still tell itself apart from a wrong one.
type authLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]authWindow
}

type authWindow struct {
	start time.Time
	count int
}

// newAuthLimiter returns nil (no limit) when max is negative.
func newAuthLimiter(max int, window time.Duration, now func() time.Time) *authLimiter {
	if max < 0 {
		return nil
	}
	if max == 0 {
		max = DefaultAuthFailures
	}
	if window <= 0 {
		window = DefaultAuthFailureWindow
	}
	return &authLimiter{max: max, window: window, now: now, sources: map[netip.Addr]authWindow{}}
}

// sourceOf is the address of a request's peer; the zero Addr when unknown.
func sourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// blocked reports whether src is over the limit, and the whole seconds (at least 1) until its
// window ends.
func (l *authLimiter) blocked(src netip.Addr) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.sources[src]
	if !ok || w.count < l.max {
		return false, 0
	}
	left := w.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.sources, src)
		return false, 0
	}
	return true, max(int(math.Ceil(left.Seconds())), 1)
}

// failed counts one failed authentication from src; limited is true for the failure that
// reached the limit (once per window, for one log line).
func (l *authLimiter) failed(src netip.Addr) (limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.sources[src]
	if !ok || now.Sub(w.start) >= l.window {
		if !ok && len(l.sources) >= authLimitSources {
			l.makeRoom(now)
		}
		w = authWindow{start: now}
	}
	w.count++
	l.sources[src] = w
	return w.count == l.max
}

// makeRoom drops expired windows, and one arbitrary window if none had expired.
func (l *authLimiter) makeRoom(now time.Time) {
	for k, w := range l.sources {
		if now.Sub(w.start) >= l.window {
			delete(l.sources, k)
		}
	}
	for k := range l.sources {
		if len(l.sources) < authLimitSources {
			break
		}
		delete(l.sources, k)
	}
}
