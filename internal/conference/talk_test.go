package conference

import (
	"testing"

	"github.com/parley-voice/parley/internal/media"
)

func TestTalkDetectorHysteresis(t *testing.T) {
	var d talkDetector
	feed := func(level, n int) (changes int) {
		for range n {
			if d.feed(level) {
				changes++
			}
		}
		return changes
	}
	if feed(talkOnLevel, talkOnRun-1) != 0 || d.talking {
		t.Fatal("talking before talkOnRun loud frames")
	}
	feed(0, 1) // a quiet frame restarts the count
	if feed(talkOnLevel, talkOnRun-1) != 0 || d.talking {
		t.Fatal("a broken run of loud frames started talking")
	}
	if feed(talkOnLevel, 1) != 1 || !d.talking {
		t.Fatal("not talking after talkOnRun loud frames")
	}
	// Between the two levels nothing changes: the hysteresis band.
	if feed((talkOnLevel+talkOffLevel)/2, 10*talkOffRun) != 0 || !d.talking {
		t.Fatal("a level inside the band stopped talking")
	}
	if feed(0, talkOffRun-1) != 0 || !d.talking {
		t.Fatal("stopped talking before talkOffRun quiet frames")
	}
	if feed(0, 1) != 1 || d.talking {
		t.Fatal("still talking after talkOffRun quiet frames")
	}
}

func TestFrameLevel(t *testing.T) {
	var f [media.FrameSamples]int16
	for i := range f {
		f[i] = 1000
		if i%2 == 1 {
			f[i] = -1000
		}
	}
	if got := frameLevel(&f); got != 1000 {
		t.Errorf("frameLevel = %d, want 1000", got)
	}
}

// TestTalkingFlagAndEvents: a member sending a tone is marked talking in the snapshot and one
// Talking event says so; a silent member is not; when the tone stops, the flag clears after
// the hang-over with one more event.
func TestTalkingFlagAndEvents(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 400)
	b := e.join(req("R"), 0)
	e.run(10, a, b)
	s, err := e.m.Get(bg, "A", "R")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Members[0].Talking || s.Members[1].Talking {
		t.Fatalf("talking flags %v %v, want true false", s.Members[0].Talking, s.Members[1].Talking)
	}
	evs := e.events(EventTalking)
	if len(evs) != 1 || evs[0].MemberID != a.id || !evs[0].Talking {
		t.Fatalf("talking events %+v, want one for member %d", evs, a.id)
	}
	e.run(talkOffRun+2, b) // a sends nothing now
	s, _ = e.m.Get(bg, "A", "R")
	if s.Members[0].Talking {
		t.Error("still talking after the tone stopped")
	}
	if evs := e.events(EventTalking); len(evs) != 2 || evs[1].Talking {
		t.Errorf("talking events %+v, want a second one that ends talking", evs)
	}
}

// BenchmarkTalkDetection is the talk detection's share of a member's tick.
func BenchmarkTalkDetection(b *testing.B) {
	var f [media.FrameSamples]int16
	for i := range f {
		f[i] = int16(i*37%2000 - 1000)
	}
	var d talkDetector
	for b.Loop() {
		d.feed(frameLevel(&f))
	}
}

// A muted member who talks is still marked talking (the room does not hear it; the operator
// sees that it speaks into a muted line).
func TestTalkingWhileMuted(t *testing.T) {
	e := newEnv(t, ManagerOptions{})
	a := e.join(req("R"), 400)
	e.join(req("R"), 0)
	if err := e.m.Mute(bg, "A", "R", IDs(a.id)); err != nil {
		t.Fatal(err)
	}
	e.run(10, a)
	s, _ := e.m.Get(bg, "A", "R")
	if !s.Members[0].Talking || !s.Members[0].Muted {
		t.Errorf("muted talker: talking %v muted %v, want both", s.Members[0].Talking, s.Members[0].Muted)
	}
}
