package media

import (
	"io"
	"math"
	"time"
)

// BeepLevelDBFS is the level of the built-in beeps: loud enough to notice, far from clipping.
const BeepLevelDBFS = -12

// toneRamp is the fade in and out of a Tone; it keeps the tone's edges from clicking.
const toneRamp = 2 * time.Millisecond

// samplesFor converts a duration to a number of 8 kHz samples, rounding to the nearest.
func samplesFor(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((int64(d)*SampleRate + int64(time.Second)/2) / int64(time.Second))
}

// pcmSource plays a slice of samples.
type pcmSource struct {
	samples []int16
	pos     int
}

// NewPCMSource plays samples (8 kHz mono) once. The slice is not copied and must not change.
func NewPCMSource(samples []int16) Source {
	return &pcmSource{samples: samples}
}

func (s *pcmSource) ReadFrame(dst []int16) error {
	if s.pos >= len(s.samples) {
		return io.EOF
	}
	n := copy(dst, s.samples[s.pos:])
	clear(dst[n:])
	s.pos += n
	return nil
}

// silenceSource yields n zero samples.
type silenceSource struct{ left int }

// Silence is d of silence (rounded to whole samples; the last frame is padded as usual).
func Silence(d time.Duration) Source {
	return &silenceSource{left: samplesFor(d)}
}

func (s *silenceSource) ReadFrame(dst []int16) error {
	if s.left <= 0 {
		return io.EOF
	}
	clear(dst)
	s.left -= len(dst)
	return nil
}

// toneSource is a sine generator with a short raised-cosine fade at both ends.
type toneSource struct {
	amp   float64
	step  float64 // phase increment per sample, radians
	n     int     // total samples
	i     int     // next sample
	ramp  int
	phase float64
}

// Tone is a sine wave of freqHz lasting d at a peak level of dBFS (0 dBFS is a full-scale
// sine). The tone fades in and out over 2 ms so it does not click.
func Tone(freqHz float64, d time.Duration, dBFS float64) Source {
	n := samplesFor(d)
	return &toneSource{
		amp:  32767 * math.Pow(10, min(dBFS, 0)/20),
		step: 2 * math.Pi * freqHz / SampleRate,
		n:    n,
		ramp: min(samplesFor(toneRamp), n/2),
	}
}

func (t *toneSource) ReadFrame(dst []int16) error {
	if t.i >= t.n {
		return io.EOF
	}
	for k := range dst {
		if t.i >= t.n {
			dst[k] = 0
			continue
		}
		g := 1.0
		if edge := min(t.i, t.n-1-t.i); edge < t.ramp {
			g = 0.5 - 0.5*math.Cos(math.Pi*float64(edge)/float64(t.ramp))
		}
		dst[k] = int16(math.Round(t.amp * g * math.Sin(t.phase)))
		t.phase += t.step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
		t.i++
	}
	return nil
}

// concatSource plays sources one after another.
type concatSource struct{ srcs []Source }

// Concat plays srcs in order. Each source keeps its own frame padding, so sources are joined
// at 20 ms frame boundaries. An error other than io.EOF from a source is returned as is.
func Concat(srcs ...Source) Source {
	return &concatSource{srcs: srcs}
}

func (c *concatSource) ReadFrame(dst []int16) error {
	for len(c.srcs) > 0 {
		err := c.srcs[0].ReadFrame(dst)
		if err != io.EOF {
			return err
		}
		c.srcs = c.srcs[1:]
	}
	return io.EOF
}

// loopSource replays fresh sources from a factory.
type loopSource struct {
	newSrc func() Source
	times  int // 0 = forever
	played int // sources started so far
	cur    Source
	fresh  bool // cur has not yielded a frame yet
}

// Loop plays newSrc() times times, or forever when times is 0 (or negative). A source that
// is empty from its first frame ends the loop, so an empty file cannot spin forever; so does
// a nil source.
func Loop(newSrc func() Source, times int) Source {
	return &loopSource{newSrc: newSrc, times: max(times, 0)}
}

func (l *loopSource) ReadFrame(dst []int16) error {
	for {
		if l.cur == nil {
			if l.newSrc == nil || (l.times > 0 && l.played >= l.times) {
				return io.EOF
			}
			l.cur = l.newSrc()
			l.played++
			l.fresh = true
			if l.cur == nil {
				l.newSrc = nil
				return io.EOF
			}
		}
		err := l.cur.ReadFrame(dst)
		if err == nil {
			l.fresh = false
			return nil
		}
		if err != io.EOF {
			return err
		}
		if l.fresh {
			l.newSrc = nil // empty source: stop rather than loop forever
			return io.EOF
		}
		l.cur = nil
	}
}

// Beep1 is the "beep:1" sound: one 1000 Hz tone of 200 ms.
func Beep1() Source {
	return Tone(1000, 200*time.Millisecond, BeepLevelDBFS)
}

// Beep2 is the "beep:2" sound: two 1000 Hz tones of 200 ms, 100 ms apart.
func Beep2() Source {
	return Concat(
		Tone(1000, 200*time.Millisecond, BeepLevelDBFS),
		Silence(100*time.Millisecond),
		Tone(1000, 200*time.Millisecond, BeepLevelDBFS),
	)
}

// BeepRecord is the beep played before <Record>: 1000 Hz for 500 ms.
func BeepRecord() Source {
	return Tone(1000, 500*time.Millisecond, BeepLevelDBFS)
}

// ReadAll reads src frame by frame to its end and returns the samples, at most limit of them
// when limit > 0 (never pass 0 for an endless source). It stops at the first error, including
// one other than io.EOF.
func ReadAll(src Source, limit int) []int16 {
	var out []int16
	frame := make([]int16, FrameSamples)
	for limit <= 0 || len(out) < limit {
		if err := src.ReadFrame(frame); err != nil {
			break
		}
		out = append(out, frame...)
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
