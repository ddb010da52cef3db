package vxml

import (
	"strings"
	"time"
)

// MaxDocumentSize is the largest document Parse accepts, in bytes (§7.14).
const MaxDocumentSize = 102400

// MaxSpeakText is the most characters of text a <Speak> may hold, markup not counted (§7.3).
const MaxSpeakText = 5000

// HTTP methods as they appear in element fields.
const (
	MethodGet  = "GET"
	MethodPost = "POST"
)

// DialMusicReal is the <Dial dialMusic> value that relays B's early media or plays ringback.
const DialMusicReal = "real"

// Sound references of <Conference enterSound/exitSound> other than URLs.
const (
	SoundBeep1 = "beep:1"
	SoundBeep2 = "beep:2"
)

// Kinds of <Dial> targets.
const (
	TargetNumber = "Number"
	TargetUser   = "User"
)

// Document is a parsed VobizXML document.
type Document struct {
	// Elements are the children of <Response>, in document order. Speak elements without text
	// are left out (the contract skips them).
	Elements []Element
	// Warnings describe values that were repaired (clamped, defaulted, an unknown voice) or
	// ignored (unknown attributes, stray text); each starts with "line N:".
	Warnings []string
}

// Element is one VobizXML element. The concrete types are the pointer types of this package
// (*Speak, *Play, *Wait, *Redirect, *Hangup, *PreAnswer, *Gather, *Dial, *Conference, *Record,
// *DTMF, *Stream); no other package can add to them.
type Element interface {
	// Name returns the element's VobizXML name; the aliases GetDigits and GetInput give
	// "Gather".
	Name() string
	sealed()
}

// Speak synthesises text (§7.3).
type Speak struct {
	Line int
	// Text is the plain text to speak: markup removed, whitespace collapsed; never empty.
	Text string
	// SSML is the content as SSML for a synthesiser that understands it, without a <speak>
	// wrapper: <break>, <say-as>, <emphasis>, <prosody>, <p>, <s> and <sub alias> are kept
	// (with their known attributes), other tags are reduced to their text.
	SSML string
	// Voice is voice.Woman or voice.Man.
	Voice string
	// Language is one of voice.Languages(), in its canonical case (e.g. "en-US").
	Language string
	// Loop is the number of repetitions; 0 repeats until the element is interrupted.
	Loop int
}

// Play plays an MP3 or WAV file (§7.4).
type Play struct {
	Line int
	// URL is the absolute http or https URL of the audio.
	URL string
	// Loop is the number of repetitions; 0 repeats until the element is interrupted.
	Loop int
}

// Wait pauses (§7.5).
type Wait struct {
	Line int
	// Length is the longest the wait lasts.
	Length time.Duration
	// Silence ends the wait once the caller has been silent for MinSilence.
	Silence bool
	// MinSilence is the silence that ends the wait when Silence is set.
	MinSilence time.Duration
	// Beep ends the wait when an answering-machine beep is heard. Never set with Silence.
	Beep bool
}

// Redirect replaces the document with the one at URL (§7.7).
type Redirect struct {
	Line int
	// URL is the absolute http or https URL of the next document.
	URL string
	// Method is MethodGet or MethodPost.
	Method string
}

// Hangup ends the call, now or on a timer (§7.8).
type Hangup struct {
	Line int
	// Reason is "rejected", "busy" or "" (none given).
	Reason string
	// HasSchedule is true when the call is to be hung up after Schedule rather than now.
	HasSchedule bool
	// Schedule is the delay before the scheduled hangup; positive when HasSchedule.
	Schedule time.Duration
}

// PreAnswer plays its children as early media (§7.9).
type PreAnswer struct {
	Line int
	// Children are *Speak, *Play and *Wait elements only.
	Children []Element
}

// Gather collects DTMF digits (§7.10); GetDigits and GetInput parse to it as well.
type Gather struct {
	Line int
	// Action is the absolute URL that receives the result, or "" for none.
	Action string
	// Method is the method for Action.
	Method string
	// InputType is "dtmf", "speech" or "dtmf speech".
	InputType string
	// ExecutionTimeout is the wait for the first digit after the prompts (5–60 s).
	ExecutionTimeout time.Duration
	// DigitEndTimeout is the wait after each digit (2–10 s; "auto" is 5 s).
	DigitEndTimeout time.Duration
	// FinishOnKey is the one key that ends input, or "" when no key does.
	FinishOnKey string
	// NumDigits ends input when this many digits were received (1–32).
	NumDigits int
	// Redirect makes the action's document replace the rest of this one.
	Redirect bool
	// SpeechEndTimeout is the silence after speech that ends recognition (2–10 s); 0 means
	// "auto" (the server's asr_auto_end_ms).
	SpeechEndTimeout time.Duration
	// Language is the recognition language, a BCP-47 tag (default en-US). Any tag is accepted.
	Language string
	// SpeechModel is default, command_and_search, phone_call or telephony (advisory).
	SpeechModel string
	// Hints are the phrases of hints, trimmed, empty items dropped (at most 500 of at most 100
	// characters, 10 000 characters in all).
	Hints []string
	// ProfanityFilter masks profane words in the results.
	ProfanityFilter bool
	// InterimURL is the absolute URL of interimSpeechResultsCallback, or "".
	InterimURL string
	// InterimMethod is the method for InterimURL.
	InterimMethod string
	// Log false keeps the digits and speech out of logs and the call's warnings.
	Log bool
	// Children are the prompts: *Speak, *Play and *Wait elements only.
	Children []Element
}

// Gather hint limits of calls-more.md §C.1.
const (
	MaxHints          = 500
	MaxHintLength     = 100
	MaxHintCharacters = 10000
)

// SpeechModels are the values of <Gather speechModel>.
var SpeechModels = []string{"default", "command_and_search", "phone_call", "telephony"}

// HasDTMF reports whether the Gather collects digits.
func (g *Gather) HasDTMF() bool { return strings.Contains(g.InputType, "dtmf") }

// HasSpeech reports whether the Gather recognises speech.
func (g *Gather) HasSpeech() bool { return strings.Contains(g.InputType, "speech") }

// Dial calls one or more destinations and bridges the first to answer (§7.12).
type Dial struct {
	Line int
	// Action is the absolute URL of the result request, or "".
	Action string
	// Method is the method for Action.
	Method string
	// Redirect makes the action's document replace the rest of this one.
	Redirect bool
	// CallbackURL receives B-leg events, or "".
	CallbackURL string
	// CallbackMethod is the method for CallbackURL.
	CallbackMethod string
	// CallerID is the caller id for the B legs, or "" for the call's From.
	CallerID string
	// CallerName is the display name for the B legs (at most 50 characters), or "".
	CallerName string
	// Timeout is the ring time before giving up (1–120 s).
	Timeout time.Duration
	// TimeLimit is the longest bridge (1–86400 s).
	TimeLimit time.Duration
	// HangupOnStar lets the caller end the B leg with "*".
	HangupOnStar bool
	// DialMusic is DialMusicReal, "" (silence) or the absolute URL of a document.
	DialMusic string
	// ConfirmSound is the absolute URL of a document played to B on answer, or "".
	ConfirmSound string
	// ConfirmKey is the one key B must press after ConfirmSound, or "".
	ConfirmKey string
	// DigitsMatch are caller digit patterns; nil when none.
	DigitsMatch []string
	// DigitsMatchBLeg are B-leg digit patterns; nil when none.
	DigitsMatchBLeg []string
	// SIPHeaders are sent on every B-leg INVITE as X-PH-<Name>.
	SIPHeaders []SIPHeader
	// Targets are the destinations, at least one, rung at once.
	Targets []DialTarget
}

// DialTarget is one destination of a <Dial>: a <Number>, a <User> or the Dial's bare text.
type DialTarget struct {
	// Kind is TargetNumber or TargetUser.
	Kind string
	// Address is the number (digits, with a leading "+" when written so, separators removed)
	// or the SIP URI ("sip:" or "sips:" in lower case).
	Address string
	// SendDigits are digits sent to B after it answers, or "".
	SendDigits string
	// SendOnPreanswer sends SendDigits on early media instead.
	SendOnPreanswer bool
	// SIPHeaders are added to the Dial's headers for this target (User only).
	SIPHeaders []SIPHeader
}

// SIPHeader is one name=value pair of a sipHeaders attribute.
type SIPHeader struct {
	Name  string
	Value string
}

// Conference puts the call in a conference room (§7.6). Every field holds its default when
// the attribute was absent.
type Conference struct {
	Line int
	// Room is the room name: trimmed, 1–256 characters, no control characters.
	Room string
	// Muted makes the member enter muted.
	Muted bool
	// Beep plays beep:1 on entry and beep:2 on exit where no enter/exit sound is given.
	Beep bool
	// HasEnterSound is true when the enterSound attribute was present; it then overrides Beep
	// for entry, even when EnterSound is "".
	HasEnterSound bool
	// EnterSound is "", SoundBeep1, SoundBeep2 or an absolute URL.
	EnterSound string
	// HasExitSound is true when the exitSound attribute was present (overrides Beep for exit).
	HasExitSound bool
	// ExitSound is "", SoundBeep1, SoundBeep2 or an absolute URL.
	ExitSound string
	// StartConferenceOnEnter makes this member start the room.
	StartConferenceOnEnter bool
	// EndConferenceOnExit kicks every remaining member when this one leaves.
	EndConferenceOnExit bool
	// StayAlone keeps this member in the room when the others leave.
	StayAlone bool
	// MaxParticipants is the room capacity (1–200); maxMembers is accepted for it.
	MaxParticipants int
	// TimeLimit is the room lifetime; 0 means none.
	TimeLimit time.Duration
	// WaitSound is the absolute URL of the wait-audio document, or "".
	WaitSound string
	// WaitMethod is the method for WaitSound.
	WaitMethod string
	// RelayDTMF sends this member's DTMF to the other members.
	RelayDTMF bool
	// DigitsMatch are digit patterns reported with ConferenceDigitsMatch; nil when none.
	DigitsMatch []string
	// HangupOnStar makes "*" take this member out of the room.
	HangupOnStar bool
	// CallbackURL receives conference events, or "".
	CallbackURL string
	// CallbackMethod is the method for CallbackURL.
	CallbackMethod string
	// Record records the room mix.
	Record bool
	// RecordFileFormat is "mp3" or "wav".
	RecordFileFormat string
	// Action is fetched when the member leaves without hanging up, or "".
	Action string
	// Method is the method for Action.
	Method string
}

// Record records the caller (§7.11).
type Record struct {
	Line int
	// Action is the absolute URL that receives the result, or "".
	Action string
	// Method is the method for Action.
	Method string
	// Redirect makes the action's document replace the rest of this one.
	Redirect bool
	// FileFormat is "mp3" or "wav".
	FileFormat string
	// Timeout ends the recording after this much silence.
	Timeout time.Duration
	// MaxLength ends the recording after this length.
	MaxLength time.Duration
	// PlayBeep plays a beep before recording.
	PlayBeep bool
	// FinishOnKey lists the keys that end the recording; "" when none does.
	FinishOnKey string
	// RecordSession records the whole call in the background.
	RecordSession bool
	// StartOnDialAnswer records the next <Dial> bridge in the background.
	StartOnDialAnswer bool
	// CallbackURL receives RecordStop, or "".
	CallbackURL string
	// CallbackMethod is the method for CallbackURL.
	CallbackMethod string
}

// DTMF sends digits to the caller (§7.13).
type DTMF struct {
	Line int
	// Digits match [0-9A-D*#wW]+; w is a 0.5 s pause and W a 1 s pause.
	Digits string
	// Async sends in the background and continues at once.
	Async bool
}

// Stream opens an audio stream: a WebSocket to the app carrying the call's audio and, when
// bidirectional, the app's audio back (spec/streams.md §1). Attribute names are matched in any
// case and every value is lenient: a value that is not understood means the default (with a
// warning), never an invalid document. The stream itself checks URL and contentType when it
// starts; a URL that is not ws:// or wss:// makes it fail then (§1.5), not the document.
type Stream struct {
	Line int
	// URL is the WebSocket URL: the element's text (or a url attribute when the text is
	// empty), unescaped and trimmed, path and query exactly as written; "" when none is given.
	URL string
	// Bidirectional accepts playAudio, checkpoint and clearAudio from the app.
	Bidirectional bool
	// AudioTrack is StreamTrackInbound, StreamTrackOutbound or StreamTrackBoth; always
	// inbound when Bidirectional (§1.3).
	AudioTrack string
	// StreamTimeout is the longest the stream runs once connected (default 86400 s).
	StreamTimeout time.Duration
	// StatusCallbackURL receives the stream events, or "".
	StatusCallbackURL string
	// StatusCallbackMethod is the method for StatusCallbackURL.
	StatusCallbackMethod string
	// ContentType is the inbound audio format as written, trimmed ("" when absent); the stream
	// interprets it and falls back to audio/x-l16;rate=8000 (§1.4).
	ContentType string
	// ExtraHeaders is the extraHeaders value as written, trimmed ("" when absent); the stream
	// parses its pairs (§2.3).
	ExtraHeaders string
	// MaxRetries is the number of reconnects, 0–10.
	MaxRetries int
	// KeepCallAlive makes the element blocking: the document waits until the stream ends.
	KeepCallAlive bool
	// NoiseCancellation and NoiseCancellationLevel (60–100, default 85) are accepted from
	// Plivo-style documents; Parley does not act on them.
	NoiseCancellation      bool
	NoiseCancellationLevel int
}

// Tracks of <Stream audioTrack>.
const (
	StreamTrackInbound  = "inbound"
	StreamTrackOutbound = "outbound"
	StreamTrackBoth     = "both"
)

// DefaultStreamTimeout is the <Stream streamTimeout> default.
const DefaultStreamTimeout = 86400 * time.Second

// Name returns "Speak".
func (*Speak) Name() string { return "Speak" }

// Name returns "Play".
func (*Play) Name() string { return "Play" }

// Name returns "Wait".
func (*Wait) Name() string { return "Wait" }

// Name returns "Redirect".
func (*Redirect) Name() string { return "Redirect" }

// Name returns "Hangup".
func (*Hangup) Name() string { return "Hangup" }

// Name returns "PreAnswer".
func (*PreAnswer) Name() string { return "PreAnswer" }

// Name returns "Gather".
func (*Gather) Name() string { return "Gather" }

// Name returns "Dial".
func (*Dial) Name() string { return "Dial" }

// Name returns "Conference".
func (*Conference) Name() string { return "Conference" }

// Name returns "Record".
func (*Record) Name() string { return "Record" }

// Name returns "DTMF".
func (*DTMF) Name() string { return "DTMF" }

// Name returns "Stream".
func (*Stream) Name() string { return "Stream" }

func (*Speak) sealed()      {}
func (*Play) sealed()       {}
func (*Wait) sealed()       {}
func (*Redirect) sealed()   {}
func (*Hangup) sealed()     {}
func (*PreAnswer) sealed()  {}
func (*Gather) sealed()     {}
func (*Dial) sealed()       {}
func (*Conference) sealed() {}
func (*Record) sealed()     {}
func (*DTMF) sealed()       {}
func (*Stream) sealed()     {}
