package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// TestConfKick: Kick by list and by all in both profiles; the kicked calls hear their next
// element and get BYE; unknown ids or rooms answer 404 and change nothing.
func TestConfKick(t *testing.T) {
	for _, profile := range []string{"classic", "current"} {
		t.Run(profile, func(t *testing.T) {
			w := kit.NewApp(t)
			w.XML("/answer", `<Response>
  <Conference beep="false" stayAlone="true">Kicks</Conference>
  <Speak>You have been removed from the conference room. Goodbye.</Speak>
</Response>`)
			w.OK("/hangup")
			p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_API_PROFILE": profile}})
			cs := newCallers(400, 700, 1600)
			a, b, c := cs[0], cs[1], cs[2]
			for _, m := range cs {
				m.join(t, p)
			}
			members(t, p, "Kicks", cs...)

			// A list with an unknown id: 404 naming the missing ids in request order; nobody leaves.
			st, body := p.REST(t, "POST", kit.AccountPath("/Conference/Kicks/Member/"+a.id+",99991,"+b.id+",99990/Kick/"), map[string]any{})
			assertError(t, "kick with unknown ids", st, body, 404, "member not found: 99991,99990")
			st, body = p.REST(t, "POST", kit.AccountPath("/Conference/NoSuchRoom/Member/"+a.id+"/Kick/"), map[string]any{})
			assertError(t, "kick in unknown room", st, body, 404, "conference not found")
			time.Sleep(300 * time.Millisecond)
			members(t, p, "Kicks", cs...)
			for _, m := range cs {
				stillUp(t, m)
			}

			// Kick a and b by list.
			mid := a.id + "," + b.id
			st, body = p.REST(t, "POST", kit.AccountPath("/Conference/Kicks/Member/"+mid+"/Kick/"), map[string]any{})
			assertAction(t, "kick list", st, body, profile, "kicked", mid)
			kicked := time.Now()
			for _, m := range []*caller{a, b} {
				endedByServer(t, m, 20*time.Second)
				if n := kit.SpeechFramesSince(m.call, kicked.Add(200*time.Millisecond), 400, 700, 1600); n < 40 {
					t.Errorf("%s heard only %d frames of the Speak after the kick", m.name, n)
				}
				if h := hangupOf(t, w, m); h.Form.Get("HangupCauseCode") != "4010" {
					t.Errorf("%s: hangup cause %s, want 4010 (document ended)", m.name, h.Form.Get("HangupCauseCode"))
				}
			}
			members(t, p, "Kicks", c)
			stillUp(t, c)

			// A fourth caller joins; `all` kicks both remaining members.
			d := &caller{name: "d", from: "+14155550109", tone: 2200}
			d.join(t, p)
			members(t, p, "Kicks", c, d)
			st, body = p.REST(t, "POST", kit.AccountPath("/Conference/Kicks/Member/all/Kick/"), nil)
			assertAction(t, "kick all", st, body, profile, "kicked", "all")
			kicked = time.Now()
			for _, m := range []*caller{c, d} {
				endedByServer(t, m, 20*time.Second)
				if n := kit.SpeechFramesSince(m.call, kicked.Add(200*time.Millisecond), 1600, 2200); n < 40 {
					t.Errorf("%s heard only %d frames of the Speak after kick all", m.name, n)
				}
			}
			waitNoRoom(t, p, kit.AuthID, kit.AuthToken, "Kicks")
			st, body = p.REST(t, "POST", kit.AccountPath("/Conference/Kicks/Member/all/Kick/"), nil)
			assertError(t, "kick all in an empty room", st, body, 404, "conference not found")
		})
	}
}

// TestConfHangupAPI: DELETE of a member, of a room and of all rooms end the calls with BYE and
// hangup webhooks 4000 / API Request; nothing after <Conference> runs.
func TestConfHangupAPI(t *testing.T) {
	w := kit.NewApp(t)
	doc := func(room string) string {
		return `<Response><Conference beep="false" stayAlone="true" callbackUrl="/events">` + room +
			`</Conference><Play>` + w.URL("/next.wav") + `</Play></Response>`
	}
	w.Tone("/next.wav", otherTone, 2*time.Second)
	// a, b, c in Del; d in Other1; e in Other2.
	w.DocsByFrom("/answer", map[string]string{
		"": doc("Del"), "14155550104": doc("Other1"), "14155550105": doc("Other2"),
	})
	w.OK("/hangup")
	w.OK("/events")
	p := suite.Start(t, kit.Options{App: w})
	cs := newCallers(0, 0, 0, 0, 0)
	a, b, c, d, e := cs[0], cs[1], cs[2], cs[3], cs[4]
	for _, m := range cs {
		m.join(t, p)
	}
	members(t, p, "Del", a, b, c)
	members(t, p, "Other1", d)
	members(t, p, "Other2", e)

	apiHangup := func(m *caller) {
		t.Helper()
		start := time.Now()
		endedByServer(t, m, 10*time.Second)
		kit.AssertParams(t, "hangup of "+m.name, hangupOf(t, w, m).Form, map[string]string{
			"HangupCauseCode": "4000", "HangupCauseName": "Normal Hangup", "HangupSource": "API Request",
			"HangupCause": "NORMAL_CLEARING", "CallStatus": "completed",
		})
		if n := kit.ToneFramesSince(m.call, otherTone, start.Add(-time.Second)); n > 0 {
			t.Errorf("%s heard %d frames of the element after <Conference>", m.name, n)
		}
		w.WaitReq(t, "/events", 5*time.Second, "ConferenceExit of "+m.name, func(r kit.Request) bool {
			return r.Form.Get("Event") == "ConferenceExit" && r.Form.Get("ConferenceMemberID") == m.id
		})
	}

	member204(t, p, "DELETE", "/Conference/Del/Member/"+a.id+"/")
	apiHangup(a)
	members(t, p, "Del", b, c)
	stillUp(t, b)
	stillUp(t, c)

	member204(t, p, "DELETE", "/Conference/Del/")
	apiHangup(b)
	apiHangup(c)
	waitNoRoom(t, p, kit.AuthID, kit.AuthToken, "Del")
	stillUp(t, d)
	stillUp(t, e)
	st, body := p.REST(t, "DELETE", kit.AccountPath("/Conference/Del/"), nil)
	assertError(t, "DELETE of a gone room", st, body, 404, "conference not found")

	member204(t, p, "DELETE", "/Conference/")
	apiHangup(d)
	apiHangup(e)
	st, body = p.REST(t, "GET", kit.AccountPath("/Conference/"), nil)
	if st != 200 || len(body["conferences"].([]any)) != 0 {
		t.Errorf("after DELETE /Conference/: %d %v, want no rooms", st, body)
	}
	member204(t, p, "DELETE", "/Conference/") // 204 also with no rooms
}

// TestConfMemberAudio: Mute, Deaf, private Play (WAV and MP3) and Speak, and their stops, as
// heard by the two members of a room.
func TestConfMemberAudio(t *testing.T) {
	mp3, err := os.ReadFile("../../internal/media/testdata/tone1k_16k_mpeg2.mp3")
	if err != nil {
		t.Fatal(err)
	}
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true">Audio</Conference></Response>`)
	w.OK("/hangup")
	w.Tone("/short.wav", otherTone, 2500*time.Millisecond)
	w.Tone("/long.wav", otherTone, 20*time.Second)
	w.File("/tone.mp3", "audio/mpeg", mp3)
	p := suite.Start(t, kit.Options{App: w})
	cs := newCallers(400, 700)
	a, b := cs[0], cs[1]
	for _, m := range cs {
		m.join(t, p)
	}
	members(t, p, "Audio", a, b)
	mpath := func(m *caller, action string) string { return "/Conference/Audio/Member/" + m.id + "/" + action + "/" }

	base := hear(b, 400)[400]
	if base < heardDBFS {
		t.Fatalf("b hears a at %.1f dBFS before any command, want above %.0f", base, heardDBFS)
	}

	t.Run("mute", func(t *testing.T) {
		st, body := p.REST(t, "POST", kit.AccountPath(mpath(a, "Mute")), map[string]any{})
		assertAction(t, "mute", st, body, "classic", "muted", a.id)
		if muted, _ := memberFlags(t, p, "Audio", a.id); !muted {
			t.Error("GET Conference does not show a as muted")
		}
		lb, la := hear(b, 400)[400], kit.ToneLevels(a.call, measureWindow, 700)[700]
		if base-lb < dropDB {
			t.Errorf("muted a still reaches b: 400 Hz at %.1f dBFS, was %.1f (want >= %.0f dB drop)", lb, base, dropDB)
		}
		if la < heardDBFS {
			t.Errorf("muted a no longer hears b: 700 Hz at %.1f dBFS", la)
		}
		member204(t, p, "DELETE", mpath(a, "Mute"))
		if lb := hear(b, 400)[400]; lb < heardDBFS {
			t.Errorf("after unmute b hears a at %.1f dBFS, want above %.0f", lb, heardDBFS)
		}
		if muted, _ := memberFlags(t, p, "Audio", a.id); muted {
			t.Error("GET Conference still shows a as muted")
		}
	})

	t.Run("deaf with private play", func(t *testing.T) {
		heard := hear(a, 700)[700]
		st, body := p.REST(t, "POST", kit.AccountPath(mpath(a, "Deaf")), map[string]any{})
		assertAction(t, "deaf", st, body, "classic", "deaf", a.id)
		if _, deaf := memberFlags(t, p, "Audio", a.id); !deaf {
			t.Error("GET Conference does not show a as deaf")
		}
		if l := hear(a, 700)[700]; heard-l < dropDB {
			t.Errorf("deaf a still hears b: 700 Hz at %.1f dBFS, was %.1f", l, heard)
		}
		if l := kit.ToneLevels(b.call, measureWindow, 400)[400]; l < heardDBFS {
			t.Errorf("deaf a is no longer heard by b: %.1f dBFS", l)
		}
		st, body = p.REST(t, "POST", kit.AccountPath(mpath(a, "Play")), map[string]any{"url": w.URL("/short.wav")})
		assertAction(t, "play", st, body, "classic", "play queued into conference", a.id)
		lv := hear(a, otherTone, 700)
		lb := kit.ToneLevels(b.call, measureWindow, otherTone)[otherTone]
		if lv[otherTone] < heardDBFS {
			t.Errorf("deaf a does not hear its private Play: %.1f dBFS", lv[otherTone])
		}
		if lv[otherTone]-lb < dropDB {
			t.Errorf("b hears a's private Play at %.1f dBFS (a: %.1f)", lb, lv[otherTone])
		}
		member204(t, p, "DELETE", mpath(a, "Deaf"))
		time.Sleep(time.Second) // the 2.5 s play ends
		if l := hear(a, 700)[700]; l < heardDBFS {
			t.Errorf("after undeaf a hears b at %.1f dBFS", l)
		}
	})

	t.Run("mp3 play to one member", func(t *testing.T) {
		st, body := p.REST(t, "POST", kit.AccountPath(mpath(b, "Play")), map[string]any{"url": w.URL("/tone.mp3")})
		assertAction(t, "play mp3", st, body, "classic", "play queued into conference", b.id)
		start := time.Now()
		time.Sleep(1500 * time.Millisecond)
		// The file holds 0.5 s of 1 kHz: about 25 frames.
		if n := kit.ToneFramesSince(b.call, 1000, start); n < 15 {
			t.Errorf("b heard %d frames of the MP3's 1 kHz tone, want at least 15", n)
		}
		if n := kit.ToneFramesSince(a.call, 1000, start); n > 2 {
			t.Errorf("a heard %d frames of b's private MP3", n)
		}
	})

	t.Run("stop play", func(t *testing.T) {
		p.REST(t, "POST", kit.AccountPath(mpath(a, "Play")), map[string]any{"url": w.URL("/long.wav")})
		if l := hear(a, otherTone)[otherTone]; l < heardDBFS {
			t.Fatalf("a does not hear the long Play: %.1f dBFS", l)
		}
		member204(t, p, "DELETE", mpath(a, "Play"))
		if l := hear(a, otherTone)[otherTone]; l > heardDBFS-dropDB {
			t.Errorf("after DELETE Play a still hears it at %.1f dBFS", l)
		}
	})

	// Speak: both callers go silent so that speech is the only sound.
	a.call.SetSource(nil)
	b.call.SetSource(nil)
	t.Run("speak and stop speak", func(t *testing.T) {
		st, body := p.REST(t, "POST", kit.AccountPath(mpath(a, "Speak")), map[string]any{
			"text": "This is a private announcement for one member of the conference room. " +
				"It goes on for quite a while, so that stopping it can be observed clearly by the test. " +
				"Nobody else in the room should hear a single word of it, however long it lasts.",
		})
		assertAction(t, "speak", st, body, "classic", "speak queued into conference", a.id)
		time.Sleep(2500 * time.Millisecond)
		now := time.Now()
		wa := kit.Window(kit.Frames(a.call), now.Add(-1500*time.Millisecond), now)
		wb := kit.Window(kit.Frames(b.call), now.Add(-1500*time.Millisecond), now)
		if got := kit.FractionAbove(wa, -40); got < 0.3 {
			t.Errorf("a: %.0f%% of frames above -40 dBFS during its Speak, want at least 30%%", got*100)
		}
		if got := kit.FractionAbove(wb, -40); got > 0.05 {
			t.Errorf("b: %.0f%% of frames above -40 dBFS during a's private Speak, want at most 5%%", got*100)
		}
		member204(t, p, "DELETE", mpath(a, "Speak"))
		time.Sleep(settle)
		now = time.Now()
		wa = kit.Window(kit.Frames(a.call), now.Add(-measureWindow), now)
		if got := kit.FractionAbove(wa, -40); got > 0.05 {
			t.Errorf("a: %.0f%% of frames above -40 dBFS after DELETE Speak, want at most 5%%", got*100)
		}
	})
}
