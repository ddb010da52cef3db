package api

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-voice/parley/internal/failwindow"
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

// newAuthLimiter returns nil (no limit) when max is negative; 0 values take the defaults.
func newAuthLimiter(max int, window time.Duration, now func() time.Time) *failwindow.Limiter {
	if max < 0 {
		return nil
	}
	if max == 0 {
		max = DefaultAuthFailures
	}
	if window <= 0 {
		window = DefaultAuthFailureWindow
	}
	return failwindow.New(max, window, authLimitSources, now)
}

// sourceOf is the address of a request's peer; the zero Addr when unknown.
func sourceOf(r *http.Request) netip.Addr { return failwindow.SourceOf(r) }
