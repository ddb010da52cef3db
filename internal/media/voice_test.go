package media

import (
	"testing"
	"time"
)

func levelFrame(meanAbs int16) []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = meanAbs
		if i%2 == 1 {
			f[i] = -meanAbs
		}
	}
	return f
}

func TestMeanAbsAndVoiced(t *testing.T) {
	if got := MeanAbs(nil); got != 0 {
		t.Errorf("MeanAbs(nil) = %d", got)
	}
	if got := MeanAbs([]int16{-32768, 32767, 0, 1}); got != (32768+32767+1)/4 {
		t.Errorf("MeanAbs extremes = %d", got)
	}
	if Voiced(levelFrame(255), 0) || !Voiced(levelFrame(256), 0) {
		t.Error("default threshold is not 256 inclusive")
	}
	if Voiced(levelFrame(999), 1000) || !Voiced(levelFrame(1000), 1000) {
		t.Error("explicit threshold ignored")
	}
}

func TestVoiceDetectorHysteresis(t *testing.T) {
	d := NewVoiceDetector(0, 100*time.Millisecond, 60*time.Millisecond)
	loud, quiet := levelFrame(1000), levelFrame(50)
	type step struct {
		frame []int16
		want  VoiceEvent
	}
	var steps []step
	add := func(f []int16, n int, last VoiceEvent) {
		for i := range n {
			e := VoiceNone
			if i == n-1 {
				e = last
			}
			steps = append(steps, step{f, e})
		}
	}
	add(quiet, 2, VoiceNone)
	add(loud, 4, VoiceNone)  // 80 ms click: no segment
	add(quiet, 3, VoiceNone) // a 60 ms gap forgets it
	add(loud, 3, VoiceNone)  // 60 ms of voice
	add(quiet, 2, VoiceNone) // a 40 ms gap does not end the count, nor counts as voice
	add(loud, 2, VoiceStart) // 60 + 40 ms of voice: the segment starts, back at frame 9
	add(quiet, 2, VoiceNone) // 40 ms gap: still inside
	add(loud, 3, VoiceNone)
	add(quiet, 3, VoiceEnd) // 60 ms: ends
	for i, s := range steps {
		if got := d.Feed(s.frame); got != s.want {
			t.Fatalf("frame %d: event %d, want %d", i, got, s.want)
		}
		if i == 15 { // the frame that starts the segment
			if got := d.SegmentLength(); got != 140*time.Millisecond {
				t.Errorf("SegmentLength at start = %v, want 140ms", got)
			}
			if got := d.SegmentStart(); got != 180*time.Millisecond {
				t.Errorf("SegmentStart = %v, want 180ms", got)
			}
		}
	}
	if d.Active() || d.SegmentLength() != 0 {
		t.Errorf("active after release: %v %v", d.Active(), d.SegmentLength())
	}
	if d.SilentRun() != 60*time.Millisecond || d.VoicedRun() != 0 {
		t.Errorf("runs: silent %v voiced %v", d.SilentRun(), d.VoicedRun())
	}
	if d.Elapsed() != time.Duration(len(steps))*FrameDuration {
		t.Errorf("Elapsed = %v", d.Elapsed())
	}
}
