package call

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/parley-voice/parley/internal/media"
)

// The per-leg audio seams: taps observe what a call receives and sends, overlays add audio to
// what it sends. Both work whoever owns the output (the flow's pump, a conference room, a Dial
// bridge), so their users (a session recording, audio streams) never learn about owners, and
// they survive element changes, kicks and bridges.
//
// Both run on the packet path, which must never wait: a tap or an overlay source does a short,
// non-blocking step (copy into a buffer, take from one) and leaves the rest to its own
// goroutine. AudioRing is such a buffer.

// TapDirection says which audio of a call a tap observes.
type TapDirection int

// Tap directions.
const (
	// TapReceived is what the caller says: each received audio packet, decoded (8 kHz).
	TapReceived TapDirection = iota
	// TapSent is what the caller hears: each audio frame sent, overlays included, whoever owns
	// the output. RFC 4733 packets sent in place of a frame are not audio and not tapped.
	TapSent
)

// AddTap makes tap observe the call's audio in dir until remove is called (remove is
// idempotent). Several taps may observe each direction.
//
// tap runs synchronously on the packet path (the RTP reader for TapReceived; the pump, a room's
// tick or a bridge's relay for TapSent) and must return at once: pcm is only valid during the
// call, so copy what you keep (AudioRing.Write does) and process it on your own goroutine. A
// frame is usually 160 samples (20 ms) but follows the packets: a bridge may relay 30 ms.
func (c *Call) AddTap(dir TapDirection, tap func(pcm []int16)) (remove func()) {
	list := &c.media.inTaps
	if dir == TapSent {
		list = &c.media.outTaps
	}
	return list.add(tap)
}

// SetTaps sets the session recording's taps of received (in) and sent (out) audio, replacing
// those of an earlier SetTaps; nil removes one. Other taps (AddTap) are not affected.
func (c *Call) SetTaps(in, out func(pcm []int16)) {
	m := c.media
	m.recTapsMu.Lock()
	defer m.recTapsMu.Unlock()
	for _, remove := range m.recTaps {
		remove()
	}
	m.recTaps = m.recTaps[:0]
	if in != nil {
		m.recTaps = append(m.recTaps, c.AddTap(TapReceived, in))
	}
	if out != nil {
		m.recTaps = append(m.recTaps, c.AddTap(TapSent, out))
	}
}

// AddDigitTap makes tap observe every DTMF digit the call receives (RFC 4733 or SIP INFO) until
// remove is called (remove is idempotent). Unlike the digit sink (SetDigitSink), which one
// element owns at a time (Gather, a conference member), taps only watch: the sink still gets
// every digit. tap runs on the call's receiving goroutine and must return at once.
func (c *Call) AddDigitTap(tap func(digit rune)) (remove func()) {
	return c.media.digitTaps.add(tap)
}

// OverlaySource is audio added into everything a call sends (e.g. an audio stream's playAudio).
type OverlaySource interface {
	// PullOverlay copies the source's next samples (8 kHz) into the start of dst, at most
	// len(dst), and returns how many; the rest of the frame gets nothing from this source
	// (an underrun is silence, not a wait). It is called once per audio frame the call sends,
	// on the packet path, so it must not block; it may be called from different goroutines as
	// the output changes owner, around a hand-over even concurrently.
	PullOverlay(dst []int16) int
}

// AddOverlay mixes src into every audio frame the call sends from now on until remove is called
// (remove is idempotent): over the flow's playback or silence, over a room's mix, over the
// other leg of a bridge. Several overlays are summed. Nothing is pulled while no audio is sent
// (before media starts; in a bridge, while the other leg sends no packets).
func (c *Call) AddOverlay(src OverlaySource) (remove func()) {
	return c.media.overlays.add(src)
}

// mixOverlays adds the next len(pcm) samples of every overlay into pcm, pulling through
// scratch (at least as long as pcm), and reports whether any overlay had samples. When payload
// is not nil, pcm does not hold the frame yet: payload is decoded into it only once an overlay
// has samples, so that a frame nobody overlays costs no decoding.
func mixOverlays(srcs []OverlaySource, pcm, scratch []int16, payload []byte, codec media.Codec) bool {
	mixed := false
	for _, src := range srcs {
		n := min(src.PullOverlay(scratch[:len(pcm)]), len(pcm))
		if n <= 0 {
			continue
		}
		if !mixed && payload != nil {
			codec.Decode(pcm, payload)
		}
		mixed = true
		for i, v := range scratch[:n] {
			pcm[i] = addSat(pcm[i], v)
		}
	}
	return mixed
}

func addSat(a, b int16) int16 {
	return int16(max(min(int32(a)+int32(b), math.MaxInt16), math.MinInt16))
}

// runTaps hands pcm to each tap.
func runTaps(taps []func([]int16), pcm []int16) {
	for _, tap := range taps {
		tap(pcm)
	}
}

// cowList is a set read on the packet path without a lock: readers load the current snapshot;
// add and remove (rare) copy it under mu.
type cowList[T any] struct {
	mu      sync.Mutex
	entries []*cowEntry[T]
	snap    atomic.Pointer[[]T]
}

type cowEntry[T any] struct{ v T }

// load returns the current members; the slice must not be modified.
func (l *cowList[T]) load() []T {
	if p := l.snap.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *cowList[T]) add(v T) (remove func()) {
	e := &cowEntry[T]{v}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.publishLocked()
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for i, x := range l.entries {
				if x == e {
					l.entries = append(l.entries[:i:i], l.entries[i+1:]...)
					break
				}
			}
			l.publishLocked()
		})
	}
}

func (l *cowList[T]) publishLocked() {
	if len(l.entries) == 0 {
		l.snap.Store(nil)
		return
	}
	vs := make([]T, len(l.entries))
	for i, e := range l.entries {
		vs[i] = e.v
	}
	l.snap.Store(&vs)
}

// AudioRing is a bounded FIFO of 8 kHz samples between the packet path, which never waits for
// it, and a goroutine of its user. Write keeps what fits and drops (and counts) the rest; Read
// takes what is there. Its lock is held only to copy samples.
//
// As a tap's hand-off: the tap Writes, the consumer goroutine Reads after Ready. As an overlay
// source: the producer Writes (no more than Free allows, to lose nothing), the call pulls it.
type AudioRing struct {
	mu      sync.Mutex
	buf     []int16
	head    int // index of the oldest sample
	n       int // samples buffered
	read    uint64
	dropped uint64
	ready   chan struct{}
}

// NewAudioRing returns a ring holding up to capacity samples (8000 is one second).
func NewAudioRing(capacity int) *AudioRing {
	return &AudioRing{buf: make([]int16, max(capacity, 1)), ready: make(chan struct{}, 1)}
}

// Write appends as much of pcm as fits and returns how many samples it kept; the rest is
// dropped. It never blocks, so a tap can call it: c.AddTap(dir, func(pcm []int16) { ring.Write(pcm) }).
func (r *AudioRing) Write(pcm []int16) int {
	r.mu.Lock()
	k := min(len(pcm), len(r.buf)-r.n)
	tail := (r.head + r.n) % len(r.buf)
	c := copy(r.buf[tail:], pcm[:k])
	copy(r.buf, pcm[c:k])
	r.n += k
	r.dropped += uint64(len(pcm) - k)
	r.mu.Unlock()
	if k > 0 {
		select {
		case r.ready <- struct{}{}:
		default:
		}
	}
	return k
}

// Read moves up to len(dst) of the oldest samples into dst and returns how many.
func (r *AudioRing) Read(dst []int16) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := min(len(dst), r.n)
	c := copy(dst[:k], r.buf[r.head:min(r.head+k, len(r.buf))])
	copy(dst[c:k], r.buf)
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
	r.read += uint64(k)
	return k
}

// PullOverlay implements OverlaySource: the ring's oldest samples.
func (r *AudioRing) PullOverlay(dst []int16) int { return r.Read(dst) }

// Ready receives a value after a Write that kept samples (one value for any number of writes):
// wait on it, then Read until Read returns 0.
func (r *AudioRing) Ready() <-chan struct{} { return r.ready }

// Len is how many samples are buffered.
func (r *AudioRing) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Free is how many samples Write would keep now.
func (r *AudioRing) Free() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf) - r.n
}

// Clear drops everything buffered and returns how many samples that was (e.g. clearAudio).
func (r *AudioRing) Clear() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.n
	r.head, r.n = 0, 0
	return k
}

// Counts returns how many samples have been read out and how many Write dropped since the
// ring was made: a producer learns from read what has really been played.
func (r *AudioRing) Counts() (read, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read, r.dropped
}
