package flow

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/vxml"
	"github.com/parley-voice/parley/internal/webhook"
)

// gather runs <Gather> (calls-more.md §C): prompts with barge-in, then DTMF collection or
// speech recognition, whichever input comes first.
func (x *run) gather(e *vxml.Gather) (*vxml.Document, error) {
	if err := x.answer(); err != nil {
		return nil, err
	}
	x.blocking()
	ctx := x.ctx
	gctx, endGather := context.WithCancel(ctx)
	defer endGather()
	promptCtx, stopPrompts := context.WithCancel(gctx)
	defer stopPrompts()
	var first modality
	digits := make(chan rune, 64)
	x.c.SetDigitSink(func(d rune) {
		if !e.HasDTMF() || !first.claim("dtmf") {
			return // speech-only Gather, or speech came first: digits are ignored (§C.2.2)
		}
		select {
		case digits <- d:
		default:
		}
		stopPrompts() // barge-in: a digit stops the prompts
	})
	defer x.c.SetDigitSink(nil)

	var speech *speechCapture
	var speechStarted <-chan struct{} // nil (never ready) without speech input
	if e.HasSpeech() {
		speech = x.startSpeech(e, func() bool {
			if !first.claim("speech") {
				return false
			}
			stopPrompts() // barge-in: the start of speech stops the prompts
			return true
		})
	}
	if speech != nil {
		defer speech.stop()
		speechStarted = speech.started
		if e.InterimURL != "" {
			go x.sendInterims(gctx, e, speech)
		}
	}

	for _, child := range e.Children {
		if promptCtx.Err() != nil {
			break
		}
		var err error
		switch ch := child.(type) {
		case *vxml.Speak:
			err = x.speak(promptCtx, ch)
		case *vxml.Play:
			err = x.play(promptCtx, ch)
		case *vxml.Wait:
			err = x.wait(promptCtx, ch)
		}
		if ctx.Err() != nil {
			return nil, errCallEnded
		}
		if err != nil && promptCtx.Err() == nil {
			return nil, err
		}
	}

	var got strings.Builder
	var heard SpeechHypothesis
	inputType := "dtmf"
	if !e.HasDTMF() {
		inputType = "speech"
	}
	timer := time.NewTimer(e.ExecutionTimeout)
	defer timer.Stop()
collect:
	for {
		select {
		case <-ctx.Done():
			return nil, errCallEnded
		case <-timer.C:
			break collect
		case <-speechStarted:
			inputType = "speech" // a no match, unless a transcript comes back
			h, ok, err := speech.result(ctx)
			if !ok {
				return nil, errCallEnded
			}
			if err != nil {
				x.log.Warn("speech recognition failed; treated as no match", "err", err)
			} else {
				heard = h
			}
			if e.Log {
				x.log.Debug("speech gathered", "speech", heard.Text, "confidence", heard.Confidence)
			}
			break collect
		case d := <-digits:
			if speech != nil {
				speech.stop() // DTMF won: speech is no longer recognised
				speechStarted = nil
			}
			if e.FinishOnKey != "" && strings.ContainsRune(e.FinishOnKey, d) {
				break collect
			}
			got.WriteRune(d)
			if got.Len() >= e.NumDigits {
				break collect
			}
			timer.Reset(e.DigitEndTimeout)
		}
	}

	if e.Action == "" {
		return nil, nil
	}
	params := CallParams(x.c, "")
	params.Set("InputType", inputType)
	params.Set("Digits", got.String())
	params.Set("Speech", heard.Text)
	params.Set("SpeechConfidenceScore", "0")
	if heard.Text != "" {
		params.Set("SpeechConfidenceScore", twoDecimals(heard.Confidence))
	}
	params.Set("BilledAmount", "0.00000")
	if (got.Len() > 0 || heard.Text != "") && e.Redirect {
		return x.fetchDocument(actionDoc, e.Action, e.Method, params)
	}
	x.notify(e.Action, e.Method, params)
	return nil, nil
}

// notify queues a notification about this call in the durable outbox.
func (x *run) notify(rawURL, method string, params map[string][]string) {
	x.r.notifyCall(x.c, rawURL, method, params)
}

func webhookNote(authID, rawURL, method string, params url.Values, orderKey string) webhook.Notification {
	return webhook.Notification{AuthID: authID, URL: rawURL, Method: method, Params: params, OrderKey: orderKey}
}
