package media

import (
	"sync"
	"testing"
)

func frameOf(v int16) []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = v
	}
	return f
}

// step is one action on a queue: push frame v, or pop expecting v (0 = expect nothing).
type step struct {
	push bool
	v    int16
}

func TestJitterQueue(t *testing.T) {
	P := func(v int16) step { return step{true, v} }
	G := func(v int16) step { return step{false, v} }
	tests := []struct {
		name            string
		prime, capacity int
		steps           []step
		dropped         uint64
		starved         uint64
	}{
		{"primes two frames", 0, 0, []step{P(1), G(0), P(2), G(1), G(2)}, 0, 0},
		{"starves then re-primes", 2, 6, []step{P(1), P(2), G(1), G(2), G(0), P(3), G(0), P(4), G(3), G(4)}, 0, 1},
		{"drops oldest when full", 2, 3, []step{P(1), P(2), P(3), P(4), P(5), G(3), G(4), G(5), G(0)}, 2, 1},
		{"prime capped at capacity", 9, 2, []step{P(1), P(2), G(1), G(2)}, 0, 0},
		{"prime of one", 1, 4, []step{P(7), G(7), G(0), P(8), G(8)}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewJitterQueue(tc.prime, tc.capacity)
			dst := make([]int16, FrameSamples)
			for i, s := range tc.steps {
				if s.push {
					q.Push(frameOf(s.v))
					continue
				}
				dst[0] = -1
				ok := q.Pop(dst)
				switch {
				case s.v == 0 && ok:
					t.Fatalf("step %d: popped %d, want nothing", i, dst[0])
				case s.v != 0 && (!ok || dst[0] != s.v || dst[FrameSamples-1] != s.v):
					t.Fatalf("step %d: popped %v (%d), want %d", i, ok, dst[0], s.v)
				}
			}
			st := q.Stats()
			if st.Dropped != tc.dropped || st.Starved != tc.starved {
				t.Errorf("dropped %d starved %d, want %d %d", st.Dropped, st.Starved, tc.dropped, tc.starved)
			}
			if q.Dropped() != st.Dropped || q.Starved() != st.Starved || q.Len() != st.Len {
				t.Error("accessors disagree with Stats")
			}
		})
	}
}

func TestJitterQueueShortFrameAndReset(t *testing.T) {
	q := NewJitterQueue(1, 2)
	q.Push([]int16{5, 5, 5})
	dst := frameOf(9)
	if !q.Pop(dst) || dst[2] != 5 || dst[3] != 0 || dst[FrameSamples-1] != 0 {
		t.Errorf("short frame not padded: %v", dst[:5])
	}
	q.Push(frameOf(1))
	q.Reset()
	if q.Len() != 0 || q.Pop(dst) {
		t.Error("Reset left frames")
	}
}

// TestJitterQueueConcurrent runs one producer and one consumer (go test -race checks it).
func TestJitterQueueConcurrent(t *testing.T) {
	q := NewJitterQueue(2, 6)
	const n = 5000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			q.Push(frameOf(int16(i%30000 + 1)))
		}
	})
	got := 0
	last := int16(0)
	dst := make([]int16, FrameSamples)
	for got < n/4 {
		if q.Pop(dst) {
			if dst[0] <= last && last < 29000 {
				t.Fatalf("frames out of order: %d after %d", dst[0], last)
			}
			if dst[0] != dst[FrameSamples-1] {
				t.Fatal("torn frame")
			}
			last = dst[0]
			got++
		} else if q.Stats().Pushed == n {
			break
		}
	}
	wg.Wait()
	st := q.Stats()
	if st.Pushed != n || st.Popped+st.Dropped+uint64(st.Len) != n {
		t.Errorf("frames lost: %+v", st)
	}
}

func BenchmarkJitterQueue(b *testing.B) {
	q := NewJitterQueue(2, 6)
	in := frameOf(3)
	out := make([]int16, FrameSamples)
	q.Push(in)
	for b.Loop() {
		q.Push(in)
		q.Pop(out)
	}
}
