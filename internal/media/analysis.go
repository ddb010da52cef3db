package media

import (
	"math"
	"time"
)

// FloorDBFS is the lowest level the analysis functions report, used for digital silence.
const FloorDBFS = -120.0

// Goertzel measures the power of the freqHz component of samples (8 kHz). The result is
// normalised to the square of the component's peak amplitude relative to full scale: a
// full-scale sine at freqHz gives about 1.0, one at half scale about 0.25. Use windows holding
// several periods; leakage from other frequencies falls off as 1/(distance in bins)².
func Goertzel(samples []int16, freqHz float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freqHz/SampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(samples))
	return max(p*4/(n*n), 0)
}

// ToneDBFS is the level of the freqHz component of samples in dBFS, where a full-scale sine
// is 0 dBFS; it never returns less than FloorDBFS.
func ToneDBFS(samples []int16, freqHz float64) float64 {
	return powerDB(Goertzel(samples, freqHz))
}

// LevelDBFS is the RMS level of samples in dBFS relative to a full-scale square wave, so a
// full-scale sine reads about -3 dBFS; zeros (or no samples) read FloorDBFS.
func LevelDBFS(samples []int16) float64 {
	return powerDB(meanSquare(samples))
}

func meanSquare(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, x := range samples {
		v := float64(x) / 32768
		sum += v * v
	}
	return sum / float64(len(samples))
}

func powerDB(p float64) float64 {
	if p <= 0 {
		return FloorDBFS
	}
	return max(10*math.Log10(p), FloorDBFS)
}

// DefaultSilenceDBFS is the RMS level under which audio counts as silence: quieter than
// speech (about -20 to -30 dBFS) and louder than a quiet line's noise.
const DefaultSilenceDBFS = -45.0

// SilenceDetector tracks how long the audio fed to it has stayed below a level. Not safe for
// concurrent use.
type SilenceDetector struct {
	thresholdDBFS float64
	minSilence    time.Duration
	silent        int // consecutive silent samples
}

// NewSilenceDetector reports silence once frames have stayed below thresholdDBFS (RMS, see
// LevelDBFS; 0 means DefaultSilenceDBFS) for at least minSilence.
func NewSilenceDetector(thresholdDBFS float64, minSilence time.Duration) *SilenceDetector {
	if thresholdDBFS == 0 {
		thresholdDBFS = DefaultSilenceDBFS
	}
	return &SilenceDetector{thresholdDBFS: thresholdDBFS, minSilence: minSilence}
}

// Feed takes the next frame and reports whether the silence has now lasted minSilence. A
// frame at or above the threshold restarts the count.
func (d *SilenceDetector) Feed(frame []int16) bool {
	if LevelDBFS(frame) < d.thresholdDBFS {
		d.silent += len(frame)
	} else {
		d.silent = 0
	}
	return d.SilentFor() >= d.minSilence
}

// SilentFor is how long the current silence has lasted.
func (d *SilenceDetector) SilentFor() time.Duration {
	return time.Duration(d.silent) * time.Second / SampleRate
}

// Reset forgets the current silence.
func (d *SilenceDetector) Reset() { d.silent = 0 }

// Beep detector design: 20 ms windows every 10 ms; a window is tonal when one frequency of a
// 25 Hz grid over 300–3000 Hz holds most of its energy. Thirteen tonal windows in a row at a
// steady frequency span 140 ms of audio, which every tone of 150 ms or more provides
// wherever it falls against the window grid.
const (
	beepMinHz       = 300
	beepMaxHz       = 3000
	beepStepHz      = 25
	beepWindow      = FrameSamples
	beepHop         = FrameSamples / 2
	beepPurity      = 0.7  // share of the window's power in the tone
	beepDriftHz     = 50.0 // allowed change of frequency between windows
	beepMinLevel    = -40.0
	beepMinDuration = 150 * time.Millisecond
	beepGroup       = 4 // filters computed together
)

// BeepDetector finds a single-frequency tone of 300–3000 Hz lasting at least 150 ms, such as
// an answering machine's beep, while rejecting speech, noise and silence. Not safe for
// concurrent use.
type BeepDetector struct {
	pending  []int16 // samples not yet analysed; the first beepWindow form the next window
	window   []float64
	coeffs   []float64 // 2cos(ω) of each grid frequency, padded to a multiple of 4
	run      int       // consecutive tonal windows
	freq     float64   // frequency of the current run
	need     int       // windows needed for a detection
	reported bool      // the current tone has been reported
}

// NewBeepDetector returns a detector for tones of at least 150 ms.
func NewBeepDetector() *BeepDetector {
	span := samplesFor(beepMinDuration) - beepHop // worst-case span of whole windows
	d := &BeepDetector{
		pending: make([]int16, 0, 4*FrameSamples),
		window:  make([]float64, beepWindow),
		need:    (span-beepWindow)/beepHop + 1,
	}
	for f := float64(beepMinHz); f <= beepMaxHz || len(d.coeffs)%beepGroup != 0; f += beepStepHz {
		d.coeffs = append(d.coeffs, 2*math.Cos(2*math.Pi*f/SampleRate))
	}
	return d
}

// Feed takes the next frame (any length; 20 ms is usual) and reports a tone's frequency once,
// at the moment it has lasted long enough. The tone must stop before another is reported.
func (d *BeepDetector) Feed(frame []int16) (freqHz float64, detected bool) {
	d.pending = append(d.pending, frame...)
	for len(d.pending) >= beepWindow {
		f, tonal := d.analyse(d.pending[:beepWindow])
		n := copy(d.pending, d.pending[beepHop:])
		d.pending = d.pending[:n]
		switch {
		case !tonal:
			d.run, d.reported = 0, false
			continue
		case d.run > 0 && math.Abs(f-d.freq) > beepDriftHz:
			d.run, d.reported = 0, false
		}
		d.run++
		d.freq = f
		if d.run >= d.need && !d.reported {
			d.reported = true
			freqHz, detected = f, true
		}
	}
	return freqHz, detected
}

// Reset forgets any tone in progress.
func (d *BeepDetector) Reset() {
	d.pending = d.pending[:0]
	d.run, d.reported = 0, false
}

// analyse reports the dominant grid frequency of one window and whether it is a pure tone.
func (d *BeepDetector) analyse(w []int16) (float64, bool) {
	var mean float64
	for _, x := range w {
		mean += float64(x)
	}
	mean /= float64(len(w))
	var ms float64
	for i, x := range w {
		v := (float64(x) - mean) / 32768
		d.window[i] = v
		ms += v * v
	}
	ms /= float64(len(w))
	if powerDB(ms) < beepMinLevel {
		return 0, false
	}
	best, bestF := 0.0, 0.0
	n := float64(len(w))
	// Four Goertzel filters run side by side: their recurrences are independent, so the CPU
	// overlaps them instead of waiting on one chain.
	for g := 0; g < len(d.coeffs); g += beepGroup {
		c := d.coeffs[g : g+beepGroup : g+beepGroup]
		var s1, s2 [beepGroup]float64
		for _, v := range d.window {
			s1[0], s2[0] = v+c[0]*s1[0]-s2[0], s1[0]
			s1[1], s2[1] = v+c[1]*s1[1]-s2[1], s1[1]
			s1[2], s2[2] = v+c[2]*s1[2]-s2[2], s1[2]
			s1[3], s2[3] = v+c[3]*s1[3]-s2[3], s1[3]
		}
		for k := range beepGroup {
			f := float64(beepMinHz + (g+k)*beepStepHz)
			if f > beepMaxHz {
				break
			}
			if p := (s1[k]*s1[k] + s2[k]*s2[k] - c[k]*s1[k]*s2[k]) * 4 / (n * n); p > best {
				best, bestF = p, f
			}
		}
	}
	// A pure sine of peak A has mean square A²/2 and Goertzel power A².
	return bestF, best/(2*ms) >= beepPurity
}
