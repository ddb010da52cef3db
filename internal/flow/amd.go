package flow

import (
	"context"
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/amd"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/vxml"
)

// MachineDetection is answering-machine detection on an API call (calls-more.md §D).
type MachineDetection struct {
	// Params are the detector's settings; they must pass amd.Params.Validate.
	Params amd.Params
	// Hangup hangs up with cause 9100 when a machine answers (machine_detection=hangup).
	Hangup bool
	// URL, when set, makes detection asynchronous: the document runs at once and the result
	// is notified here with Method (§D.4). Empty: synchronous (§D.3).
	URL, Method string
}

// amdGrace is how long past the analysis window the detector may wait for audio that has not
// arrived (a far end that sends no RTP) before the answer is "not sure", i.e. human.
const amdGrace = time.Second

// detectMachine runs the detector on the call's received audio until it decides, the window
// (plus amdGrace) passes, or ctx ends (ok false).
func detectMachine(ctx context.Context, c *call.Call, p amd.Params) (v amd.Verdict, ok bool) {
	d, err := amd.New(p)
	if err != nil {
		// The API checked the ranges (§D.1): this is a bug, and a person is the safe answer.
		c.Logger().Error("answering-machine detection not run", "err", err)
		return amd.Verdict{Result: amd.Human, Reason: amd.ReasonNotSure}, true
	}
	ring := call.NewAudioRing(2 * media.SampleRate)
	remove := c.AddTap(call.TapReceived, func(pcm []int16) { ring.Write(pcm) })
	defer remove()
	limit := time.NewTimer(p.Time + amdGrace)
	defer limit.Stop()
	frame := make([]int16, media.FrameSamples)
	for {
		select {
		case <-ctx.Done():
			return v, false
		case <-limit.C:
			return amd.Verdict{Result: amd.Human, Reason: amd.ReasonNotSure, At: p.Time}, true
		case <-ring.Ready():
		}
		for {
			n := ring.Read(frame)
			if n == 0 {
				break
			}
			if v = d.Feed(frame[:n]); v.Decided() {
				return v, true
			}
		}
	}
}

// startMachineDetection sets up §D.3 (synchronous: the session's analysis step, run before
// answer_url and ended by a transfer) or starts §D.4 (asynchronous) on an answered API call.
func (r *Runner) startMachineDetection(o *Outbound) {
	c, md := o.Call, o.MachineDetection
	if md.URL == "" {
		o.analyse = func(ctx context.Context) bool {
			v, ok := detectMachine(ctx, c, md.Params)
			if !ok {
				return c.Context().Err() == nil // a transfer ended the analysis: no Machine
			}
			r.machineDecided(c, md, v)
			if v.Result == amd.Machine && md.Hangup {
				c.Hangup(call.CauseMachineDetected, call.SourceVobiz, 0)
				return false
			}
			return true
		}
		return
	}
	go func() {
		v, ok := detectMachine(c.Context(), c, md.Params)
		if !ok {
			return // the call ended first: nothing is sent (§D.4)
		}
		r.machineDecided(c, md, v)
		p := CallParams(c, "MachineDetection")
		p.Set("IfMachine", "continue")
		if md.Hangup {
			p.Set("IfMachine", "hangup")
		}
		r.notifyCall(c, md.URL, md.Method, p) // queued before the hangup below
		if v.Result == amd.Machine && md.Hangup {
			c.Hangup(call.CauseMachineDetected, call.SourceVobiz, 0)
		}
	}()
}

// startDocument fetches the first document: answer_url, after the analysis step when there is
// one. A transfer during the analysis fetches its URL instead (calls-more.md §B).
func (x *run) startDocument() (*vxml.Document, error) {
	if x.s.analyse == nil {
		return x.fetchAnswer()
	}
	ctx, cancel := context.WithCancel(x.c.Context())
	x.mu.Lock()
	x.ctx, x.cancelElem = ctx, cancel
	x.mu.Unlock()
	proceed := x.s.analyse(ctx)
	cancel()
	x.mu.Lock()
	x.ctx = x.c.Context() // the fetch below is not abandonable: runElements takes over
	x.mu.Unlock()
	if x.c.Context().Err() != nil {
		return nil, errCallEnded
	}
	if t := x.takeTransfer(); t != nil {
		return x.fetchTransfer(t)
	}
	if !proceed {
		return nil, errCallEnded
	}
	return x.fetchAnswer()
}

func (r *Runner) machineDecided(c *call.Call, md *MachineDetection, v amd.Verdict) {
	c.SetMachine(v.Result == amd.Machine)
	c.Logger().Info("answering-machine detection", "result", v.Result.String(), "reason", string(v.Reason),
		"at_ms", v.At.Milliseconds(), "async", md.URL != "")
}

// machineParam is the Machine parameter of every request about a call after detection decided
// (§D.3, §D.4); "" before or without detection.
func machineParam(c *call.Call) string {
	m, decided := c.Machine()
	if !decided {
		return ""
	}
	return strconv.FormatBool(m)
}
