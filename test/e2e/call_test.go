package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/internal/webhook"
)

const callerNumber = "+14155550100"

// dial places a call from a Go SIP client to user at p.
func dial(t *testing.T, p *parley, user string, opts siptest.DialOptions) *siptest.Call {
	t.Helper()
	c, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if opts.From == "" {
		opts.From = callerNumber
	}
	cl, err := c.Dial(ctxTimeout(t, 10*time.Second), p.uri(user), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	// The test client can fail before any response arrives (seen rarely, never explained by the
	// server's logs): say why and place the call once more.
	select {
	case <-cl.Settled():
		if cl.FinalStatus() == 0 {
			t.Logf("test client failed to place the call: %v; retrying", cl.Err())
			cl, err = c.Dial(ctxTimeout(t, 10*time.Second), p.uri(user), opts)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { cl.Close() })
		}
	case <-time.After(100 * time.Millisecond):
	}
	return cl
}

// appEnv points Parley's default number application at the web app.
func appEnv(w *webApp, extra map[string]string) map[string]string {
	env := map[string]string{
		"PARLEY_ANSWER_URL": w.URL("/answer"),
		"PARLEY_HANGUP_URL": w.URL("/hangup"),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// waitEnd waits for the server's BYE.
func waitEnd(t *testing.T, cl *siptest.Call, timeout time.Duration) {
	t.Helper()
	byRemote, err := cl.WaitEnd(ctxTimeout(t, timeout))
	if err != nil {
		t.Fatalf("call did not end: %v", err)
	}
	if !byRemote {
		t.Fatal("call ended, but not by the server")
	}
}

func TestSpeakPlayWaitHangup(t *testing.T) {
	w := newWebApp(t)
	w.serveBytes("/tone.wav", "audio/wav", wavTone(1000, 16000, 2*time.Second, -6))
	w.xml("/answer", `<Response>
  <Speak>Hello, and welcome to Parley. This is a test of speech synthesis on a real call.</Speak>
  <Play>`+w.URL("/tone.wav")+`</Play>
  <Wait length="2"/>
  <Hangup/>
</Response>`)
	w.ok("/hangup")
	p := startParley(t, appEnv(w, nil))

	cl := dial(t, p, "14155550199", siptest.DialOptions{FromDisplay: "Alice"})
	waitEnd(t, cl, 40*time.Second)
	byeAt := time.Now()

	frames := analyse(cl.Received())
	if len(frames) < 100 {
		t.Fatalf("only %d frames received", len(frames))
	}
	// Locate the Play window by the tone itself, then the Speak window before it and the Wait
	// window after it.
	first, last := -1, -1
	for i, f := range frames {
		if isTone(f, 1000) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatal("the 1 kHz tone of Play was never received")
	}
	playDur := frames[last].at.Sub(frames[first].at)
	if playDur < 1500*time.Millisecond || playDur > 2600*time.Millisecond {
		t.Errorf("Play window lasted %v, want about 2 s", playDur)
	}
	speak := window(frames, frames[0].at, frames[first].at.Add(-100*time.Millisecond))
	play := window(frames, frames[first].at.Add(100*time.Millisecond), frames[last].at.Add(-100*time.Millisecond))
	wait := window(frames, frames[last].at.Add(200*time.Millisecond), byeAt.Add(-300*time.Millisecond))

	if got := fractionAbove(speak, -40); got < 0.30 {
		t.Errorf("Speak window: %.0f%% of %d frames above -40 dBFS, want at least 30%%", got*100, len(speak))
	}
	if len(speak) < 50 {
		t.Errorf("Speak window only %d frames", len(speak))
	}
	pcm := concat(play)
	tone, low, high := media.ToneDBFS(pcm, 1000), media.ToneDBFS(pcm, 400), media.ToneDBFS(pcm, 2500)
	if tone-low < 20 || tone-high < 20 {
		t.Errorf("Play window: 1 kHz at %.1f dBFS, 400 Hz at %.1f, 2500 Hz at %.1f: want 20 dB above both", tone, low, high)
	}
	if len(wait) < 60 {
		t.Errorf("Wait window only %d frames (%v), want about 2 s", len(wait), byeAt.Sub(frames[last].at))
	}
	if got := fractionAbove(wait, -40); got > 0.05 {
		t.Errorf("Wait window: %.0f%% of frames above -40 dBFS, want at most 5%%", got*100)
	}

	// StartApp with the spec's parameters.
	answers := w.requestsTo("/answer")
	if len(answers) != 1 {
		t.Fatalf("answer_url requested %d times", len(answers))
	}
	a := answers[0]
	if a.Method != "POST" {
		t.Errorf("answer_url method %s", a.Method)
	}
	assertParams(t, "StartApp", a.Form, map[string]string{
		"Event": "StartApp", "CallStatus": "ringing", "Direction": "inbound",
		"From": "14155550100", "To": "14155550199", "CallerName": "Alice",
		"CallUUID": "*", "RequestUUID": "*", "SessionStart": "*", "ParentAuthID": testAuthID,
		"STIRVerification": "Not Applicable",
	})
	if a.Form.Get("CallUUID") != a.Form.Get("RequestUUID") {
		t.Error("RequestUUID differs from CallUUID")
	}
	if err := verifySignatures(a); err != nil {
		t.Errorf("answer_url: %v", err)
	}

	// Exactly one hangup webhook, cause 4000, signed.
	hangups := w.waitFor(t, "/hangup", 1, 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if hangups = w.requestsTo("/hangup"); len(hangups) != 1 {
		t.Fatalf("%d hangup webhooks, want exactly 1", len(hangups))
	}
	h := hangups[0]
	assertParams(t, "Hangup", h.Form, map[string]string{
		"Event": "Hangup", "CallUUID": a.Form.Get("CallUUID"), "HangupCauseCode": "4000",
		"HangupCauseName": "Normal Hangup", "HangupCause": "NORMAL_CLEARING", "HangupSource": "Answer XML",
		"CallStatus": "completed", "Direction": "inbound", "AnswerTime": "*", "StartTime": "*", "EndTime": "*",
		"BillRate": "0.00000", "TotalCost": "0.00000",
	})
	if h.Header.Get("X-Parley-Delivery-ID") == "" {
		t.Error("hangup webhook without X-Parley-Delivery-ID")
	}
	if err := verifySignatures(h); err != nil {
		t.Errorf("hangup webhook: %v", err)
	}
}

// verifySignatures checks the V2 and V3 signatures of a recorded request with the account token.
func verifySignatures(r recorded) error {
	req, err := newRequestFromRecord(r)
	if err != nil {
		return err
	}
	return webhook.VerifyRequest(req, testAuthToken)
}

func TestDocumentOutcomes(t *testing.T) {
	mp3, err := os.ReadFile("../../internal/media/testdata/tone1k_16k_mpeg2.mp3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		setup      func(w *webApp)
		env        func(w *webApp) map[string]string
		wantCode   string
		wantSource string
		answered   bool
		check      func(t *testing.T, w *webApp, cl *siptest.Call)
	}{
		{
			name:     "document ends",
			setup:    func(w *webApp) { w.xml("/answer", `<Response><Speak>Short.</Speak></Response>`) },
			wantCode: "4010", wantSource: "Vobiz", answered: true,
		},
		{
			name:     "empty response before answer",
			setup:    func(w *webApp) { w.xml("/answer", `<Response/>`) },
			wantCode: "4010", wantSource: "Vobiz",
			check: func(t *testing.T, w *webApp, cl *siptest.Call) {
				if st := cl.FinalStatus(); st != 480 {
					t.Errorf("INVITE answered %d, want 480", st)
				}
			},
		},
		{
			name:     "malformed XML",
			setup:    func(w *webApp) { w.xml("/answer", `<Response><Speak>unclosed</Response>`) },
			wantCode: "8011", wantSource: "Error",
			check: func(t *testing.T, w *webApp, cl *siptest.Call) {
				if st := cl.FinalStatus(); st != 500 {
					t.Errorf("INVITE answered %d, want 500", st)
				}
			},
		},
		{
			name:  "unreachable answer_url",
			setup: func(w *webApp) {},
			env: func(w *webApp) map[string]string {
				return map[string]string{"PARLEY_ANSWER_URL": "http://127.0.0.1:1/answer"}
			},
			wantCode: "7011", wantSource: "Error",
		},
		{
			name: "unreachable answer_url runs fallback_url",
			setup: func(w *webApp) {
				w.xml("/fallback", `<Response><Speak>Fallback speaking.</Speak></Response>`)
			},
			env: func(w *webApp) map[string]string {
				return map[string]string{"PARLEY_ANSWER_URL": "http://127.0.0.1:1/answer", "PARLEY_FALLBACK_URL": w.URL("/fallback")}
			},
			wantCode: "4010", wantSource: "Vobiz", answered: true,
			check: func(t *testing.T, w *webApp, cl *siptest.Call) {
				fb := w.requestsTo("/fallback")
				if len(fb) != 1 {
					t.Fatalf("fallback requested %d times", len(fb))
				}
				assertParams(t, "fallback", fb[0].Form, map[string]string{"Event": "StartApp", "CallStatus": "ringing"})
			},
		},
		{
			name: "redirect runs the second document",
			setup: func(w *webApp) {
				w.xml("/answer", `<Response><Speak>First.</Speak><Redirect method="GET">/second?step=2</Redirect><Speak>never</Speak></Response>`)
				w.xml("/second", `<Response><Hangup/></Response>`)
			},
			wantCode: "4000", wantSource: "Answer XML", answered: true,
			check: func(t *testing.T, w *webApp, cl *siptest.Call) {
				sec := w.requestsTo("/second")
				if len(sec) != 1 {
					t.Fatalf("redirect URL requested %d times", len(sec))
				}
				r := sec[0]
				if r.Method != "GET" || r.Form.Get("step") != "2" {
					t.Errorf("redirect request %s %s", r.Method, r.URL)
				}
				first := w.requestsTo("/answer")[0]
				assertParams(t, "Redirect", r.Form, map[string]string{"Event": "Redirect", "CallStatus": "in-progress",
					"CallUUID": first.Form.Get("CallUUID"), "Direction": "inbound", "From": "14155550100"})
				if err := verifySignatures(r); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "MP3 play",
			setup: func(w *webApp) {
				w.serveBytes("/tone.mp3", "audio/mpeg", mp3)
				w.xml("/answer", `<Response><Play>/tone.mp3</Play></Response>`)
			},
			wantCode: "4010", wantSource: "Vobiz", answered: true,
			check: func(t *testing.T, w *webApp, cl *siptest.Call) {
				n := 0
				for _, f := range analyse(cl.Received()) {
					if isTone(f, 1000) {
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
			w := newWebApp(t)
			w.ok("/hangup")
			tc.setup(w)
			var extra map[string]string
			if tc.env != nil {
				extra = tc.env(w)
			}
			p := startParley(t, appEnv(w, extra))
			cl := dial(t, p, "14155550199", siptest.DialOptions{})
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
			h := w.waitFor(t, "/hangup", 1, 10*time.Second)[0]
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
	w := newWebApp(t)
	w.xml("/answer", `<Response><Speak loop="0">This sentence repeats until the caller hangs up.</Speak></Response>`)
	w.ok("/hangup")
	p := startParley(t, appEnv(w, nil))
	cl := dial(t, p, "14155550199", siptest.DialOptions{})
	waitAnswered(t, cl, "not answered")
	time.Sleep(1500 * time.Millisecond)
	hungUp := time.Now()
	if err := cl.Hangup(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	h := w.waitFor(t, "/hangup", 1, 10*time.Second)[0]
	assertParams(t, "Hangup", h.Form, map[string]string{"HangupSource": "Caller", "HangupCauseCode": "4000"})
	if el := h.At.Sub(hungUp); el > 3*time.Second {
		t.Errorf("hangup webhook %v after BYE", el)
	}
	if !p.waitLog("call ended", 3*time.Second) {
		t.Error("no 'call ended' log line")
	}
}

// waitAnswered fails the test unless cl is answered within 10 s.
func waitAnswered(t *testing.T, cl *siptest.Call, what string) {
	t.Helper()
	select {
	case <-cl.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}
