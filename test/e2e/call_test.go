package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

func TestSpeakPlayWaitHangup(t *testing.T) {
	w := kit.NewApp(t)
	w.File("/tone.wav", "audio/wav", kit.ToneWAV(1000, 16000, 2*time.Second, -6))
	w.XML("/answer", `<Response>
  <Speak>Hello, and welcome to Parley. This is a test of speech synthesis on a real call.</Speak>
  <Play>`+w.URL("/tone.wav")+`</Play>
  <Wait length="2"/>
  <Hangup/>
</Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})

	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{FromDisplay: "Alice"})
	kit.WaitEnd(t, cl, 40*time.Second)
	byeAt := time.Now()

	frames := kit.Frames(cl)
	if len(frames) < 100 {
		t.Fatalf("only %d frames received", len(frames))
	}
	// Locate the Play window by the tone itself, then the Speak window before it and the Wait
	// window after it.
	first, last := -1, -1
	for i, f := range frames {
		if f.IsTone(1000) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatal("the 1 kHz tone of Play was never received")
	}
	playDur := frames[last].At.Sub(frames[first].At)
	if playDur < 1500*time.Millisecond || playDur > 2600*time.Millisecond {
		t.Errorf("Play window lasted %v, want about 2 s", playDur)
	}
	speak := kit.Window(frames, frames[0].At, frames[first].At.Add(-100*time.Millisecond))
	play := kit.Window(frames, frames[first].At.Add(100*time.Millisecond), frames[last].At.Add(-100*time.Millisecond))
	wait := kit.Window(frames, frames[last].At.Add(200*time.Millisecond), byeAt.Add(-300*time.Millisecond))

	if got := kit.FractionAbove(speak, -40); got < 0.30 {
		t.Errorf("Speak window: %.0f%% of %d frames above -40 dBFS, want at least 30%%", got*100, len(speak))
	}
	if len(speak) < 50 {
		t.Errorf("Speak window only %d frames", len(speak))
	}
	pcm := kit.Concat(play)
	tone, low, high := media.ToneDBFS(pcm, 1000), media.ToneDBFS(pcm, 400), media.ToneDBFS(pcm, 2500)
	if tone-low < 20 || tone-high < 20 {
		t.Errorf("Play window: 1 kHz at %.1f dBFS, 400 Hz at %.1f, 2500 Hz at %.1f: want 20 dB above both", tone, low, high)
	}
	if len(wait) < 60 {
		t.Errorf("Wait window only %d frames (%v), want about 2 s", len(wait), byeAt.Sub(frames[last].At))
	}
	if got := kit.FractionAbove(wait, -40); got > 0.05 {
		t.Errorf("Wait window: %.0f%% of frames above -40 dBFS, want at most 5%%", got*100)
	}

	// StartApp with the spec's parameters.
	answers := w.Requests("/answer")
	if len(answers) != 1 {
		t.Fatalf("answer_url requested %d times", len(answers))
	}
	a := answers[0]
	if a.Method != "POST" {
		t.Errorf("answer_url method %s", a.Method)
	}
	kit.AssertParams(t, "StartApp", a.Form, map[string]string{
		"Event": "StartApp", "CallStatus": "ringing", "Direction": "inbound",
		"From": "14155550100", "To": "14155550199", "CallerName": "Alice",
		"CallUUID": "*", "RequestUUID": "*", "SessionStart": "*", "ParentAuthID": kit.AuthID,
		"STIRVerification": "Not Applicable",
	})
	if a.Form.Get("CallUUID") != a.Form.Get("RequestUUID") {
		t.Error("RequestUUID differs from CallUUID")
	}
	if err := a.VerifySignature(kit.AuthToken); err != nil {
		t.Errorf("answer_url: %v", err)
	}

	// Exactly one hangup webhook, cause 4000, signed.
	hangups := w.WaitFor(t, "/hangup", 1, 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if hangups = w.Requests("/hangup"); len(hangups) != 1 {
		t.Fatalf("%d hangup webhooks, want exactly 1", len(hangups))
	}
	h := hangups[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{
		"Event": "Hangup", "CallUUID": a.Form.Get("CallUUID"), "HangupCauseCode": "4000",
		"HangupCauseName": "Normal Hangup", "HangupCause": "NORMAL_CLEARING", "HangupSource": "Answer XML",
		"CallStatus": "completed", "Direction": "inbound", "AnswerTime": "*", "StartTime": "*", "EndTime": "*",
		"BillRate": "0.00000", "TotalCost": "0.00000",
	})
	if h.Header.Get("X-Parley-Delivery-ID") == "" {
		t.Error("hangup webhook without X-Parley-Delivery-ID")
	}
	if err := h.VerifySignature(kit.AuthToken); err != nil {
		t.Errorf("hangup webhook: %v", err)
	}
}

func TestDocumentOutcomes(t *testing.T) {
	mp3, err := os.ReadFile("../../internal/media/testdata/tone1k_16k_mpeg2.mp3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		setup      func(w *kit.App)
		env        func(w *kit.App) map[string]string
		wantCode   string
		wantSource string
		answered   bool
		check      func(t *testing.T, w *kit.App, cl *siptest.Call)
	}{
		{
			name:     "document ends",
			setup:    func(w *kit.App) { w.XML("/answer", `<Response><Speak>Short.</Speak></Response>`) },
			wantCode: "4010", wantSource: "Vobiz", answered: true,
		},
		{
			name:     "empty response before answer",
			setup:    func(w *kit.App) { w.XML("/answer", `<Response/>`) },
			wantCode: "4010", wantSource: "Vobiz",
			check: func(t *testing.T, w *kit.App, cl *siptest.Call) {
				if st := cl.FinalStatus(); st != 480 {
					t.Errorf("INVITE answered %d, want 480", st)
				}
			},
		},
		{
			name:     "malformed XML",
			setup:    func(w *kit.App) { w.XML("/answer", `<Response><Speak>unclosed</Response>`) },
			wantCode: "8011", wantSource: "Error",
			check: func(t *testing.T, w *kit.App, cl *siptest.Call) {
				if st := cl.FinalStatus(); st != 500 {
					t.Errorf("INVITE answered %d, want 500", st)
				}
			},
		},
		{
			name:  "unreachable answer_url",
			setup: func(w *kit.App) {},
			env: func(w *kit.App) map[string]string {
				return map[string]string{"PARLEY_ANSWER_URL": "http://127.0.0.1:1/answer"}
			},
			wantCode: "7011", wantSource: "Error",
		},
		{
			name: "unreachable answer_url runs fallback_url",
			setup: func(w *kit.App) {
				w.XML("/fallback", `<Response><Speak>Fallback speaking.</Speak></Response>`)
			},
			env: func(w *kit.App) map[string]string {
				return map[string]string{"PARLEY_ANSWER_URL": "http://127.0.0.1:1/answer", "PARLEY_FALLBACK_URL": w.URL("/fallback")}
			},
			wantCode: "4010", wantSource: "Vobiz", answered: true,
			check: func(t *testing.T, w *kit.App, cl *siptest.Call) {
				fb := w.Requests("/fallback")
				if len(fb) != 1 {
					t.Fatalf("fallback requested %d times", len(fb))
				}
				kit.AssertParams(t, "fallback", fb[0].Form, map[string]string{"Event": "StartApp", "CallStatus": "ringing"})
			},
		},
		{
			name: "redirect runs the second document",
			setup: func(w *kit.App) {
				w.XML("/answer", `<Response><Speak>First.</Speak><Redirect method="GET">/second?step=2</Redirect><Speak>never</Speak></Response>`)
				w.XML("/second", `<Response><Hangup/></Response>`)
			},
			wantCode: "4000", wantSource: "Answer XML", answered: true,
			check: func(t *testing.T, w *kit.App, cl *siptest.Call) {
				sec := w.Requests("/second")
				if len(sec) != 1 {
					t.Fatalf("redirect URL requested %d times", len(sec))
				}
				r := sec[0]
				if r.Method != "GET" || r.Form.Get("step") != "2" {
					t.Errorf("redirect request %s %s", r.Method, r.URL)
				}
				first := w.Requests("/answer")[0]
				kit.AssertParams(t, "Redirect", r.Form, map[string]string{"Event": "Redirect", "CallStatus": "in-progress",
					"CallUUID": first.Form.Get("CallUUID"), "Direction": "inbound", "From": "14155550100"})
				if err := r.VerifySignature(kit.AuthToken); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "MP3 play",
			setup: func(w *kit.App) {
				w.File("/tone.mp3", "audio/mpeg", mp3)
				w.XML("/answer", `<Response><Play>/tone.mp3</Play></Response>`)
			},
			wantCode: "4010", wantSource: "Vobiz", answered: true,
			check: func(t *testing.T, w *kit.App, cl *siptest.Call) {
				n := 0
				for _, f := range kit.Frames(cl) {
					if f.IsTone(1000) {
						n++
					}
				}
				if n < 25 {
					t.Errorf("only %d frames of the MP3's 1 kHz tone received", n)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := kit.NewApp(t)
			w.OK("/hangup")
			tc.setup(w)
			var extra map[string]string
			if tc.env != nil {
				extra = tc.env(w)
			}
			p := suite.Start(t, kit.Options{App: w, Env: extra})
			cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
			select {
			case <-cl.Ended():
			case <-time.After(30 * time.Second):
				t.Fatal("call did not end")
			}
			select {
			case <-cl.Answered():
				if !tc.answered {
					t.Error("call was answered")
				}
			default:
				if tc.answered {
					t.Error("call was never answered")
				}
			}
			h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
			if got := h.Form.Get("HangupCauseCode"); got != tc.wantCode {
				t.Errorf("HangupCauseCode %s (%s), want %s", got, h.Form.Get("HangupCauseName"), tc.wantCode)
			}
			if got := h.Form.Get("HangupSource"); got != tc.wantSource {
				t.Errorf("HangupSource %q, want %q", got, tc.wantSource)
			}
			if tc.check != nil {
				tc.check(t, w, cl)
			}
		})
	}
}

func TestCallerHangsUpDuringSpeak(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak loop="0">This sentence repeats until the caller hangs up.</Speak></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "not answered")
	time.Sleep(1500 * time.Millisecond)
	hungUp := time.Now()
	if err := cl.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupSource": "Caller", "HangupCauseCode": "4000"})
	if el := h.At.Sub(hungUp); el > 3*time.Second {
		t.Errorf("hangup webhook %v after BYE", el)
	}
	if !p.WaitLog("call ended", 3*time.Second) {
		t.Error("no 'call ended' log line")
	}
}
