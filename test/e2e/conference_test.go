package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// member is one caller in a conference test.
type member struct {
	name string
	from string
	tone float64
	call *siptest.Call
	id   string
}

// waitMembers polls GET Conference until it lists n members.
func waitMembers(t *testing.T, p *kit.Server, room string, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := p.REST(t, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
		if st == 200 {
			if ms, _ := body["members"].([]any); len(ms) == n {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s never had %d members (last: %d %v)", room, n, st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConferenceFoundingScenario(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Conference enterSound="beep:1" callbackUrl="/conf-events">MyConference</Conference>
  <Speak>You have been disconnected from the conference</Speak>
</Response>`)
	w.OK("/conf-events")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})

	members := []*member{
		{name: "a", from: "+14155550101", tone: 400},
		{name: "b", from: "+14155550102", tone: 700},
		{name: "c", from: "+14155550103", tone: 1600},
	}
	for _, m := range members {
		m.call = kit.Dial(t, p, "14155550199", siptest.DialOptions{From: m.from, Send: media.Tone(m.tone, 2*time.Minute, -10)})
		select {
		case <-m.call.Answered():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not answered", m.name)
		}
	}
	conf := waitMembers(t, p, "MyConference", 3)
	assertKeys(t, "conference", conf, "conference_name", "conference_run_time", "conference_member_count", "members", "api_id")
	if conf["conference_member_count"] != "3" {
		t.Errorf("conference_member_count = %#v, want \"3\"", conf["conference_member_count"])
	}
	if _, ok := conf["conference_run_time"].(string); !ok {
		t.Errorf("conference_run_time is %T, want string", conf["conference_run_time"])
	}
	for _, raw := range conf["members"].([]any) {
		m := raw.(map[string]any)
		assertKeys(t, "member", m, "muted", "member_id", "deaf", "from", "to", "caller_name", "direction", "call_uuid", "join_time")
		for _, k := range []string{"member_id", "from", "to", "caller_name", "direction", "call_uuid", "join_time"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("member %s is %T, want string", k, m[k])
			}
		}
		for _, mm := range members {
			if m["from"] == mm.from[1:] {
				mm.id = m["member_id"].(string)
			}
		}
	}
	for _, m := range members {
		if m.id == "" {
			t.Fatalf("member %s (%s) not listed", m.name, m.from)
		}
	}

	// Each hears the other two tones and its own at least 20 dB lower.
	time.Sleep(1500 * time.Millisecond)
	for _, m := range members {
		lv := kit.ToneLevels(m.call, time.Second, 400, 700, 1600)
		for _, o := range members {
			if o == m {
				continue
			}
			if lv[o.tone] < -30 {
				t.Errorf("%s hears %s's %v Hz at %.1f dBFS, want above -30", m.name, o.name, o.tone, lv[o.tone])
			}
			if lv[o.tone]-lv[m.tone] < 20 {
				t.Errorf("%s: own tone at %.1f dBFS, not 20 dB below %s's %.1f", m.name, lv[m.tone], o.name, lv[o.tone])
			}
		}
	}

	// Kick a: exact classic body.
	a, b, c := members[0], members[1], members[2]
	st, body := p.REST(t, "POST", kit.AccountPath("/Conference/MyConference/Member/"+a.id+"/Kick/"), map[string]any{})
	if st != 200 {
		t.Fatalf("kick: %d %v", st, body)
	}
	assertKeys(t, "kick", body, "message", "member_id", "api_id")
	if body["message"] != "kicked" || body["member_id"] != a.id || !uuidRE.MatchString(fmt.Sprint(body["api_id"])) {
		t.Errorf("kick body %v", body)
	}
	kicked := time.Now()

	// a hears the Speak, then BYE with cause 4010.
	kit.WaitEnd(t, a.call, 20*time.Second)
	speech := 0
	for _, f := range kit.Frames(a.call) {
		if f.At.After(kicked.Add(300*time.Millisecond)) && f.Level > -40 && !f.IsTone(700) && !f.IsTone(1600) {
			speech++
		}
	}
	if speech < 40 {
		t.Errorf("kicked caller heard only %d frames of speech after the kick", speech)
	}
	var hangup kit.Request
	for _, h := range w.WaitFor(t, "/hangup", 1, 10*time.Second) {
		hangup = h
	}
	if hangup.Form.Get("HangupCauseCode") != "4010" || hangup.Form.Get("From") != a.from[1:] {
		t.Errorf("hangup webhook %v, want 4010 for %s", hangup.Form, a.from)
	}

	// b and c keep hearing each other, not a.
	time.Sleep(1200 * time.Millisecond)
	for _, pair := range [][2]*member{{b, c}, {c, b}} {
		lv := kit.ToneLevels(pair[0].call, time.Second, 400, 700, 1600)
		if lv[pair[1].tone] < -30 {
			t.Errorf("%s no longer hears %s (%.1f dBFS)", pair[0].name, pair[1].name, lv[pair[1].tone])
		}
		if lv[pair[1].tone]-lv[400] < 20 {
			t.Errorf("%s still hears the kicked caller: 400 Hz at %.1f dBFS", pair[0].name, lv[400])
		}
	}

	// The ConferenceExit callback for a reached the app.
	var exit *kit.Request
	deadline := time.Now().Add(5 * time.Second)
	for exit == nil && time.Now().Before(deadline) {
		for _, r := range w.Requests("/conf-events") {
			if r.Form.Get("Event") == "ConferenceExit" && r.Form.Get("ConferenceMemberID") == a.id {
				r := r
				exit = &r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if exit == nil {
		t.Fatal("no ConferenceExit callback for the kicked member")
	}
	kit.AssertParams(t, "ConferenceExit", exit.Form, map[string]string{"ConferenceAction": "exit",
		"ConferenceName": "MyConference", "ConferenceUUID": "*", "CallUUID": "*", "ConferenceCurrentSize": "2",
		"ConferenceLastMember": "false", "Timestamp": "*"})
	if err := exit.VerifySignature(kit.AuthToken); err != nil {
		t.Error(err)
	}
}
