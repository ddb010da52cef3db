package flow

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/parley-voice/parley/internal/call"
)

// Attempt is an outbound leg being placed: the call and the signalling that reports on it.
type Attempt struct {
	Call *call.Call
	Leg  call.OutboundLeg
	// Progress receives the 18x statuses of the leg (the Dialer's OnProgress feeds it); it
	// must be buffered.
	Progress <-chan Progress
	// ViaGateway says the leg went through the outbound gateway: refusals then have source
	// Carrier rather than Callee.
	ViaGateway bool
}

// Progress is one provisional response of an outbound leg.
type Progress struct {
	Status     int
	EarlyMedia bool
}

// attemptResult is how an attempt ended before or at answer.
type attemptResult struct {
	answered bool
	rang     bool
	cause    call.Cause
	source   string
}

// attemptHooks are the optional reactions of a caller to an attempt's progress.
type attemptHooks struct {
	onRing       func(earlyMedia bool) // first 180/183
	hangupOnRing *time.Duration        // cancel this long after ringing starts (cause 6000)
	stop         <-chan struct{}       // the caller gave up (e.g. the A leg hung up, a race was lost)
	// stopCause says why, asked when stop closes.
	stopCause func() (call.Cause, string)
}

// await follows an attempt until it is answered or has failed. An unanswered attempt is ended
// here with its cause (spec §8.3, §10.2).
func await(a *Attempt, h attemptHooks) attemptResult {
	c := a.Call
	answer := make(chan struct {
		status int
		err    error
	}, 1)
	go func() {
		st, err := a.Leg.WaitAnswer(context.Background())
		answer <- struct {
			status int
			err    error
		}{st, err}
	}()
	var res attemptResult
	var ringTimer <-chan time.Time
	stop := h.stop
	for {
		select {
		case p := <-a.Progress:
			if !res.rang {
				res.rang = true
				if p.EarlyMedia {
					_ = c.EarlyMedia(context.Background())
				}
				if h.onRing != nil {
					h.onRing(p.EarlyMedia)
				}
				if h.hangupOnRing != nil {
					t := time.NewTimer(*h.hangupOnRing)
					defer t.Stop()
					ringTimer = t.C
				}
			} else if p.EarlyMedia {
				_ = c.EarlyMedia(context.Background())
			}
		case <-ringTimer:
			c.Hangup(call.CauseScheduledHangup, call.SourceVobiz, 0)
			a.Leg.Cancel()
			ringTimer = nil
		case <-stop:
			cause, source := h.stopCause()
			c.Hangup(cause, source, 0)
			a.Leg.Cancel()
			stop = nil
		case r := <-answer:
			if r.err == nil {
				c.MarkAnswered()
				if c.State() == call.Answered {
					res.answered = true
					return res
				}
				// Hung up (API, lost race) just as the answer arrived.
				_ = a.Leg.Hangup(context.Background())
			}
			res.cause, res.source = failureCause(r.status, r.err, a.ViaGateway)
			c.Hangup(res.cause, res.source, 0)
			if o, ok := c.Outcome(); ok {
				res.cause, res.source = o.Cause, o.Source
			}
			return res
		}
	}
}

// failureCause maps how an attempt failed to its hangup cause and source.
func failureCause(status int, err error, viaGateway bool) (call.Cause, string) {
	remote := call.SourceCallee
	if viaGateway {
		remote = call.SourceCarrier
	}
	switch {
	case errors.Is(err, call.ErrRingTimeout):
		return call.CauseRingTimeout, call.SourceVobiz
	case errors.Is(err, call.ErrNoResponse):
		return call.CauseRequestTimeout, remote
	case errors.Is(err, call.ErrDialCanceled):
		return call.CauseCanceled, call.SourceAPIRequest
	case status >= 300:
		c := call.CauseForSIPStatus(status)
		if c == call.CauseForbidden {
			return c, call.SourceCarrier
		}
		return c, remote
	}
	return call.CauseNetworkError, remote
}

// Outbound is an API call's application (POST /Call/, spec §4.2 and §8.3).
type Outbound struct {
	Session
	RingURL, RingMethod string
	SendDigits          string
	SendOnPreanswer     bool
	TimeLimit           time.Duration
	HangupOnRing        *time.Duration
	// MachineDetection is nil when machine_detection is off.
	MachineDetection *MachineDetection
}

// RunOutbound follows an API call from INVITE to hangup: ring_url on the first ring, the answer
// URL's document once answered, time_limit. It always leaves the call ended.
func (r *Runner) RunOutbound(a *Attempt, o *Outbound) {
	c := a.Call
	digitsSent := false
	res := await(a, attemptHooks{
		hangupOnRing: o.HangupOnRing,
		onRing: func(early bool) {
			if o.RingURL != "" {
				p := CallParams(c, "Ring")
				p.Set("STIRAttestation", "")
				r.notifyCall(c, o.RingURL, o.RingMethod, p)
			}
			if early && o.SendOnPreanswer && o.SendDigits != "" {
				digitsSent = true
				_ = c.SendDigits(c.Context(), o.SendDigits, false)
			}
		},
	})
	if !res.answered {
		return
	}
	if o.TimeLimit > 0 {
		t := time.AfterFunc(o.TimeLimit, func() { c.Hangup(call.CauseScheduledHangup, call.SourceVobiz, 0) })
		defer t.Stop()
	}
	if o.SendDigits != "" && !digitsSent {
		_ = c.SendDigits(c.Context(), o.SendDigits, false)
	}
	if o.MachineDetection != nil {
		r.startMachineDetection(o)
	}
	r.Run(&o.Session)
}

// notifyCall queues a notification about c.
func (r *Runner) notifyCall(c *call.Call, rawURL, method string, params url.Values) {
	if method == "" {
		method = "POST"
	}
	n := webhookNote(c.Identity().AccountID, rawURL, method, params, c.UUID())
	if err := r.Notifier.Notify(context.Background(), n); err != nil {
		c.Logger().Error("queueing notification failed", "url", rawURL, "err", err)
	}
}
