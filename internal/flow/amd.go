package flow

import (
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/amd"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/media"
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
// (plus amdGrace) passes, or the call ends (ok false).
func detectMachine(c *call.Call, p amd.Params) (v amd.Verdict, ok bool) {
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
		case <-c.Context().Done():
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

// runMachineDetection applies §D.3 (synchronous) or starts §D.4 (asynchronous) on an answered
// API call. It reports whether the document is to run: false when the call ended or was hung
// up as a machine.
func (r *Runner) runMachineDetection(c *call.Call, md *MachineDetection) bool {
	if md.URL != "" {
		go func() {
			v, ok := detectMachine(c, md.Params)
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
		return true
	}
	v, ok := detectMachine(c, md.Params)
	if !ok {
		return false
	}
	r.machineDecided(c, md, v)
	if v.Result == amd.Machine && md.Hangup {
		c.Hangup(call.CauseMachineDetected, call.SourceVobiz, 0)
		return false
	}
	return true
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
