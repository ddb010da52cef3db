package flow

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/vxml"
	"github.com/parley-voice/parley/internal/webhook"
)

// gather runs <Gather>: prompts with barge-in, then DTMF collection (spec §7.10).
func (x *run) gather(e *vxml.Gather) (*vxml.Document, error) {
	if err := x.answer(); err != nil {
		return nil, err
	}
	x.blocking()
	ctx := x.ctx
	if strings.Contains(strings.ToLower(e.InputType), "speech") {
		x.warn("speech input is not recognised in this version; Speech will be empty", "inputType", e.InputType)
	}
	digits := make(chan rune, 64)
	promptCtx, stopPrompts := context.WithCancel(ctx)
	defer stopPrompts()
	x.c.SetDigitSink(func(d rune) {
		select {
		case digits <- d:
		default:
		}
		stopPrompts() // barge-in: a digit stops the prompts
	})
	defer x.c.SetDigitSink(nil)

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
	timer := time.NewTimer(e.ExecutionTimeout)
	defer timer.Stop()
collect:
	for {
		select {
		case <-ctx.Done():
			return nil, errCallEnded
		case <-timer.C:
			break collect
		case d := <-digits:
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
	params.Set("InputType", "dtmf")
	params.Set("Digits", got.String())
	params.Set("Speech", "")
	params.Set("SpeechConfidenceScore", "0")
	params.Set("BilledAmount", "0.00000")
	if got.Len() > 0 && e.Redirect {
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
