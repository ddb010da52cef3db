package flow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/amd"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
)

// answeredLeg is an outbound leg that the far end answers at once.
type answeredLeg struct{ *calltest.Leg }

func (answeredLeg) WaitAnswer(context.Context) (int, error) { return 200, nil }
func (answeredLeg) Cancel()                                 {}

// outboundHarness is a harness whose call is an API call, run by RunOutbound.
func outboundHarness(t *testing.T, docs map[string]string) *harness {
	h := newHarness(t, docs)
	h.call = call.New(call.Identity{AccountID: "MA_T", Direction: call.Outbound, From: "14155550100", To: "14155550199"},
		answeredLeg{h.leg}, call.Options{})
	t.Cleanup(func() { h.call.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0) })
	return h
}

func (h *harness) startOutbound(md *MachineDetection) {
	go func() {
		defer close(h.done)
		h.runner.RunOutbound(&Attempt{Call: h.call, Leg: answeredLeg{h.leg}, Progress: make(chan Progress, 1)},
			&Outbound{Session: Session{Call: h.call, AuthToken: "tok", AnswerURL: base + "/answer"}, MachineDetection: md})
	}()
}

// callee sends voice for voice, then silence for silence, as 20 ms packets about in real time.
func callee(h *harness, voice, silence time.Duration) {
	tone := media.ReadAll(media.Tone(400, voice, -10), 0)
	n := len(tone)/media.FrameSamples + int(silence/media.FrameDuration)
	for i := 0; i < n; i++ {
		f := make([]int16, media.FrameSamples)
		if (i+1)*media.FrameSamples <= len(tone) {
			copy(f, tone[i*media.FrameSamples:])
		}
		select {
		case <-h.call.Done():
			return
		default:
		}
		h.leg.ReceiveAudio(f)
		time.Sleep(12 * time.Millisecond) // a little faster than real time: the detector counts samples
	}
}

func TestMachineDetectionSynchronous(t *testing.T) {
	for _, tc := range []struct {
		name         string
		voice        time.Duration // the callee's greeting, then silence
		hangup       bool
		wantMachine  string
		wantAnswered bool // answer_url requested
		wantCode     int
	}{
		{"person says hello", 400 * time.Millisecond, false, "false", true, 4000},
		{"machine greeting, continue", 3 * time.Second, false, "true", true, 4000},
		{"machine greeting, hang up", 3 * time.Second, true, "true", false, 9100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := outboundHarness(t, map[string]string{"/answer": `<Response><Hangup/></Response>`})
			h.startOutbound(&MachineDetection{Params: amd.DefaultParams(), Hangup: tc.hangup})
			go callee(h, tc.voice, 2*time.Second)
			o := h.wait(t)
			answers := h.web.requestsTo("/answer")
			if tc.wantAnswered != (len(answers) == 1) {
				t.Fatalf("answer_url requested %d times", len(answers))
			}
			if tc.wantAnswered && answers[0].Params.Get("Machine") != tc.wantMachine {
				t.Errorf("answer_url Machine=%q, want %q", answers[0].Params.Get("Machine"), tc.wantMachine)
			}
			if o.Cause.Code != tc.wantCode {
				t.Errorf("cause %+v, want %d", o, tc.wantCode)
			}
			hp := HangupParams(h.call)
			if hp.Get("Machine") != tc.wantMachine || hp.Get("CallStatus") != "completed" {
				t.Errorf("hangup webhook Machine=%q CallStatus=%q", hp.Get("Machine"), hp.Get("CallStatus"))
			}
			if tc.wantCode == 9100 && (o.Source != call.SourceVobiz || hp.Get("HangupCauseName") != "Machine Detected" || hp.Get("HangupCause") != "NORMAL_CLEARING") {
				t.Errorf("9100 hangup: source %q, %v", o.Source, hp)
			}
		})
	}
}

func TestMachineDetectionHeldInSilenceUntilDecided(t *testing.T) {
	h := outboundHarness(t, map[string]string{"/answer": `<Response><Hangup/></Response>`})
	start := time.Now()
	h.startOutbound(&MachineDetection{Params: amd.DefaultParams()})
	go callee(h, 400*time.Millisecond, 2*time.Second)
	h.wait(t)
	answers := h.web.requestsTo("/answer")
	if len(answers) != 1 {
		t.Fatalf("answer_url requested %d times", len(answers))
	}
	// "hello" (400 ms) then 800 ms of silence: not before ~1.2 s of audio.
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Errorf("answer_url requested after %v, before the detector could decide", el)
	}
}

func TestMachineDetectionCallerHangsUpDuringAnalysis(t *testing.T) {
	h := outboundHarness(t, map[string]string{"/answer": `<Response><Hangup/></Response>`})
	h.startOutbound(&MachineDetection{Params: amd.DefaultParams(), Hangup: true})
	time.Sleep(300 * time.Millisecond)
	h.leg.End(call.EndedRemoteBye)
	o := h.wait(t)
	if len(h.web.requestsTo("/answer")) != 0 {
		t.Error("answer_url requested after a hangup during analysis")
	}
	if o.Cause.Code == 9100 || HangupParams(h.call).Get("Machine") != "" {
		t.Errorf("hangup during analysis: %+v Machine=%q", o, HangupParams(h.call).Get("Machine"))
	}
}

func TestMachineDetectionAsynchronous(t *testing.T) {
	for _, tc := range []struct {
		name        string
		voice       time.Duration
		hangup      bool
		wantMachine string
		wantIf      string
		wantCode    int
	}{
		{"person", 400 * time.Millisecond, true, "false", "hangup", 4000},
		{"machine, hang up", 3 * time.Second, true, "true", "hangup", 9100},
		{"machine, continue", 3 * time.Second, false, "true", "continue", 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := outboundHarness(t, map[string]string{"/answer": `<Response><Wait length="4"/><Hangup/></Response>`})
			h.startOutbound(&MachineDetection{Params: amd.DefaultParams(), Hangup: tc.hangup, URL: base + "/amd", Method: "GET"})
			go callee(h, tc.voice, 3*time.Second)
			o := h.wait(t)
			answers := h.web.requestsTo("/answer")
			if len(answers) != 1 || answers[0].Params.Has("Machine") {
				t.Fatalf("answer_url must be requested at once, without Machine: %+v", answers)
			}
			var got []string
			for _, n := range h.web.notifications() {
				if strings.HasSuffix(n.URL, "/amd") {
					p := n.Params
					got = append(got, n.Method+" "+p.Get("Event")+" Machine="+p.Get("Machine")+" IfMachine="+p.Get("IfMachine")+" "+p.Get("CallStatus")+" "+p.Get("Direction"))
				}
			}
			want := "GET MachineDetection Machine=" + tc.wantMachine + " IfMachine=" + tc.wantIf + " in-progress outbound"
			if len(got) != 1 || got[0] != want {
				t.Errorf("machine_detection_url got %q, want [%q]", got, want)
			}
			if o.Cause.Code != tc.wantCode {
				t.Errorf("cause %+v, want %d", o, tc.wantCode)
			}
			if m := HangupParams(h.call).Get("Machine"); m != tc.wantMachine {
				t.Errorf("hangup webhook Machine=%q", m)
			}
		})
	}
}

func TestTransferDuringSynchronousAnalysis(t *testing.T) {
	h := outboundHarness(t, map[string]string{
		"/answer": `<Response><Hangup/></Response>`,
		"/xfer":   `<Response><Hangup/></Response>`,
	})
	h.startOutbound(&MachineDetection{Params: amd.DefaultParams(), Hangup: true})
	go callee(h, 0, 3*time.Second) // silence: a machine by initial silence, if the analysis ran on
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := h.runner.Transfer(ctx, h.call.UUID(), base+"/xfer", "POST"); err != nil {
		t.Fatalf("transfer during analysis: %v", err)
	}
	o := h.wait(t)
	if len(h.web.requestsTo("/answer")) != 0 {
		t.Error("answer_url requested after a transfer during analysis")
	}
	x := h.web.requestsTo("/xfer")
	if len(x) != 1 || x[0].Params.Get("Event") != "Transfer" || x[0].Params.Has("Machine") {
		t.Fatalf("transfer requests %+v", x)
	}
	if o.Cause.Code == 9100 || HangupParams(h.call).Has("Machine") {
		t.Errorf("analysis not ended by the transfer: %+v", o)
	}
}
