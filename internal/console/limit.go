package console

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-voice/parley/internal/failwindow"
)

// loginLimitSources caps the addresses tracked.
const loginLimitSources = 4096

// newLoginLimiter counts failed sign-ins per source address (the same rule as the REST API's).
func newLoginLimiter(max int, window time.Duration, now func() time.Time) *failwindow.Limiter {
	return failwindow.New(max, window, loginLimitSources, now)
}

// sourceOf is the address of a request's peer; the zero Addr when unknown.
func sourceOf(r *http.Request) netip.Addr { return failwindow.SourceOf(r) }
