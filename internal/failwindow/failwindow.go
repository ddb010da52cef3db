// Package failwindow counts failed sign-ins per source address in fixed windows, the one rule
// behind the REST API's 429 and the console's sign-in limit. It imports nothing internal and
// must not answer requests itself: callers decide what a refusal looks like.
package failwindow

import (
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Limiter counts failures per source address in fixed windows that start at a source's first
// failure. Once a source reaches Max failures it is refused until its window ends, before its
// credentials are looked at: otherwise a right guess would still tell itself apart from a wrong
// one. At most capacity sources are tracked; when full, expired windows go first, then any one,
// so memory stays bounded under a spread-out attack.
type Limiter struct {
	max      int
	window   time.Duration
	capacity int
	now      func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]window
}

type window struct {
	start time.Time
	count int
}

// New returns a Limiter of max failures per window, tracking at most capacity sources.
func New(max int, win time.Duration, capacity int, now func() time.Time) *Limiter {
	return &Limiter{max: max, window: win, capacity: capacity, now: now, sources: map[netip.Addr]window{}}
}

// SourceOf is the address of a request's peer; the zero Addr when unknown.
func SourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Blocked reports whether src is over the limit, and the whole seconds (at least 1) until its
// window ends.
func (l *Limiter) Blocked(src netip.Addr) (bool, int) {
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

// Failed counts one failure from src; limited is true for the failure that reached the limit
// (once per window, for one log line).
func (l *Limiter) Failed(src netip.Addr) (limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.sources[src]
	if !ok || now.Sub(w.start) >= l.window {
		if !ok && len(l.sources) >= l.capacity {
			l.makeRoom(now)
		}
		w = window{start: now}
	}
	w.count++
	l.sources[src] = w
	return w.count == l.max
}

// makeRoom drops expired windows, then arbitrary ones until there is room for one more.
func (l *Limiter) makeRoom(now time.Time) {
	for k, w := range l.sources {
		if now.Sub(w.start) >= l.window {
			delete(l.sources, k)
		}
	}
	for k := range l.sources {
		if len(l.sources) < l.capacity {
			break
		}
		delete(l.sources, k)
	}
}

// Max is the number of failures that blocks a source.
func (l *Limiter) Max() int { return l.max }

// Window is how long a source's window lasts.
func (l *Limiter) Window() time.Duration { return l.window }
