package media

import "time"

// DefaultVoiceThreshold is the mean absolute sample value (16-bit scale) at or above which a
// frame is voiced: amd_silence_threshold of calls-more.md §D.2, the value FreeSWITCH mod_amd
// and Asterisk AMD() use. It is about -42 dBFS for speech, above a quiet line's noise.
const DefaultVoiceThreshold = 256

// MeanAbs returns the mean absolute value of the samples (0 for no samples): the energy measure
// of the voice decision. It costs one pass of integer additions, no multiplications.
func MeanAbs(samples []int16) int {
	if len(samples) == 0 {
		return 0
	}
	var sum int64
	for _, s := range samples {
		v := int64(s)
		if v < 0 {
			v = -v
		}
		sum += v
	}
	return int(sum / int64(len(samples)))
}

// Voiced reports whether a frame is voiced: its MeanAbs reaches threshold (0 means
// DefaultVoiceThreshold). This is the per-frame decision without hysteresis.
func Voiced(frame []int16, threshold int) bool {
	if threshold <= 0 {
		threshold = DefaultVoiceThreshold
	}
	return MeanAbs(frame) >= threshold
}

// VoiceDetector turns per-frame voiced/unvoiced decisions (Voiced) into voice segments with
// hysteresis in time: a segment starts once voiced frames totalling onset have come without a
// gap of release or more between them (the gaps do not count as voice), and ends once unvoiced
// frames have run for release. Shorter bursts (a click) start nothing and shorter gaps
// (between syllables) neither end a segment nor restart the count toward one. This is the
// counting of Asterisk's AMD(). The level decision keeps a single
// threshold because the contract (calls-more.md §D.2) defines "voiced" by it; the time
// hysteresis is what stops flapping. Frames may have any length; time is counted in samples at
// SampleRate, so the detector needs no clock. Not safe for concurrent use.
//
// With onset 100 ms and release 50 ms a segment is a "word" of §D.2; with onset 100 ms it is
// also the "start of speech" of a speech Gather (§C.2).
type VoiceDetector struct {
	threshold      int
	onset, release int64 // in samples
	now            int64 // samples fed so far
	active         bool
	voicedRun      int64 // consecutive voiced samples, up to now
	silentRun      int64 // consecutive unvoiced samples, up to now
	pending        int64 // voiced samples since the last gap of release or more
	pendingStart   int64 // sample index of the first of them
	segmentStart   int64 // sample index where the current (or last) segment's voice began
}

// VoiceEvent is what a frame changed.
type VoiceEvent uint8

// The events Feed reports.
const (
	VoiceNone  VoiceEvent = iota
	VoiceStart            // a segment started with this frame (onset reached)
	VoiceEnd              // the segment ended with this frame (release reached)
)

// NewVoiceDetector returns a detector with the given level threshold (0 means
// DefaultVoiceThreshold) and onset and release times (negative values count as 0).
func NewVoiceDetector(threshold int, onset, release time.Duration) *VoiceDetector {
	if threshold <= 0 {
		threshold = DefaultVoiceThreshold
	}
	return &VoiceDetector{threshold: threshold, onset: samplesOf(onset), release: samplesOf(release)}
}

// Feed takes the next frame and reports whether it started or ended a segment.
func (v *VoiceDetector) Feed(frame []int16) VoiceEvent {
	n := int64(len(frame))
	v.now += n
	if MeanAbs(frame) >= v.threshold {
		if v.pending == 0 {
			v.pendingStart = v.now - n
		}
		v.pending += n
		v.voicedRun += n
		v.silentRun = 0
		if !v.active && v.pending >= v.onset {
			v.active = true
			v.segmentStart = v.pendingStart
			return VoiceStart
		}
		return VoiceNone
	}
	v.silentRun += n
	v.voicedRun = 0
	if v.silentRun >= v.release {
		v.pending = 0
		if v.active {
			v.active = false
			return VoiceEnd
		}
	}
	return VoiceNone
}

// Active reports whether a segment is in progress.
func (v *VoiceDetector) Active() bool { return v.active }

// Elapsed is the audio time fed so far.
func (v *VoiceDetector) Elapsed() time.Duration { return durationOf(v.now) }

// SilentRun is how long the audio has been unvoiced without a break (0 after a voiced frame).
func (v *VoiceDetector) SilentRun() time.Duration { return durationOf(v.silentRun) }

// VoicedRun is how long the audio has been voiced without a break (0 after an unvoiced frame).
func (v *VoiceDetector) VoicedRun() time.Duration { return durationOf(v.voicedRun) }

// SegmentLength is the time from the start of the voice of the current segment to now, short
// gaps included; 0 when no segment is in progress.
func (v *VoiceDetector) SegmentLength() time.Duration {
	if !v.active {
		return 0
	}
	return durationOf(v.now - v.segmentStart)
}

// SegmentStart is when the voice of the current or last segment began, as audio time from the
// first frame fed (0 before any segment).
func (v *VoiceDetector) SegmentStart() time.Duration { return durationOf(v.segmentStart) }

func samplesOf(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(d) * SampleRate / int64(time.Second)
}

func durationOf(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / SampleRate
}
