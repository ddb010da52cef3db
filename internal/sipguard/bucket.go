package sipguard

// bucket is a token bucket; tokens refill at the limit's rate up to its burst.
type bucket struct {
	tokens float64
	last   int64 // Unix nanoseconds of the last refill
}

// take refills the bucket up to now and takes one token if there is one.
func (b *bucket) take(l Limit, now int64) bool {
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = min(float64(l.Burst), b.tokens+float64(elapsed)*l.Rate/1e9)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
