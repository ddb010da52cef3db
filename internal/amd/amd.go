// Package amd is the answering-machine detector of calls-more.md §D.2: fed the called party's
// received audio in 20 ms frames from the answer on, it decides whether a person or a machine
// answered, with the rules of FreeSWITCH mod_amd / Asterisk AMD().
//
// It is a pure function of the frames: it keeps no clock (time is counted in samples), does no
// I/O and must not import any Parley package other than media. Waiting for frames, holding the
// call, webhooks and hanging up belong to the caller.
package amd

import (
	"errors"
	"fmt"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// Fixed parts of the algorithm (calls-more.md §D.2): a word is at least minWordLength of voice
// after at least betweenWordsSilence of silence, and afterGreetingSilence of silence after a
// word means a person who said something short and now waits for an answer.
const (
	minWordLength        = 100 * time.Millisecond
	betweenWordsSilence  = 50 * time.Millisecond
	afterGreetingSilence = 800 * time.Millisecond
)

// Params are the tunable values of §D.1 (machine_detection_*) and amd_silence_threshold.
type Params struct {
	// Time is machine_detection_time: the whole analysis window. Without a decision by then
	// the answer is human ("not sure"). 2–10 s, default 5 s.
	Time time.Duration
	// InitialSilence is machine_detection_initial_silence: no word within this time after the
	// answer means machine. 2–10 s, default 4.5 s.
	InitialSilence time.Duration
	// MaximumSpeechLength is machine_detection_maximum_speech_length: a single word this long
	// means machine. 1–6 s, default 5 s.
	MaximumSpeechLength time.Duration
	// MaximumWords is machine_detection_maximum_words: this many words means machine. 2–10,
	// default 3.
	MaximumWords int
	// InitialGreeting is machine_detection_initial_greeting: voice still present this long
	// after the first word began means machine. 1–5 s, default 1.5 s.
	InitialGreeting time.Duration
	// SilenceThreshold is amd_silence_threshold: a frame is voiced when its mean absolute
	// sample reaches it (media.Voiced). Default media.DefaultVoiceThreshold (256).
	SilenceThreshold int
}

// DefaultParams returns the defaults of §D.1.
func DefaultParams() Params {
	return Params{
		Time:                5000 * time.Millisecond,
		InitialSilence:      4500 * time.Millisecond,
		MaximumSpeechLength: 5000 * time.Millisecond,
		MaximumWords:        3,
		InitialGreeting:     1500 * time.Millisecond,
		SilenceThreshold:    media.DefaultVoiceThreshold,
	}
}

// ErrInvalidParams is wrapped by Validate's errors.
var ErrInvalidParams = errors.New("invalid machine detection parameter")

// Validate checks the ranges of §D.1. The error names the request parameter.
func (p Params) Validate() error {
	check := func(name string, v, lo, hi time.Duration) error {
		if v < lo || v > hi {
			return fmt.Errorf("%w: %s must be %d–%d ms, got %d", ErrInvalidParams, name, lo.Milliseconds(), hi.Milliseconds(), v.Milliseconds())
		}
		return nil
	}
	if err := errors.Join(
		check("machine_detection_time", p.Time, 2*time.Second, 10*time.Second),
		check("machine_detection_initial_silence", p.InitialSilence, 2*time.Second, 10*time.Second),
		check("machine_detection_maximum_speech_length", p.MaximumSpeechLength, time.Second, 6*time.Second),
		check("machine_detection_initial_greeting", p.InitialGreeting, time.Second, 5*time.Second),
	); err != nil {
		return err
	}
	if p.MaximumWords < 2 || p.MaximumWords > 10 {
		return fmt.Errorf("%w: machine_detection_maximum_words must be 2–10, got %d", ErrInvalidParams, p.MaximumWords)
	}
	if p.SilenceThreshold < 1 || p.SilenceThreshold > 32767 {
		return fmt.Errorf("%w: amd_silence_threshold must be 1–32767, got %d", ErrInvalidParams, p.SilenceThreshold)
	}
	return nil
}

// Result is who answered.
type Result uint8

// The results. Undecided means the detector wants more frames.
const (
	Undecided Result = iota
	Human
	Machine
)

func (r Result) String() string {
	switch r {
	case Human:
		return "human"
	case Machine:
		return "machine"
	}
	return "undecided"
}

// Reason names the rule that decided, with the names mod_amd and AMD() log.
type Reason string

// The reasons, one per rule of §D.2, in the order the rules are tried.
const (
	ReasonInitialSilence Reason = "INITIALSILENCE" // machine: no word within InitialSilence
	ReasonMaxWordLength  Reason = "MAXWORDLENGTH"  // machine: a word reached MaximumSpeechLength
	ReasonMaxWords       Reason = "MAXWORDS"       // machine: MaximumWords words
	ReasonLongGreeting   Reason = "LONGGREETING"   // machine: voice InitialGreeting after the first word began
	ReasonHuman          Reason = "HUMAN"          // human: 800 ms of silence after a word
	ReasonNotSure        Reason = "NOTSURE"        // human: Time passed without a decision
)

// Verdict is the detector's answer.
type Verdict struct {
	Result Result
	Reason Reason        // empty while Undecided
	At     time.Duration // audio time from the answer at which the rule fired
}

// Decided reports whether the verdict is final.
func (v Verdict) Decided() bool { return v.Result != Undecided }

// Detector holds one call's analysis. Not safe for concurrent use.
type Detector struct {
	p       Params
	voice   *media.VoiceDetector
	words   int
	first   time.Duration // when the first word's voice began
	verdict Verdict
}

// New returns a detector for params, which must pass Validate.
func New(p Params) (*Detector, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Detector{p: p, voice: media.NewVoiceDetector(p.SilenceThreshold, minWordLength, betweenWordsSilence)}, nil
}

// Feed takes the next frame of received audio (8 kHz PCM; 20 ms frames are usual, any length
// works) and returns the verdict so far. Once decided, the verdict never changes and further
// frames are ignored. A caller that loses frames should feed silence in their place so that
// the time limits keep their meaning.
//
// Every duration rule fires at the first frame whose end reaches the limit, so decisions are
// exact to one frame. The rules, tried in this order after each frame:
//
//  1. machine, INITIALSILENCE: no word has begun and the audio time reaches InitialSilence;
//     voice bursts shorter than a word do not count as voice.
//  2. machine, MAXWORDLENGTH: the current word (voice since its start, gaps under 50 ms
//     included) reaches MaximumSpeechLength.
//  3. machine, MAXWORDS: the word count reaches MaximumWords.
//  4. machine, LONGGREETING: the frame is voiced and the time since the first word's voice
//     began reaches InitialGreeting. Silence does not extend a greeting: a short "hello?"
//     followed by silence is left to rule 5.
//  5. human, HUMAN: at least one word, then 800 ms of silence.
//  6. human, NOTSURE: the audio time reaches Time.
func (d *Detector) Feed(frame []int16) Verdict {
	if d.verdict.Decided() {
		return d.verdict
	}
	if d.voice.Feed(frame) == media.VoiceStart {
		d.words++
		if d.words == 1 {
			d.first = d.voice.SegmentStart()
		}
	}
	now := d.voice.Elapsed()
	voiced := d.voice.VoicedRun() > 0
	switch {
	case d.words == 0 && now >= d.p.InitialSilence:
		d.decide(Machine, ReasonInitialSilence, now)
	case d.voice.SegmentLength() >= d.p.MaximumSpeechLength:
		d.decide(Machine, ReasonMaxWordLength, now)
	case d.words >= d.p.MaximumWords:
		d.decide(Machine, ReasonMaxWords, now)
	case d.words > 0 && voiced && now-d.first >= d.p.InitialGreeting:
		d.decide(Machine, ReasonLongGreeting, now)
	case d.words > 0 && d.voice.SilentRun() >= afterGreetingSilence:
		d.decide(Human, ReasonHuman, now)
	case now >= d.p.Time:
		d.decide(Human, ReasonNotSure, now)
	}
	return d.verdict
}

// Verdict returns the verdict so far.
func (d *Detector) Verdict() Verdict { return d.verdict }

// Words is the number of words heard so far.
func (d *Detector) Words() int { return d.words }

func (d *Detector) decide(r Result, reason Reason, at time.Duration) {
	d.verdict = Verdict{Result: r, Reason: reason, At: at}
}
