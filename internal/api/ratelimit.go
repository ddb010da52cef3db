package api

import (
	"math"
	"sync"
	"time"
)

// rateLimiter is a token bucket per account (§1.8). Accounts come from configuration, so the
// map stays small; a mutex is enough for this cold structure.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int, now func() time.Time) *rateLimiter {
	if burst < 1 {
		burst = 1
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes one token from account's bucket. When none is left it returns false and the
// whole number of seconds (at least 1) until one will be.
func (l *rateLimiter) allow(account string) (ok bool, retryAfter int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[account]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[account] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := int(math.Ceil((1 - b.tokens) / l.rate))
	return false, max(wait, 1)
}

// refund gives back one token taken by allow, for work that was admitted but not done.
func (l *rateLimiter) refund(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[account]; b != nil {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
}
