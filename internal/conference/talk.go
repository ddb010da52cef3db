package conference

import "github.com/parley-voice/parley/internal/media"

// Talk detection by energy with hysteresis, as FreeSWITCH's mod_conference does it: a member
// starts talking after a few loud frames in a row and stops after a longer run of quiet ones,
// so the flag does not flicker between syllables and changes at most a few times a second.
const (
	// talkOnLevel and talkOffLevel are mean absolute sample values of a 20 ms frame: about
	// -38 and -44 dBFS for a sine. Line noise stays below; a voice is well above.
	talkOnLevel  = 400
	talkOffLevel = 200
	talkOnRun    = 3  // frames above talkOnLevel to start talking (60 ms)
	talkOffRun   = 25 // frames below talkOffLevel to stop (500 ms)
)

// talkDetector is one member's talking state; fed once per mixed frame on the room goroutine.
type talkDetector struct {
	talking bool
	run     int // consecutive frames that argue for changing the state
}

// feed takes one frame's level and reports whether the talking flag changed.
func (d *talkDetector) feed(level int) bool {
	switch {
	case !d.talking && level >= talkOnLevel, d.talking && level < talkOffLevel:
		d.run++
	default:
		d.run = 0
		return false
	}
	need := talkOnRun
	if d.talking {
		need = talkOffRun
	}
	if d.run < need {
		return false
	}
	d.talking, d.run = !d.talking, 0
	return true
}

// frameLevel is the mean absolute sample value of a frame, for members whose frame is not summed
// into the bus (muted, waiting); mix measures the others in its summing pass, with the same
// branch-free absolute value. BenchmarkTalkDetection is its cost.
func frameLevel(f *[media.FrameSamples]int16) int {
	var sum int32
	for _, s := range f {
		v := int32(s)
		m := v >> 31
		sum += (v ^ m) - m
	}
	return int(sum) / media.FrameSamples
}
