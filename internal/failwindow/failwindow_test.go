package failwindow

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiterWindowAndCapacity(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3, time.Minute, 2, func() time.Time { return now })
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	if l.Failed(a) || l.Failed(a) {
		t.Fatal("limited before the third failure")
	}
	if blocked, _ := l.Blocked(a); blocked {
		t.Fatal("blocked after two failures")
	}
	if !l.Failed(a) {
		t.Fatal("the third failure did not reach the limit")
	}
	now = now.Add(20 * time.Second)
	if blocked, wait := l.Blocked(a); !blocked || wait != 40 {
		t.Fatalf("Blocked = %v, %d; want true, 40", blocked, wait)
	}
	if blocked, _ := l.Blocked(b); blocked {
		t.Fatal("another source is blocked")
	}
	l.Failed(b)
	l.Failed(c) // over capacity: one of a, b makes room
	if len(l.sources) > 2 {
		t.Fatalf("tracking %d sources, capacity 2", len(l.sources))
	}
	now = now.Add(time.Minute)
	if blocked, _ := l.Blocked(a); blocked {
		t.Fatal("still blocked after the window")
	}
}

// TestMemoryIsBounded: a spread-out attack never makes it track more than capacity sources, and
// once windows expire new sources replace them instead of live ones.
func TestMemoryIsBounded(t *testing.T) {
	const capacity = 1000
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(2, time.Minute, capacity, func() time.Time { return now })
	for i := 0; i < capacity+500; i++ {
		l.Failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.sources); n > capacity {
		t.Fatalf("%d sources tracked, cap %d", n, capacity)
	}
	now = now.Add(2 * time.Minute)
	l.Failed(netip.MustParseAddr("192.0.2.1"))
	if n := len(l.sources); n != 1 {
		t.Errorf("%d sources after every window expired, want 1", n)
	}
}
