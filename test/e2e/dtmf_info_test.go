package e2e

import (
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// DTMF as SIP INFO (§7.13, §8.7): a caller that did not negotiate telephone-event gets the
// digits of <DTMF> as SIP INFO, and the digits it sends as SIP INFO reach <Gather>.

func TestDTMFSentAsSIPInfo(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><DTMF async="false">12#</DTMF><Hangup/></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{NoTelephoneEvent: true})
	start := time.Now()
	kit.WaitEnd(t, cl, 20*time.Second)
	if got := string(cl.InfoDigits()); got != "12#" {
		t.Errorf("caller received SIP INFO digits %q, want \"12#\"", got)
	}
	// async="false": the hang up comes after the three digits (100 ms each, 50 ms gaps).
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("call ended %v after dialling, before the digits could have been sent", d)
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4000", "HangupSource": "Answer XML"})
}

func TestGatherDigitsOverSIPInfo(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Gather action="/d" numDigits="5" executionTimeout="10"><Speak loop="0">Please enter your code.</Speak></Gather>
  <Speak>We did not get your code.</Speak>
</Response>`)
	w.XML("/d", `<Response><Hangup/></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{NoTelephoneEvent: true})
	kit.WaitAnswered(t, cl, "not answered")
	time.Sleep(500 * time.Millisecond)
	// The server may hang up as soon as it has the '#': the outcome is checked on the
	// application side.
	_ = cl.SendInfoDTMF(kit.Context(t, 10*time.Second), "42#")
	d := w.WaitFor(t, "/d", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Gather action", d.Form, map[string]string{"Digits": "42", "InputType": "dtmf"})
	kit.WaitEnd(t, cl, 10*time.Second)
}
