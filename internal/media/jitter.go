package media

import "sync"

// Jitter queue defaults: 40 ms of priming absorbs ordinary network jitter; 120 ms of
// capacity bounds the delay a bursty sender can build up.
const (
	DefaultJitterPrime    = 2
	DefaultJitterCapacity = 6
)

// JitterQueue is a small ring of decoded 20 ms frames between one producer (the RTP reader)
// and one consumer (the mixer tick). It yields nothing until it holds prime frames, drops the
// oldest frame when full, and primes again after it runs dry, so a late sender costs one gap
// rather than a stutter on every tick. Safe for concurrent Push and Pop.
type JitterQueue struct {
	mu      sync.Mutex
	frames  [][FrameSamples]int16
	head    int // index of the oldest frame
	count   int
	prime   int
	priming bool
	dropped uint64
	starved uint64
	pushed  uint64
	popped  uint64
}

// JitterStats are a queue's counters since it was created.
type JitterStats struct {
	Pushed  uint64 // frames received
	Popped  uint64 // frames handed to the consumer
	Dropped uint64 // oldest frames discarded because the queue was full
	Starved uint64 // times the consumer found the queue empty after it had been flowing
	Len     int    // frames waiting now
}

// NewJitterQueue returns a queue that primes prime frames and holds at most capacity frames
// (0 or less selects the defaults; prime is capped at capacity).
func NewJitterQueue(prime, capacity int) *JitterQueue {
	if capacity <= 0 {
		capacity = DefaultJitterCapacity
	}
	if prime <= 0 {
		prime = DefaultJitterPrime
	}
	return &JitterQueue{
		frames:  make([][FrameSamples]int16, capacity),
		prime:   min(prime, capacity),
		priming: true,
	}
}

// Push copies one frame in (a short frame is padded with silence, a long one truncated). When
// the queue is full the oldest frame is dropped.
func (q *JitterQueue) Push(frame []int16) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count == len(q.frames) {
		q.head = (q.head + 1) % len(q.frames)
		q.count--
		q.dropped++
	}
	slot := &q.frames[(q.head+q.count)%len(q.frames)]
	n := copy(slot[:], frame)
	clear(slot[n:])
	q.count++
	q.pushed++
}

// Pop copies the oldest frame into dst and reports true, or reports false (leaving dst alone)
// while the queue is priming or empty.
func (q *JitterQueue) Pop(dst []int16) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.priming {
		if q.count < q.prime {
			return false
		}
		q.priming = false
	}
	if q.count == 0 {
		q.priming = true
		q.starved++
		return false
	}
	copy(dst, q.frames[q.head][:])
	q.head = (q.head + 1) % len(q.frames)
	q.count--
	q.popped++
	return true
}

// Reset empties the queue and makes it prime again; the counters are kept.
func (q *JitterQueue) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.head, q.count, q.priming = 0, 0, true
}

// Stats returns the queue's counters.
func (q *JitterQueue) Stats() JitterStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return JitterStats{Pushed: q.pushed, Popped: q.popped, Dropped: q.dropped, Starved: q.starved, Len: q.count}
}

// Dropped is the number of frames discarded because the queue was full.
func (q *JitterQueue) Dropped() uint64 { return q.Stats().Dropped }

// Starved is the number of times the consumer found the queue empty after it had been flowing.
func (q *JitterQueue) Starved() uint64 { return q.Stats().Starved }

// Len is the number of frames waiting.
func (q *JitterQueue) Len() int { return q.Stats().Len }
