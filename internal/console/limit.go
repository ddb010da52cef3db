package console

import (
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// loginLimiter counts failed sign-ins per source address in fixed windows that start at the
// first failure; a source that reaches the limit is refused until its window ends, before its
// credentials are looked at. The REST API has its own limiter of the same shape; the console
// keeps this small one rather than import api (which it must not) or share one of a different
// answer format. The map is bounded: when full, expired windows go first, then any one.
type loginLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]loginWindow
}

type loginWindow struct {
	start time.Time
	count int
}

// loginLimitSources caps the addresses tracked.
const loginLimitSources = 4096

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, sources: map[netip.Addr]loginWindow{}}
}

// sourceOf is the address of a request's peer; the zero Addr when unknown.
func sourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// blocked reports whether src is over the limit and the whole seconds (at least 1) left.
func (l *loginLimiter) blocked(src netip.Addr) (bool, int) {
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

// failed counts one failed sign-in from src.
func (l *loginLimiter) failed(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.sources[src]
	if !ok || now.Sub(w.start) >= l.window {
		if !ok && len(l.sources) >= loginLimitSources {
			l.makeRoom(now)
		}
		w = loginWindow{start: now}
	}
	w.count++
	l.sources[src] = w
}

// makeRoom drops expired windows, then arbitrary ones until there is room for one more.
func (l *loginLimiter) makeRoom(now time.Time) {
	for k, o := range l.sources {
		if now.Sub(o.start) >= l.window {
			delete(l.sources, k)
		}
	}
	for k := range l.sources {
		if len(l.sources) < loginLimitSources {
			break
		}
		delete(l.sources, k)
	}
}
