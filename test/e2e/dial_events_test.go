package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestDialHangupOfUnansweredLegs: every B leg that ends without being bridged gets its
// DialHangup event with the DialBLegStatus of how its ringing ended (spec §9.6.3): busy, and
// cancel for the leg that lost the race; the bridged one reports completed.
func TestDialHangupOfUnansweredLegs(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	host := strings.Split(p.SIP, ":")[0]
	w.XML("/answer", `<Response><Dial callbackUrl="/dial-events" timeout="20">`+
		`<User>sip:bob@`+host+`</User><User>sip:carol@`+host+`</User><User>sip:dave@`+host+`</User></Dial></Response>`)
	w.OK("/dial-events")
	w.OK("/hangup")
	phones := map[string]siptest.ListenOptions{
		"bob":   {Reject: 486},
		"carol": {NeverAnswer: true},
		"dave":  {AnswerAfter: 1500 * time.Millisecond},
	}
	var dave *kit.Phone
	for i, user := range []string{"bob", "carol", "dave"} {
		createEndpoint(t, p, user, user+"-secret-1", "")
		ph := kit.NewPhone(t, "127.0.0."+string(rune('2'+i)))
		opts := phones[user]
		opts.Username = user
		ph.Listen(t, opts)
		if err := ph.Register(t, p, user, user+"-secret-1"); err != nil {
			t.Fatalf("register %s: %v", user, err)
		}
		if user == "dave" {
			dave = ph
		}
	}
	a := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	d := dave.Incoming(t)
	kit.WaitAnswered(t, d, "dave did not answer")
	time.Sleep(time.Second)
	if err := d.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	kit.WaitEnd(t, a, 10*time.Second)
	byTo := map[string]kit.Request{}
	deadline := time.Now().Add(10 * time.Second)
	for len(byTo) < 3 && time.Now().Before(deadline) {
		for _, r := range w.Requests("/dial-events") {
			if r.Form.Get("Event") == "DialHangup" {
				byTo[strings.SplitN(strings.TrimPrefix(r.Form.Get("DialBLegTo"), "sip:"), "@", 2)[0]] = r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]map[string]string{
		"bob":   {"DialBLegStatus": "busy", "DialBLegHangupCauseCode": "3010", "DialBLegDuration": "0", "DialAction": "hangup"},
		"carol": {"DialBLegStatus": "cancel", "DialBLegHangupCause": "*", "DialBLegDuration": "0", "DialAction": "hangup"},
		"dave":  {"DialBLegStatus": "completed", "DialBLegHangupCauseCode": "4000", "DialAction": "hangup"},
	}
	for user, params := range want {
		r, ok := byTo[user]
		if !ok {
			t.Errorf("no DialHangup for %s (got %d events)", user, len(byTo))
			continue
		}
		kit.AssertParams(t, "DialHangup of "+user, r.Form, params)
	}
}

// TestDialMusicRealRelaysEarlyMedia: with dialMusic="real" the caller hears what the ringing
// destination sends in early media, not Parley's ringback (spec §7.12).
func TestDialMusicRealRelaysEarlyMedia(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	w.XML("/answer", `<Response><Dial dialMusic="real"><User>sip:bob@`+strings.Split(p.SIP, ":")[0]+`</User></Dial></Response>`)
	w.OK("/hangup")
	createEndpoint(t, p, "bob", "bob-secret-1", "")
	bob := kit.NewPhone(t, "127.0.0.2")
	bob.Listen(t, siptest.ListenOptions{Username: "bob", EarlyMedia: true, AnswerAfter: 4 * time.Second,
		Send: media.Tone(toneB, time.Minute, -10)})
	if err := bob.Register(t, p, "bob", "bob-secret-1"); err != nil {
		t.Fatalf("register: %v", err)
	}
	a := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	b := bob.Incoming(t)
	time.Sleep(2500 * time.Millisecond)
	select {
	case <-b.Answered():
		t.Fatal("B answered before the early media could be measured")
	default:
	}
	expect(t, "A while B rings", a, []float64{toneB}, []float64{440, 480})
}
