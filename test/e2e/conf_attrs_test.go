package e2e

import (
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// confEnv is what one attribute case works with: its own Parley, web app and callers.
type confEnv struct {
	p  *kit.Server
	w  *kit.App
	cs []*caller
}

// next is the element after <Conference> in the attribute cases: a tone played outside the room.
const nextPlay = `<Play>NEXT</Play>`

// beepRuns returns the lengths, in frames, of the 1 kHz bursts received from since on; a
// single missing frame inside a burst (jitter) does not split it.
func beepRuns(cl *siptest.Call, since time.Time) []int {
	var runs []int
	run, gap := 0, 0
	for _, f := range kit.Frames(cl) {
		if f.At.Before(since) {
			continue
		}
		if f.IsTone(1000) {
			run += 1 + gap
			gap = 0
			continue
		}
		if run > 0 {
			gap++
			if gap > 1 {
				runs = append(runs, run)
				run, gap = 0, 0
			}
		}
	}
	if run > 0 {
		runs = append(runs, run)
	}
	return runs
}

// heardNext checks that c left the room into the next element (the otherTone Play) and got BYE.
func heardNext(t *testing.T, c *caller, since time.Time) {
	t.Helper()
	endedByServer(t, c, 15*time.Second)
	if n := kit.ToneFramesSince(c.call, otherTone, since); n < 40 {
		t.Errorf("%s heard %d frames of the element after <Conference>, want at least 40", c.name, n)
	}
}

// TestConfAttributes: the <Conference> attributes, each case in its own Parley.
func TestConfAttributes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tones []float64
		docs  map[string]string // <Conference> documents by caller From (no +); "" default
		run   func(t *testing.T, x *confEnv)
	}{
		{
			name:  "muted join",
			tones: []float64{400, 700},
			docs: map[string]string{
				"14155550101": `<Conference beep="false" stayAlone="true" muted="true">R</Conference>`,
				"":            `<Conference beep="false" stayAlone="true">R</Conference>`,
			},
			run: func(t *testing.T, x *confEnv) {
				a, b := x.cs[0], x.cs[1]
				a.join(t, x.p)
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				if muted, _ := memberFlags(t, x.p, "R", a.id); !muted {
					t.Error("GET Conference does not show the muted joiner as muted")
				}
				lb := hear(b, 400)[400]
				la := kit.ToneLevels(a.call, measureWindow, 700)[700]
				if la < heardDBFS {
					t.Fatalf("a does not hear b: %.1f dBFS", la)
				}
				if la-lb < dropDB {
					t.Errorf("b hears muted a at %.1f dBFS, a hears b at %.1f: want >= %.0f dB apart", lb, la, dropDB)
				}
				member204(t, x.p, "DELETE", "/Conference/R/Member/"+a.id+"/Mute/")
				if lb := hear(b, 400)[400]; lb < heardDBFS {
					t.Errorf("after unmute b hears a at %.1f dBFS", lb)
				}
			},
		},
		{
			name:  "beep on enter and exit",
			tones: []float64{0, 0},
			docs:  map[string]string{"": `<Conference stayAlone="true">R</Conference>`},
			run: func(t *testing.T, x *confEnv) {
				a, b := x.cs[0], x.cs[1]
				a.join(t, x.p)
				members(t, x.p, "R", a)
				time.Sleep(800 * time.Millisecond) // a's own entry beep passes
				t0 := time.Now()
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				time.Sleep(time.Second)
				for _, c := range []*caller{a, b} {
					runs := beepRuns(c.call, t0)
					if len(runs) != 1 || runs[0] < 7 || runs[0] > 14 {
						t.Errorf("%s heard 1 kHz bursts %v (frames) when b entered, want one of ~10 (beep:1)", c.name, runs)
					}
				}
				t1 := time.Now()
				if err := b.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(1500 * time.Millisecond)
				runs := beepRuns(a.call, t1)
				if len(runs) != 2 || runs[0] < 7 || runs[0] > 14 || runs[1] < 7 || runs[1] > 14 {
					t.Errorf("a heard 1 kHz bursts %v (frames) when b left, want two of ~10 (beep:2)", runs)
				}
			},
		},
		{
			name:  "wait for the start with waitSound",
			tones: []float64{400, 700, 1600},
			docs: map[string]string{
				"14155550101": `<Conference beep="false" stayAlone="true" startConferenceOnEnter="false" waitSound="WAIT">R</Conference>`,
				"14155550102": `<Conference beep="false" stayAlone="true" startConferenceOnEnter="false" waitSound="WAIT">R</Conference>`,
				"":            `<Conference beep="false" stayAlone="true">R</Conference>`,
			},
			run: func(t *testing.T, x *confEnv) {
				a, b, c := x.cs[0], x.cs[1], x.cs[2]
				a.join(t, x.p)
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				time.Sleep(settle)
				for _, pair := range [][2]*caller{{a, b}, {b, a}} {
					lv := kit.ToneLevels(pair[0].call, measureWindow, pair[1].tone, otherTone)
					if lv[otherTone] < heardDBFS {
						t.Errorf("waiting %s does not hear the wait sound: %.1f dBFS", pair[0].name, lv[otherTone])
					}
					if lv[otherTone]-lv[pair[1].tone] < dropDB {
						t.Errorf("waiting %s hears %s at %.1f dBFS (wait sound %.1f)", pair[0].name, pair[1].name, lv[pair[1].tone], lv[otherTone])
					}
				}
				for _, m := range []*caller{a, b} {
					r := x.w.WaitReq(t, "/wait", 5*time.Second, "waitSound request of "+m.name, func(r kit.Request) bool {
						return r.Form.Get("ConferenceMemberID") == m.id
					})
					kit.AssertParams(t, "waitSound request", r.Form, map[string]string{
						"Event": "ConferenceRemoteSounds", "ConferenceAction": "waitSound", "ConferenceName": "R",
						"ConferenceUUID": "*", "CallUUID": "*", "From": m.number(),
					})
				}
				c.join(t, x.p)
				members(t, x.p, "R", a, b, c)
				time.Sleep(settle)
				for _, m := range x.cs {
					lv := kit.ToneLevels(m.call, measureWindow, 400, 700, 1600, otherTone)
					for _, o := range x.cs {
						if o != m && lv[o.tone] < heardDBFS {
							t.Errorf("after the start %s hears %s at %.1f dBFS", m.name, o.name, lv[o.tone])
						}
					}
					if m != c && lv[otherTone] > heardDBFS-dropDB {
						t.Errorf("after the start %s still hears the wait sound at %.1f dBFS", m.name, lv[otherTone])
					}
				}
			},
		},
		{
			name:  "endConferenceOnExit",
			tones: []float64{400, 700, 1600},
			docs: map[string]string{
				"14155550101": `<Conference beep="false" endConferenceOnExit="true">R</Conference>` + nextPlay,
				"":            `<Conference beep="false" stayAlone="true">R</Conference>` + nextPlay,
			},
			run: func(t *testing.T, x *confEnv) {
				a, b, c := x.cs[0], x.cs[1], x.cs[2]
				for _, m := range x.cs {
					m.join(t, x.p)
				}
				members(t, x.p, "R", a, b, c)
				t0 := time.Now()
				if err := a.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
					t.Fatal(err)
				}
				heardNext(t, b, t0)
				heardNext(t, c, t0)
				for _, m := range []*caller{b, c} {
					if h := hangupOf(t, x.w, m); h.Form.Get("HangupCauseCode") != "4010" {
						t.Errorf("%s: hangup cause %s, want 4010", m.name, h.Form.Get("HangupCauseCode"))
					}
				}
			},
		},
		{
			name:  "stayAlone false evicts the last one",
			tones: []float64{400, 700},
			docs:  map[string]string{"": `<Conference beep="false">R</Conference>` + nextPlay},
			run: func(t *testing.T, x *confEnv) {
				a, b := x.cs[0], x.cs[1]
				a.join(t, x.p)
				members(t, x.p, "R", a)
				time.Sleep(500 * time.Millisecond)
				stillUp(t, a) // alone in an empty room: not evicted
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				t0 := time.Now()
				if err := b.call.Hangup(kit.Context(t, 5*time.Second)); err != nil {
					t.Fatal(err)
				}
				heardNext(t, a, t0)
				waitNoRoom(t, x.p, kit.AuthID, kit.AuthToken, "R")
			},
		},
		{
			name:  "maxParticipants turns the third away",
			tones: []float64{400, 700, 0},
			docs: map[string]string{"": `<Conference beep="false" stayAlone="true" maxParticipants="2" callbackUrl="EVENTS">R</Conference>` +
				`<Speak>Sorry, this conference is full. Please try again later.</Speak>`},
			run: func(t *testing.T, x *confEnv) {
				a, b, c := x.cs[0], x.cs[1], x.cs[2]
				a.join(t, x.p)
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				t0 := time.Now()
				c.join(t, x.p)
				endedByServer(t, c, 20*time.Second)
				if n := kit.SpeechFramesSince(c.call, t0, 400, 700); n < 40 {
					t.Errorf("the refused caller heard %d frames of the Speak, want at least 40", n)
				}
				// The room's steady tones would stand out of the whole call (about -13 dBFS);
				// speech harmonics reach about -45.
				pcm := c.call.ReceivedPCM(t0, time.Now())
				if l4, l7 := media.ToneDBFS(pcm, 400), media.ToneDBFS(pcm, 700); max(l4, l7) > heardDBFS {
					t.Errorf("the refused caller heard the room: 400 Hz at %.1f dBFS, 700 Hz at %.1f", l4, l7)
				}
				members(t, x.p, "R", a, b)
				enters := 0
				for _, r := range x.w.Requests("/events") {
					if r.Form.Get("Event") == "ConferenceEnter" {
						enters++
						if r.Form.Get("From") == c.number() {
							t.Error("ConferenceEnter sent for the refused caller")
						}
					}
				}
				if enters != 2 {
					t.Errorf("%d ConferenceEnter callbacks, want 2", enters)
				}
			},
		},
		{
			name:  "timeLimit ends the room",
			tones: []float64{400, 700},
			docs:  map[string]string{"": `<Conference beep="false" stayAlone="true" timeLimit="3">R</Conference>` + nextPlay},
			run: func(t *testing.T, x *confEnv) {
				a, b := x.cs[0], x.cs[1]
				a.join(t, x.p)
				t0 := time.Now()
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				heardNext(t, a, t0)
				heardNext(t, b, t0)
				var first time.Time
				for _, f := range kit.Frames(a.call) {
					if f.IsTone(otherTone) {
						first = f.At
						break
					}
				}
				if el := first.Sub(t0); el < 2500*time.Millisecond || el > 4500*time.Millisecond {
					t.Errorf("a left the room %v after it began, want about 3 s", el)
				}
			},
		},
		{
			name:  "hangupOnStar",
			tones: []float64{400, 700},
			docs: map[string]string{
				"14155550101": `<Conference beep="false" hangupOnStar="true">R</Conference>` + nextPlay,
				"":            `<Conference beep="false" stayAlone="true">R</Conference>` + nextPlay,
			},
			run: func(t *testing.T, x *confEnv) {
				a, b := x.cs[0], x.cs[1]
				a.join(t, x.p)
				b.join(t, x.p)
				members(t, x.p, "R", a, b)
				// b has no hangupOnStar: its * changes nothing.
				if err := b.call.SendDTMF("*", siptest.DTMFOptions{FirstDurationZero: true}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(700 * time.Millisecond)
				members(t, x.p, "R", a, b)
				t0 := time.Now()
				if err := a.call.SendDTMF("*", siptest.DTMFOptions{FirstDurationZero: true}); err != nil {
					t.Fatal(err)
				}
				heardNext(t, a, t0)
				members(t, x.p, "R", b)
				stillUp(t, b)
			},
		},
		{
			name:  "digitsMatch",
			tones: []float64{0},
			docs:  map[string]string{"": `<Conference beep="false" digitsMatch="12" callbackUrl="EVENTS">R</Conference>`},
			run: func(t *testing.T, x *confEnv) {
				a := x.cs[0]
				a.join(t, x.p)
				members(t, x.p, "R", a)
				isMatch := func(r kit.Request) bool { return r.Form.Get("Event") == "ConferenceDigitsMatch" }
				if err := a.call.SendDTMF("1", siptest.DTMFOptions{}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(700 * time.Millisecond)
				for _, r := range x.w.Requests("/events") {
					if isMatch(r) {
						t.Errorf("ConferenceDigitsMatch after 1 alone: %v", r.Form)
					}
				}
				if err := a.call.SendDTMF("2", siptest.DTMFOptions{}); err != nil {
					t.Fatal(err)
				}
				r := x.w.WaitReq(t, "/events", 5*time.Second, "ConferenceDigitsMatch", isMatch)
				kit.AssertParams(t, "ConferenceDigitsMatch", r.Form, map[string]string{
					"ConferenceAction": "digits", "ConferenceDigitsMatch": "12", "ConferenceName": "R",
					"ConferenceMemberID": a.id, "ConferenceUUID": "*", "CallUUID": "*", "ConferenceCurrentSize": "1",
				})
			},
		},
		{
			name:  "action after kick",
			tones: []float64{400},
			docs: map[string]string{"": `<Conference beep="false" action="/after" method="POST" callbackUrl="EVENTS">R</Conference>` +
				`<Play>NEVER</Play>`},
			run: func(t *testing.T, x *confEnv) {
				a := x.cs[0]
				x.w.XML("/after", `<Response><Play>`+x.w.URL("/next.wav")+`</Play></Response>`)
				a.join(t, x.p)
				members(t, x.p, "R", a)
				enter := x.w.WaitReq(t, "/events", 5*time.Second, "ConferenceEnter", func(r kit.Request) bool {
					return r.Form.Get("Event") == "ConferenceEnter"
				})
				st, body := x.p.REST(t, "POST", kit.AccountPath("/Conference/R/Member/"+a.id+"/Kick/"), nil)
				assertAction(t, "kick", st, body, "classic", "kicked", a.id)
				t0 := time.Now()
				heardNext(t, a, t0)
				if n := kit.ToneFramesSince(a.call, 1900, t0); n > 2 {
					t.Errorf("the element after <Conference> ran too (%d frames of it)", n)
				}
				reqs := x.w.Requests("/after")
				if len(reqs) != 1 {
					t.Fatalf("action URL requested %d times, want 1", len(reqs))
				}
				kit.AssertParams(t, "action request", reqs[0].Form, map[string]string{
					"ConferenceName": "R", "ConferenceUUID": enter.Form.Get("ConferenceUUID"), "ConferenceMemberID": a.id,
					"CallUUID": enter.Form.Get("CallUUID"), "From": a.number(),
				})
				if !uuidRE.MatchString(reqs[0].Form.Get("ConferenceUUID")) {
					t.Errorf("ConferenceUUID %q is not a UUID", reqs[0].Form.Get("ConferenceUUID"))
				}
				if reqs[0].Method != "POST" {
					t.Errorf("action requested with %s", reqs[0].Method)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := kit.NewApp(t)
			w.OK("/hangup")
			w.OK("/events")
			w.Tone("/next.wav", otherTone, 1500*time.Millisecond)
			w.Tone("/never.wav", 1900, 1500*time.Millisecond)
			w.Tone("/wait.wav", otherTone, time.Second)
			w.XML("/wait", `<Response><Play>`+w.URL("/wait.wav")+`</Play></Response>`)
			docs := map[string]string{}
			for from, body := range tc.docs {
				body = replaceAll(body, "NEXT", w.URL("/next.wav"), "NEVER", w.URL("/never.wav"),
					"WAIT", w.URL("/wait"), "EVENTS", w.URL("/events"))
				docs[from] = "<Response>" + body + "</Response>"
			}
			w.DocsByFrom("/answer", docs)
			x := &confEnv{p: suite.Start(t, kit.Options{App: w}), w: w, cs: newCallers(tc.tones...)}
			tc.run(t, x)
		})
	}
}
