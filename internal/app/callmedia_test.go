package app

import (
	"testing"
	"time"
)

// pullAll pulls frames of n samples until the overlay gives nothing, at most max frames.
func pullAll(o *overlay, n, max int) (total int) {
	buf := make([]int16, n)
	for range max {
		k := o.PullOverlay(buf)
		if k == 0 {
			break
		}
		total += k
	}
	return total
}

func TestOverlayLoopLengthAndEnd(t *testing.T) {
	pcm := make([]int16, 500)
	for i := range pcm {
		pcm[i] = int16(i + 1)
	}
	once := newOverlay(false, false, 0, func() {})
	once.pcm = pcm
	if got := pullAll(once, 160, 100); got != 500 {
		t.Errorf("one pass gave %d samples, want 500", got)
	}
	select {
	case <-once.done:
	default:
		t.Error("an overlay that played out is not done")
	}

	// loop with length 0.25 s: 2000 samples over four passes, then done.
	looped := newOverlay(false, true, 250*time.Millisecond, func() {})
	looped.pcm = pcm
	buf := make([]int16, 160)
	if k := looped.PullOverlay(buf); k != 160 || buf[0] != 1 {
		t.Fatalf("first frame: %d samples starting %d", k, buf[0])
	}
	if got := 160 + pullAll(looped, 160, 100); got != 2000 {
		t.Errorf("looped with length gave %d samples, want 2000", got)
	}

	released := 0
	stopped := newOverlay(true, true, 0, func() { released++ })
	stopped.pcm = pcm
	stopped.stop()
	stopped.stop()
	if k := stopped.PullOverlay(buf); k != 0 || released != 1 || !stopped.ReplacesAudio() {
		t.Errorf("after stop: pulled %d, released %d times", k, released)
	}
}
