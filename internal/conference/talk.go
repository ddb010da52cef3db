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

// frameLevel is the mean absolute sample value of a frame: one pass of 160 adds, cheap next to
// the mixing and encoding the tick already does for the member.
func frameLevel(f *[media.FrameSamples]int16) int {
	sum := 0
	for _, s := range f {
		if s < 0 {
			sum -= int(s)
		} else {
			sum += int(s)
		}
	}
	return sum / media.FrameSamples
}
