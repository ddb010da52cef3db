// Package asr holds the speech recognisers of calls-more.md §C.5: streaming engines fed the
// caller's received audio (8 kHz PCM frames) that return partial hypotheses and final
// hypotheses with a confidence. Two engines: Pocketsphinx runs Debian's pocketsphinx_continuous
// as an external program; Vosk is a client of a self-hosted recogniser speaking the Vosk server
// WebSocket protocol. "none" (the default) is no engine at all. The profanity filter of §C.1
// lives here too.
//
// The seam the flow calls is declared by flow (like flow.Synthesizer); app adapts these engines
// to it. This package must not import flow, call or any package above media, know about
// <Gather>, timeouts of a Gather, webhooks or XML: it turns audio into text, nothing more.
package asr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Engine names: the values of the asr_engine setting.
const (
	EngineNone         = "none"
	EnginePocketsphinx = "pocketsphinx"
	EngineVosk         = "vosk"
)

// Errors of Start and Write.
var (
	// ErrNoModel: the engine has no model for the requested language (§C.1 languages).
	ErrNoModel = errors.New("no speech recognition model for the language")
	// ErrBusy: MaxConcurrent recognitions are running (asr_max_concurrent).
	ErrBusy = errors.New("too many speech recognitions running")
	// ErrNotInstalled: the pocketsphinx program or its model cannot be found.
	ErrNotInstalled = errors.New("pocketsphinx_continuous not found on PATH: install the pocketsphinx and pocketsphinx-en-us packages")
	// ErrClosed: Write after Close or after the session ended.
	ErrClosed = errors.New("speech recognition session closed")
	// ErrOverrun: the session's audio queue is full (the engine is slower than real time);
	// the frame was dropped.
	ErrOverrun = errors.New("speech recognition audio queue full: frame dropped")
)

// Options configure one recognition (one speech <Gather>).
type Options struct {
	// Language is the BCP-47 tag of the speech (default en-US). The engine's model is chosen
	// by exact tag, else by primary subtag (ModelFor).
	Language string
	// Hints are phrases the speech probably contains (the Gather's hints, already split at
	// commas). Engines bias recognition toward them.
	Hints []string
	// SpeechModel is the Gather's speechModel, advisory; the present engines ignore it.
	SpeechModel string
	// Profanity masks profane words in every result (MaskProfanity with ProfanityWords).
	Profanity bool
	// ProfanityWords replaces the built-in list (EnglishProfanity) when not nil.
	ProfanityWords []string
	// Interim asks for partial results. Without it only final results are delivered.
	Interim bool
}

// Result is one hypothesis.
type Result struct {
	// Text is the transcript: lower-case words separated by single spaces.
	Text string
	// Confidence is 0.0–1.0 for final results (each engine documents how it is computed); 0
	// when the engine gives none. Always 0 for partials.
	Confidence float64
	// Stability is 0.0–1.0 for partials when the engine gives it, else 0.
	Stability float64
	// Final marks the hypothesis of a finished utterance. A session may deliver several
	// finals (one per utterance the engine segments); the transcript of the session is their
	// texts joined by a space (Transcript).
	Final bool
	// Err is set on the last result of a session that failed (engine crash, connection lost).
	Err error
}

// Session is one streaming recognition.
//
// Write queues a frame and never blocks; Close says no more audio will come, after which the
// engine finishes, delivers its last results and closes the Results channel. Cancelling the
// context given to Start aborts the session at once (the channel is closed; no error result).
// Results must be drained (or the context cancelled) for the session to finish.
type Session interface {
	// Write queues one frame of 8 kHz mono PCM (usually 20 ms). The frame is copied. It
	// returns ErrOverrun when the queue is full (the frame is dropped) and ErrClosed after
	// Close or the session's end.
	Write(frame []int16) error
	// Results delivers hypotheses in order and is closed when the session ends.
	Results() <-chan Result
	// Close ends the audio. It is idempotent and does not wait.
	Close() error
}

// Engine starts recognitions. Implementations are safe for concurrent use.
type Engine interface {
	// Start begins a recognition. Errors: ErrNoModel, ErrBusy, ErrNotInstalled, or a failure
	// to start the engine.
	Start(ctx context.Context, opts Options) (Session, error)
	// Supports reports whether Start would find a model for the language.
	Supports(language string) bool
}

// Config chooses and configures the engine (settings asr_*).
type Config struct {
	// Engine is "none" (or ""), "pocketsphinx" or "vosk".
	Engine string
	// Models maps a BCP-47 tag (or a primary subtag such as "en") to a model: for
	// pocketsphinx a model directory, for vosk a ws:// or wss:// URL. Empty: pocketsphinx
	// uses DefaultPocketsphinxModel for "en"; vosk uses VoskURL for "en".
	Models map[string]string
	// VoskURL is the Vosk server's address (ws://host:2700) used for "en" when Models is empty.
	VoskURL string
	// Command is the pocketsphinx program. Default "pocketsphinx_continuous".
	Command string
	// MaxConcurrent bounds running recognitions (asr_max_concurrent); more → ErrBusy.
	// Default 16.
	MaxConcurrent int
	// MaxDuration bounds one session (the process or connection is then stopped). Default
	// 2 minutes: a Gather captures at most 60 s.
	MaxDuration time.Duration
}

// New returns the configured engine, or nil and no error for "none".
func New(cfg Config) (Engine, error) {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 16
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 2 * time.Minute
	}
	var e Engine
	switch strings.ToLower(strings.TrimSpace(cfg.Engine)) {
	case "", EngineNone:
		return nil, nil
	case EnginePocketsphinx:
		models := cfg.Models
		if len(models) == 0 {
			models = map[string]string{"en": DefaultPocketsphinxModel}
		}
		e = NewPocketsphinx(PocketsphinxOptions{Command: cfg.Command, Models: models, MaxDuration: cfg.MaxDuration})
	case EngineVosk:
		models := cfg.Models
		if len(models) == 0 {
			if cfg.VoskURL == "" {
				return nil, errors.New("asr_engine vosk needs asr_vosk_url or asr_models")
			}
			models = map[string]string{"en": cfg.VoskURL}
		}
		v, err := NewVosk(VoskOptions{Models: models, MaxDuration: cfg.MaxDuration})
		if err != nil {
			return nil, err
		}
		e = v
	default:
		return nil, fmt.Errorf("unknown asr_engine %q: want none, pocketsphinx or vosk", cfg.Engine)
	}
	return Limit(e, cfg.MaxConcurrent), nil
}

// ModelFor finds the model for a BCP-47 tag in models: the exact tag, else its primary subtag
// (en-AU → en), compared without regard to case. An empty tag means en-US.
func ModelFor(models map[string]string, tag string) (string, bool) {
	tag = strings.TrimSpace(tag)
	if tag == "" {
		tag = "en-US"
	}
	primary, _, _ := strings.Cut(tag, "-")
	var byPrimary string
	found := false
	for k, m := range models {
		if strings.EqualFold(k, tag) {
			return m, true
		}
		if strings.EqualFold(k, primary) {
			byPrimary, found = m, true
		}
	}
	return byPrimary, found
}

// Transcript joins the texts of final results as the session's transcript, and returns the
// mean of their confidences weighted by word count.
func Transcript(finals []Result) (text string, confidence float64) {
	var parts []string
	var words int
	var sum float64
	for _, r := range finals {
		t := strings.TrimSpace(r.Text)
		if !r.Final || t == "" {
			continue
		}
		n := len(strings.Fields(t))
		parts = append(parts, t)
		words += n
		sum += r.Confidence * float64(n)
	}
	if words == 0 {
		return "", 0
	}
	return strings.Join(parts, " "), sum / float64(words)
}

// Limit wraps an engine so that at most max sessions run at once; Start beyond that returns
// ErrBusy without waiting (a speech Gather then hears no speech, §C.5).
func Limit(e Engine, max int) Engine {
	return &limited{Engine: e, slots: make(chan struct{}, max)}
}

type limited struct {
	Engine
	slots chan struct{}
}

func (l *limited) Start(ctx context.Context, opts Options) (Session, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	s, err := l.Engine.Start(ctx, opts)
	if err != nil {
		<-l.slots
		return nil, err
	}
	out := make(chan Result, cap(s.Results()))
	go func() {
		defer close(out)
		defer func() { <-l.slots }() // free before Results closes: the caller may start again at once
		for r := range s.Results() {
			out <- r
		}
	}()
	return &limitedSession{Session: s, results: out}, nil
}

type limitedSession struct {
	Session
	results chan Result
}

func (s *limitedSession) Results() <-chan Result { return s.results }

// audioQueue is a session's bounded frame queue: Write never blocks, the engine's feeder
// reads frames from ch until it is closed.
type audioQueue struct {
	mu     sync.Mutex
	ch     chan []int16
	closed bool
}

func newAudioQueue(frames int) *audioQueue { return &audioQueue{ch: make(chan []int16, frames)} }

func (q *audioQueue) write(frame []int16) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- append([]int16(nil), frame...):
		return nil
	default:
		return ErrOverrun
	}
}

func (q *audioQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}

// queueFrames is the audio a session buffers: 10 s, enough to cover an engine's start-up
// (pocketsphinx loads its model while the caller already speaks).
const queueFrames = 500

// resultBuffer is the capacity of a session's Results channel.
const resultBuffer = 32

// emitter delivers a session's results: finals and errors wait for the reader (or the
// context), partials are dropped when the reader lags (a newer partial will follow).
type emitter struct {
	ctx      context.Context
	out      chan Result
	opts     Options
	lastPart string
}

func newEmitter(ctx context.Context, opts Options) *emitter {
	return &emitter{ctx: ctx, out: make(chan Result, resultBuffer), opts: opts}
}

func (e *emitter) final(text string, confidence float64) {
	text = e.clean(text)
	e.lastPart = ""
	if text == "" {
		return
	}
	e.send(Result{Text: text, Confidence: clamp01(confidence), Final: true})
}

func (e *emitter) partial(text string, stability float64) {
	text = e.clean(text)
	if !e.opts.Interim || text == "" || text == e.lastPart {
		return
	}
	e.lastPart = text
	select {
	case e.out <- Result{Text: text, Stability: clamp01(stability)}:
	default:
	}
}

func (e *emitter) fail(err error) {
	e.send(Result{Final: true, Err: err})
}

func (e *emitter) send(r Result) {
	select {
	case e.out <- r:
	case <-e.ctx.Done():
	}
}

func (e *emitter) clean(text string) string {
	text = strings.Join(strings.Fields(strings.ToLower(text)), " ")
	if e.opts.Profanity {
		words := e.opts.ProfanityWords
		if words == nil {
			words = EnglishProfanity()
		}
		text = MaskProfanity(text, words)
	}
	return text
}

func clamp01(v float64) float64 {
	switch {
	case v != v || v < 0: // NaN or negative
		return 0
	case v > 1:
		return 1
	}
	return v
}
