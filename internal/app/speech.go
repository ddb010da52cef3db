package app

import (
	"context"
	"strings"
	"sync"

	"github.com/parley-voice/parley/internal/asr"
	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/flow"
)

// newSpeech builds the speech side of <Gather> from the asr_* settings: nil engine
// (asr_engine=none) gives a flow.Speech without a recogniser, so speech Gathers hear no speech
// (calls-more.md §C.5).
func newSpeech(cfg *config.Config, interim flow.InterimSender) (*flow.Speech, error) {
	engine, err := asr.New(asr.Config{
		Engine:        cfg.ASREngine,
		Models:        cfg.ASRModels,
		VoskURL:       cfg.ASRVoskURL,
		Command:       cfg.ASRCommand,
		MaxConcurrent: cfg.ASRMaxConcurrent,
	})
	if err != nil {
		return nil, err
	}
	sp := &flow.Speech{Interim: interim, AutoEnd: cfg.ASRAutoEnd, InterimInterval: cfg.ASRInterimInterval}
	if engine != nil {
		sp.Recognizer = recognizer{engine}
	}
	return sp, nil
}

// recognizer adapts an asr.Engine to flow.Recognizer.
type recognizer struct{ e asr.Engine }

func (r recognizer) Recognize(ctx context.Context, o flow.SpeechOptions) (flow.Recognition, error) {
	s, err := r.e.Start(ctx, asr.Options{Language: o.Language, Hints: o.Hints, SpeechModel: o.SpeechModel,
		Profanity: o.Profanity, Interim: o.Interim})
	if err != nil {
		return nil, err
	}
	rec := &recognition{s: s, partials: make(chan flow.SpeechPartial, 8), done: make(chan struct{})}
	go rec.collect()
	return rec, nil
}

// recognition collects an asr session's results: finals make the transcript (asr.Transcript)
// and the stable part of later partials; partials go on as flow.SpeechPartial.
type recognition struct {
	s        asr.Session
	partials chan flow.SpeechPartial
	done     chan struct{} // closed when the session's results end

	mu     sync.Mutex
	finals []asr.Result
	err    error
}

func (r *recognition) collect() {
	defer close(r.done)
	defer close(r.partials)
	for res := range r.s.Results() {
		r.mu.Lock()
		switch {
		case res.Err != nil:
			r.err = res.Err
		case res.Final:
			r.finals = append(r.finals, res)
		}
		stable, _ := asr.Transcript(r.finals)
		r.mu.Unlock()
		if res.Final || res.Err != nil {
			continue
		}
		select { // a lagging reader misses a partial; a newer one follows
		case r.partials <- flow.SpeechPartial{Stable: stable, Unstable: res.Text, Stability: res.Stability}:
		default:
		}
	}
}

func (r *recognition) Write(frame []int16) {
	// ErrOverrun drops the frame, ErrClosed means the session is over: neither is the caller's
	// business (the result says what was heard).
	_ = r.s.Write(frame)
}

func (r *recognition) Partials() <-chan flow.SpeechPartial { return r.partials }

func (r *recognition) Finish(ctx context.Context) (flow.SpeechHypothesis, error) {
	_ = r.s.Close()
	select {
	case <-r.done:
	case <-ctx.Done():
		return flow.SpeechHypothesis{}, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	text, conf := asr.Transcript(r.finals)
	if r.err != nil { // §C.2.6: a recogniser error is a no match
		return flow.SpeechHypothesis{}, r.err
	}
	return flow.SpeechHypothesis{Text: strings.TrimSpace(text), Confidence: conf}, nil
}
