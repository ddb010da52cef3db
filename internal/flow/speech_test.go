package flow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/webhook"
)

// fakeRecognizer hands out fakeRecognitions that answer with a fixed hypothesis.
type fakeRecognizer struct {
	mu     sync.Mutex
	answer SpeechHypothesis
	fail   error // returned by Finish
	refuse error // returned by Recognize
	opts   []SpeechOptions
	recs   []*fakeRecognition
	// partials are sent on each recognition's Partials as soon as audio arrives.
	partials []SpeechPartial
}

func (f *fakeRecognizer) Recognize(ctx context.Context, o SpeechOptions) (Recognition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = append(f.opts, o)
	if f.refuse != nil {
		return nil, f.refuse
	}
	r := &fakeRecognition{ctx: ctx, f: f, partials: make(chan SpeechPartial, len(f.partials)+1)}
	f.recs = append(f.recs, r)
	return r, nil
}

type fakeRecognition struct {
	ctx      context.Context
	f        *fakeRecognizer
	mu       sync.Mutex
	samples  int
	sentPart bool
	finished bool
	partials chan SpeechPartial
}

func (r *fakeRecognition) Write(frame []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples += len(frame)
	if !r.sentPart && !r.finished {
		r.sentPart = true
		go func() {
			for _, p := range r.f.partials {
				r.partials <- p
				time.Sleep(60 * time.Millisecond)
			}
		}()
	}
}

func (r *fakeRecognition) Partials() <-chan SpeechPartial { return r.partials }

func (r *fakeRecognition) Finish(ctx context.Context) (SpeechHypothesis, error) {
	r.mu.Lock()
	r.finished = true
	r.mu.Unlock()
	return r.f.answer, r.f.fail
}

func (r *fakeRecognition) written() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.samples
}

// fakeInterim records interim requests.
type fakeInterim struct {
	mu   sync.Mutex
	reqs []webhook.Request
}

func (f *fakeInterim) SendOnce(ctx context.Context, r webhook.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	return nil
}

// say sends d of a voiced tone (the start of speech), then silence for the rest, as a caller's
// 20 ms packets about in real time.
func say(h *harness, voice, silence time.Duration) {
	tone := media.ReadAll(media.Tone(300, voice, -6), 0)
	frames := len(tone)/media.FrameSamples + int(silence/(20*time.Millisecond))
	for i := 0; i < frames; i++ {
		f := make([]int16, media.FrameSamples)
		if (i+1)*media.FrameSamples <= len(tone) {
			copy(f, tone[i*media.FrameSamples:])
		}
		h.leg.ReceiveAudio(f)
		time.Sleep(15 * time.Millisecond)
	}
}

func speechHarness(t *testing.T, docs map[string]string, rec *fakeRecognizer) *harness {
	h := newHarness(t, docs)
	h.runner.Speech = &Speech{Recognizer: rec, AutoEnd: 400 * time.Millisecond, InterimInterval: 50 * time.Millisecond}
	return h
}

func TestGatherSpeechMatchBargesInAndPostsTranscript(t *testing.T) {
	rec := &fakeRecognizer{answer: SpeechHypothesis{Text: "sales", Confidence: 0.917}}
	h := speechHarness(t, map[string]string{
		// The prompt loops for ever: only barge-in on speech ends it.
		"/answer": `<Response><Gather inputType="speech" action="/got" hints="yes, no,sales" language="en-GB" speechModel="phone_call" profanityFilter="true"><Speak loop="0">menu</Speak></Gather><Speak>no</Speak></Response>`,
		"/got":    `<Response><Hangup/></Response>`,
	}, rec)
	h.start("")
	time.Sleep(300 * time.Millisecond)
	say(h, 400*time.Millisecond, 800*time.Millisecond)
	o := h.wait(t)
	got := h.web.requestsTo("/got")
	if len(got) != 1 {
		t.Fatalf("action requested %d times", len(got))
	}
	p := got[0].Params
	if p.Get("InputType") != "speech" || p.Get("Speech") != "sales" || p.Get("SpeechConfidenceScore") != "0.92" ||
		p.Get("Digits") != "" || p.Get("BilledAmount") != "0.00000" {
		t.Errorf("action params %v", p)
	}
	if o.Cause.Code != 4000 {
		t.Errorf("the action document did not replace the rest: %+v", o)
	}
	if len(rec.opts) != 1 {
		t.Fatalf("%d recognitions", len(rec.opts))
	}
	want := SpeechOptions{Language: "en-GB", Hints: []string{"yes", "no", "sales"}, SpeechModel: "phone_call", Profanity: true}
	if o := rec.opts[0]; o.Language != want.Language || strings.Join(o.Hints, "|") != "yes|no|sales" || o.SpeechModel != want.SpeechModel || !o.Profanity || o.Interim {
		t.Errorf("recognition options %+v", o)
	}
	if rec.recs[0].written() < 400*8 {
		t.Errorf("recogniser got %d samples, not the speech", rec.recs[0].written())
	}
}

func TestGatherSpeechNoMatchNotifiesAndContinues(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  *fakeRecognizer
	}{
		{"empty transcript", &fakeRecognizer{}},
		{"recogniser error", &fakeRecognizer{answer: SpeechHypothesis{Text: "junk", Confidence: 0.5}, fail: errors.New("engine crashed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := speechHarness(t, map[string]string{
				"/answer": `<Response><Gather inputType="dtmf speech" action="/got"/><Hangup/></Response>`,
				"/got":    `<Response><Speak>not run</Speak></Response>`,
			}, tc.rec)
			h.start("")
			time.Sleep(200 * time.Millisecond)
			say(h, 300*time.Millisecond, 700*time.Millisecond)
			o := h.wait(t)
			if len(h.web.requestsTo("/got")) != 0 {
				t.Error("a no match fetched the action as a document")
			}
			notes := h.web.notifications()
			if len(notes) != 1 {
				t.Fatalf("notifications %+v", notes)
			}
			p := notes[0].Params
			if p.Get("InputType") != "speech" || p.Get("Speech") != "" || p.Get("Digits") != "" || p.Get("SpeechConfidenceScore") != "0" {
				t.Errorf("no-match params %v", p)
			}
			if o.Cause.Code != 4000 {
				t.Errorf("next element did not run: %+v", o)
			}
		})
	}
}

func TestGatherSpeechTimeoutInputType(t *testing.T) {
	h := speechHarness(t, map[string]string{
		"/answer": `<Response><Gather inputType="speech" action="/got" executionTimeout="5"/><Hangup/></Response>`,
	}, &fakeRecognizer{answer: SpeechHypothesis{Text: "never"}})
	start := time.Now()
	h.start("")
	// Silence and a digit: neither is input to a speech-only Gather.
	time.Sleep(200 * time.Millisecond)
	h.leg.ReceiveDigit('5', 100)
	say(h, 0, 500*time.Millisecond)
	h.wait(t)
	if el := time.Since(start); el < 4500*time.Millisecond {
		t.Errorf("gather ended after %v, before its 5 s timeout", el)
	}
	notes := h.web.notifications()
	if len(notes) != 1 {
		t.Fatalf("notifications %+v", notes)
	}
	if p := notes[0].Params; p.Get("InputType") != "speech" || p.Get("Speech") != "" || p.Get("Digits") != "" || p.Get("SpeechConfidenceScore") != "0" {
		t.Errorf("timeout params %v", p)
	}
}

func TestGatherDigitFirstStopsSpeech(t *testing.T) {
	rec := &fakeRecognizer{answer: SpeechHypothesis{Text: "sales", Confidence: 0.9}}
	h := speechHarness(t, map[string]string{
		"/answer": `<Response><Gather inputType="speech dtmf" action="/got" numDigits="2"><Speak loop="0">menu</Speak></Gather></Response>`,
		"/got":    `<Response><Hangup/></Response>`,
	}, rec)
	h.start("")
	time.Sleep(300 * time.Millisecond)
	h.leg.ReceiveDigit('4', 1000)
	time.Sleep(100 * time.Millisecond)
	say(h, 400*time.Millisecond, 200*time.Millisecond) // speech after the digit is ignored
	h.leg.ReceiveDigit('2', 9000)
	h.wait(t)
	got := h.web.requestsTo("/got")
	if len(got) != 1 {
		t.Fatalf("action requested %d times", len(got))
	}
	if p := got[0].Params; p.Get("InputType") != "dtmf" || p.Get("Digits") != "42" || p.Get("Speech") != "" {
		t.Errorf("action params %v", p)
	}
	if err := rec.recs[0].ctx.Err(); err == nil {
		t.Error("the recognition was not abandoned when DTMF won")
	}
}

func TestGatherWithoutRecognizerWarnsOncePerCall(t *testing.T) {
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Gather inputType="dtmf speech" numDigits="1" action="/a" redirect="false"/><Gather inputType="speech dtmf" numDigits="1" action="/b"/></Response>`,
		"/b":      `<Response><Hangup/></Response>`,
	})
	warnings := &countingLog{}
	h.runner.CallLog = warnings
	h.start("")
	time.Sleep(300 * time.Millisecond)
	say(h, 300*time.Millisecond, 300*time.Millisecond) // speech is not detected: nothing happens
	h.leg.ReceiveDigit('1', 1000)
	time.Sleep(300 * time.Millisecond)
	h.leg.ReceiveDigit('2', 9000)
	h.wait(t)
	if got := h.web.requestsTo("/b"); len(got) != 1 || got[0].Params.Get("Digits") != "2" {
		t.Fatalf("second Gather's action %+v", got)
	}
	if n := warnings.count("speech is not recognised"); n != 1 {
		t.Errorf("%d speech warnings, want 1 per call", n)
	}
}

type countingLog struct {
	mu    sync.Mutex
	texts []string
}

func (c *countingLog) AddCallWarning(_ context.Context, _, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.texts = append(c.texts, text)
	return nil
}

func (c *countingLog) count(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.texts {
		if strings.Contains(t, sub) {
			n++
		}
	}
	return n
}

func TestGatherInterimResultsInOrder(t *testing.T) {
	rec := &fakeRecognizer{
		answer: SpeechHypothesis{Text: "i want sales", Confidence: 0.8},
		partials: []SpeechPartial{
			{Unstable: "i"}, {Unstable: "i want", Stability: 0.333}, {Stable: "i want", Unstable: "sales", Stability: 0.9},
		},
	}
	interim := &fakeInterim{}
	h := speechHarness(t, map[string]string{
		"/answer": `<Response><Gather inputType="speech" action="/got" interimSpeechResultsCallback="/partial" interimSpeechResultsCallbackMethod="GET"/></Response>`,
		"/got":    `<Response><Hangup/></Response>`,
	}, rec)
	h.runner.Speech.Interim = interim
	h.start("")
	time.Sleep(200 * time.Millisecond)
	say(h, 600*time.Millisecond, 800*time.Millisecond)
	h.wait(t)
	if !rec.opts[0].Interim {
		t.Error("partials were not asked for")
	}
	interim.mu.Lock()
	defer interim.mu.Unlock()
	if len(interim.reqs) < 2 {
		t.Fatalf("%d interim requests, want the changing partials", len(interim.reqs))
	}
	last := ""
	for i, r := range interim.reqs {
		if r.Method != "GET" || !strings.HasSuffix(r.URL, "/partial") {
			t.Errorf("request %d to %s %s", i, r.Method, r.URL)
		}
		if seq := r.Params.Get("SequenceNumber"); seq != string(rune('1'+i)) {
			t.Errorf("request %d has SequenceNumber %s", i, seq)
		}
		text := strings.TrimSpace(r.Params.Get("StableSpeech") + " " + r.Params.Get("UnstableSpeech"))
		if len(text) < len(last) || r.Params.Get("CallUUID") != h.call.UUID() {
			t.Errorf("request %d out of order or without the call: %v", i, r.Params)
		}
		last = text
	}
	if p := interim.reqs[len(interim.reqs)-1].Params; p.Get("StableSpeech") != "i want" || p.Get("UnstableSpeech") != "sales" || p.Get("Stability") != "0.9" {
		t.Errorf("last partial %v", p)
	}
}

func TestGatherSpeechEndsWhenPacketsStop(t *testing.T) {
	rec := &fakeRecognizer{answer: SpeechHypothesis{Text: "yes", Confidence: 0.7}}
	h := speechHarness(t, map[string]string{
		"/answer": `<Response><Gather inputType="speech" action="/got"/></Response>`,
		"/got":    `<Response><Hangup/></Response>`,
	}, rec)
	h.start("")
	time.Sleep(200 * time.Millisecond)
	say(h, 400*time.Millisecond, 0) // then nothing at all: a far end without comfort noise
	h.wait(t)
	if got := h.web.requestsTo("/got"); len(got) != 1 || got[0].Params.Get("Speech") != "yes" {
		t.Fatalf("action %+v", got)
	}
}
