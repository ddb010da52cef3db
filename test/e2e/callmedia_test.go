package e2e

// Acceptance tests of the call-level media routes and the both-leg transfer (calls-more.md §A,
// §B): who hears what is measured by tone detection on what each phone receives.

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// Tones of the bridge tests: what A and B send, and what overlays and documents play.
const (
	toneA     = 400.0
	toneB     = 700.0
	toneOver  = 1000.0 // the REST Play file
	toneNextA = 1300.0 // A's document after a transfer or after <Dial>
	toneNextB = 1600.0 // B's document after a transfer
)

// bridge is a caller A bridged by <Dial> to a registered endpoint B.
type bridge struct {
	p          *kit.Server
	w          *kit.App
	a, b       *siptest.Call
	aID, bID   string
	dialEvents string
}

// startBridge sets up A → <Dial> → B; after the Dial, A's document plays toneNextA.
func startBridge(t *testing.T, phoneOpts siptest.ListenOptions, dialOpts siptest.DialOptions) *bridge {
	t.Helper()
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	w.XML("/answer", `<Response>
  <Dial action="/dial-done" redirect="false" callbackUrl="/dial-events"><User>sip:bob@`+strings.Split(p.SIP, ":")[0]+`</User></Dial>
  <Play loop="0">/next-a.wav</Play>
</Response>`)
	w.File("/next-a.wav", "audio/wav", kit.ToneWAV(toneNextA, 8000, 2*time.Second, -10))
	w.File("/next-b.wav", "audio/wav", kit.ToneWAV(toneNextB, 8000, 2*time.Second, -10))
	w.File("/over.wav", "audio/wav", kit.ToneWAV(toneOver, 8000, 2*time.Second, -10))
	w.XML("/a-doc", `<Response><Play loop="0">/next-a.wav</Play></Response>`)
	w.XML("/b-doc", `<Response><Play loop="0">/next-b.wav</Play></Response>`)
	w.OK("/dial-done")
	w.OK("/dial-events")
	w.OK("/hangup")
	createEndpoint(t, p, "bob", "bob-secret-1", "")
	bob := kit.NewPhone(t, "127.0.0.2")
	phoneOpts.Username = "bob"
	phoneOpts.Send = media.Tone(toneB, 5*time.Minute, -10)
	bob.Listen(t, phoneOpts)
	if err := bob.Register(t, p, "bob", "bob-secret-1"); err != nil {
		t.Fatalf("register: %v", err)
	}
	dialOpts.Send = media.Tone(toneA, 5*time.Minute, -10)
	a := kit.Dial(t, p, "14155550199", dialOpts)
	b := bob.Incoming(t)
	kit.WaitAnswered(t, b, "B not answered")
	ev := w.WaitReq(t, "/dial-events", 10*time.Second, "DialConnected", func(r kit.Request) bool { return r.Form.Get("Event") == "DialConnected" })
	br := &bridge{p: p, w: w, a: a, b: b, aID: ev.Form.Get("DialALegUUID"), bID: ev.Form.Get("DialBLegUUID")}
	if br.aID == "" || br.bID == "" {
		t.Fatalf("DialConnected without leg ids: %v", ev.Form)
	}
	time.Sleep(time.Second)
	return br
}

func (br *bridge) rest(t *testing.T, method, leg, action string, body any) (int, map[string]any) {
	t.Helper()
	return br.p.REST(t, method, kit.AccountPath("/Call/"+leg+"/"+action+"/"), body)
}

// expect asserts the levels of freqs on cl over the last second: heard ones above heardDBFS,
// the others at least dropDB under the loudest heard one.
func expect(t *testing.T, what string, cl *siptest.Call, heard []float64, silent []float64) {
	t.Helper()
	lv := kit.ToneLevels(cl, measureWindow, append(append([]float64{}, heard...), silent...)...)
	loudest := -200.0
	for _, f := range heard {
		if lv[f] < heardDBFS {
			t.Errorf("%s: %.0f Hz at %.1f dBFS, want heard (levels %v)", what, f, lv[f], lv)
		}
		loudest = max(loudest, lv[f])
	}
	for _, f := range silent {
		if lv[f] > loudest-dropDB {
			t.Errorf("%s: %.0f Hz at %.1f dBFS, want not heard (levels %v)", what, f, lv[f], lv)
		}
	}
}

func TestCallPlayWhoHearsWhatInABridge(t *testing.T) {
	br := startBridge(t, siptest.ListenOptions{}, siptest.DialOptions{})
	over := br.w.URL("/over.wav")
	steps := []struct {
		name         string
		leg          string
		body         map[string]any
		aHears, aNot []float64
		bHears, bNot []float64
	}{
		{"aleg mix", br.aID, map[string]any{"urls": over, "loop": true},
			[]float64{toneB, toneOver}, nil, []float64{toneA}, []float64{toneOver}},
		{"aleg mix=false", br.aID, map[string]any{"urls": over, "loop": true, "mix": false},
			[]float64{toneOver}, []float64{toneB}, []float64{toneA}, []float64{toneOver}},
		{"bleg from A, mix=false", br.aID, map[string]any{"urls": []string{over}, "loop": "true", "legs": "bleg", "mix": "false"},
			[]float64{toneB}, []float64{toneOver}, []float64{toneOver}, []float64{toneA}},
		{"aleg addressed to B", br.bID, map[string]any{"urls": over, "loop": true},
			[]float64{toneB}, []float64{toneOver}, []float64{toneA, toneOver}, nil},
		{"bleg addressed to B", br.bID, map[string]any{"urls": over, "loop": true, "legs": "bleg"},
			[]float64{toneB, toneOver}, nil, []float64{toneA}, []float64{toneOver}},
		{"both, mix=false", br.aID, map[string]any{"urls": over, "loop": true, "legs": "both", "mix": false},
			[]float64{toneOver}, []float64{toneB}, []float64{toneOver}, []float64{toneA}},
	}
	for _, s := range steps {
		st, body := br.rest(t, "POST", s.leg, "Play", s.body)
		if st != 202 || body["message"] != "play started" {
			t.Fatalf("%s: %d %v", s.name, st, body)
		}
		assertKeys(t, "play", body, "api_id", "message")
		time.Sleep(settle)
		expect(t, s.name+": A", br.a, s.aHears, s.aNot)
		expect(t, s.name+": B", br.b, s.bHears, s.bNot)
		// DELETE stops the overlays of both legs of the bridge.
		if st, _ := br.rest(t, "DELETE", s.leg, "Play", nil); st != 204 {
			t.Fatalf("%s: stop %d", s.name, st)
		}
		time.Sleep(settle)
		expect(t, s.name+" stopped: A", br.a, []float64{toneB}, []float64{toneOver})
		expect(t, s.name+" stopped: B", br.b, []float64{toneA}, []float64{toneOver})
	}
	// A new Play replaces the running one at once; length bounds it.
	br.w.File("/over2.wav", "audio/wav", kit.ToneWAV(toneNextB, 8000, 2*time.Second, -10))
	br.rest(t, "POST", br.aID, "Play", map[string]any{"urls": over, "loop": true})
	time.Sleep(500 * time.Millisecond)
	br.rest(t, "POST", br.aID, "Play", map[string]any{"urls": br.w.URL("/over2.wav"), "loop": true, "length": 3})
	time.Sleep(settle)
	expect(t, "replaced: A", br.a, []float64{toneNextB}, []float64{toneOver})
	time.Sleep(3 * time.Second)
	expect(t, "after length: A", br.a, []float64{toneB}, []float64{toneNextB, toneOver})
}

func TestCallMediaErrorsAndDigits(t *testing.T) {
	br := startBridge(t, siptest.ListenOptions{NoTelephoneEvent: true}, siptest.DialOptions{NoTelephoneEvent: true})
	st, body := br.rest(t, "POST", "not-a-call", "Speak", map[string]any{"text": "hi"})
	assertError(t, "unknown leg", st, body, 404, "call not found")
	st, body = br.rest(t, "POST", br.aID, "Play", map[string]any{"urls": "ftp://x/y.mp3"})
	assertError(t, "bad urls", st, body, 400, "invalid value for parameter: urls")
	st, body = br.rest(t, "POST", br.aID, "Speak", map[string]any{"text": "hi", "language": "xx-YY"})
	assertError(t, "bad language", st, body, 400, "invalid value for parameter: language")
	st, body = br.rest(t, "GET", br.aID, "dtmf", nil)
	assertError(t, "GET DTMF", st, body, 405, "method not allowed")

	// Digits go to the party of the leg named: A gets "12", B gets "9#" (sent as SIP INFO).
	st, body = br.rest(t, "POST", br.aID, "DTMF", map[string]any{"digits": "12"})
	if st != 202 || body["message"] != "digits sent" {
		t.Fatalf("DTMF aleg: %d %v", st, body)
	}
	if st, body = br.rest(t, "POST", br.aID, "DTMF", map[string]any{"digits": "9#", "legs": "bleg"}); st != 202 {
		t.Fatalf("DTMF bleg: %d %v", st, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (len(br.a.InfoDigits()) < 2 || len(br.b.InfoDigits()) < 2) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := string(br.a.InfoDigits()); got != "12" {
		t.Errorf("A received digits %q, want 12", got)
	}
	if got := string(br.b.InfoDigits()); got != "9#" {
		t.Errorf("B received digits %q, want 9# (none relayed from A)", got)
	}

	// Record A (mono: what A says and hears), stopped by its URL; the callback has the 8 fields.
	st, rec := br.rest(t, "POST", br.aID, "Record", map[string]any{"file_format": "wav", "callback_url": br.w.URL("/rec-cb")})
	br.w.OK("/rec-cb")
	if st != 200 || rec["message"] != "recording started" {
		t.Fatalf("record: %d %v", st, rec)
	}
	assertKeys(t, "record", rec, "api_id", "message", "recording_id", "url")
	time.Sleep(2 * time.Second)
	if st, _ := br.p.REST(t, "DELETE", kit.AccountPath("/Call/"+br.aID+"/Record/"), map[string]any{"URL": rec["url"]}); st != 204 {
		t.Fatalf("stop record: %d", st)
	}
	cb := br.w.WaitFor(t, "/rec-cb", 1, 10*time.Second)[0]
	kit.AssertParams(t, "recording callback", cb.Form, map[string]string{"api_id": rec["api_id"].(string),
		"record_url": rec["url"].(string), "call_uuid": br.aID, "recording_id": rec["recording_id"].(string),
		"recording_duration": "*", "recording_duration_ms": "*", "recording_start_ms": "*", "recording_end_ms": "*"})
	if len(cb.Form) != 8 {
		t.Errorf("recording callback has %d fields, want 8: %v", len(cb.Form), cb.Form)
	}
	u := rec["url"].(string)
	st, _, data := download(t, br.p, kit.AuthID, kit.AuthToken, u[strings.Index(u, "/api/"):])
	if st != 200 {
		t.Fatalf("download: %d", st)
	}
	pcm, err := media.DecodeAudio(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(pcm)) * time.Second / media.SampleRate; d < 1500*time.Millisecond {
		t.Errorf("recording lasts %v", d)
	}
	if a, b := media.ToneDBFS(pcm, toneA), media.ToneDBFS(pcm, toneB); a < -30 || b < -30 {
		t.Errorf("recording: A's tone %.1f dBFS, B's %.1f dBFS; want both (what A says and hears)", a, b)
	}

	// After the bridge, bleg has nothing to name.
	if st, _ := br.p.REST(t, "DELETE", kit.AccountPath("/Call/"+br.bID+"/"), nil); st != 204 {
		t.Fatalf("hang up B: %d", st)
	}
	br.w.WaitFor(t, "/dial-done", 1, 10*time.Second)
	st, body = br.rest(t, "POST", br.aID, "Speak", map[string]any{"text": "hi", "legs": "bleg"})
	assertError(t, "bleg unbridged", st, body, 400, "invalid value for parameter: legs")
	st, body = br.rest(t, "POST", br.aID, "DTMF", map[string]any{"digits": "1", "leg": "bleg"})
	assertError(t, "DTMF bleg unbridged", st, body, 400, "invalid value for parameter: leg")
	if st, body = br.rest(t, "POST", br.aID, "Speak", map[string]any{"text": "hi", "legs": "both"}); st != 202 {
		t.Errorf("both unbridged: %d %v, want 202 (addressed leg only)", st, body)
	}
}

// TestTransferLegsOfABridge: each leg of a bridge moved by REST, checked by what each party
// hears next (calls-more §B).
func TestTransferLegsOfABridge(t *testing.T) {
	cases := []struct {
		name     string
		toB      bool // address the B leg
		body     func(w *kit.App) map[string]any
		aHears   float64
		bHears   float64 // 0: B is hung up
		action   bool    // A's Dial action is requested
		bLegHung string  // DialHangup source
	}{
		{"bleg", false, func(w *kit.App) map[string]any {
			return map[string]any{"legs": "bleg", "bleg_url": w.URL("/b-doc")}
		}, toneNextA, toneNextB, true, "API Request"},
		{"aleg addressed to B", true, func(w *kit.App) map[string]any {
			return map[string]any{"aleg_url": w.URL("/b-doc")}
		}, toneNextA, toneNextB, true, "API Request"},
		{"aleg", false, func(w *kit.App) map[string]any {
			return map[string]any{"aleg_url": w.URL("/a-doc")}
		}, toneNextA, 0, false, "API Request"},
		{"both", false, func(w *kit.App) map[string]any {
			return map[string]any{"legs": "both", "aleg_url": w.URL("/a-doc"), "bleg_url": w.URL("/b-doc"), "bleg_method": "GET"}
		}, toneNextA, toneNextB, false, "API Request"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			br := startBridge(t, siptest.ListenOptions{}, siptest.DialOptions{})
			leg := br.aID
			if tc.toB {
				leg = br.bID
			}
			st, body := br.p.REST(t, "POST", kit.AccountPath("/Call/"+leg+"/"), tc.body(br.w))
			if st != 202 || body["message"] != "call transferred" {
				t.Fatalf("transfer: %d %v", st, body)
			}
			time.Sleep(2 * time.Second)
			if tc.bHears == 0 {
				kit.WaitEnd(t, br.b, 5*time.Second)
			} else {
				expect(t, "B", br.b, []float64{tc.bHears}, []float64{toneA})
				tr := br.w.WaitFor(t, "/b-doc", 1, 5*time.Second)[0]
				kit.AssertParams(t, "B's transfer request", tr.Form, map[string]string{"Event": "Transfer",
					"CallUUID": br.bID, "Direction": "outbound", "ALegUUID": br.aID})
			}
			expect(t, "A", br.a, []float64{tc.aHears}, []float64{toneB})
			hangup := br.w.WaitReq(t, "/dial-events", 5*time.Second, "DialHangup", func(r kit.Request) bool { return r.Form.Get("Event") == "DialHangup" })
			kit.AssertParams(t, "DialHangup", hangup.Form, map[string]string{"DialBLegHangupCause": "NORMAL_CLEARING",
				"DialBLegHangupCauseCode": "4000", "DialBLegHangupSource": tc.bLegHung, "DialBLegStatus": "completed"})
			time.Sleep(300 * time.Millisecond)
			if n := len(br.w.Requests("/dial-done")); (n == 1) != tc.action {
				t.Errorf("%d Dial action requests, want action=%v", n, tc.action)
			}
			if tc.action {
				kit.AssertParams(t, "Dial action", br.w.Requests("/dial-done")[0].Form, map[string]string{"DialStatus": "completed"})
			}
		})
	}
}

// memberCallUUID returns the call_uuid of member id in room.
func memberCallUUID(t *testing.T, p *kit.Server, room, id string) string {
	t.Helper()
	st, body := p.REST(t, "GET", kit.AccountPath("/Conference/"+room+"/"), nil)
	ms, _ := body["members"].([]any)
	for _, raw := range ms {
		m, _ := raw.(map[string]any)
		if st == 200 && m["member_id"] == id {
			return m["call_uuid"].(string)
		}
	}
	t.Fatalf("member %s not in %s: %d %v", id, room, st, body)
	return ""
}

// TestCallMediaOnConferenceMember: a call overlay on a member is heard by that member only,
// over the room (mix) or instead of it (mix=false), and survives a kick into the next element.
func TestCallMediaOnConferenceMember(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true">Media</Conference><Play loop="0">/next.wav</Play></Response>`)
	w.File("/next.wav", "audio/wav", kit.ToneWAV(otherTone, 8000, 2*time.Second, -10))
	w.File("/over.wav", "audio/wav", kit.ToneWAV(toneOver, 8000, 2*time.Second, -10))
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cs := newCallers(toneA, toneB)
	a, b := cs[0], cs[1]
	a.join(t, p)
	b.join(t, p)
	members(t, p, "Media", a, b)
	aID := memberCallUUID(t, p, "Media", a.id)
	time.Sleep(settle)

	play := func(body map[string]any) {
		t.Helper()
		body["urls"] = w.URL("/over.wav")
		body["loop"] = true
		if st, resp := p.REST(t, "POST", kit.AccountPath("/Call/"+aID+"/Play/"), body); st != 202 {
			t.Fatalf("play %v: %d %v", body, st, resp)
		}
		time.Sleep(settle)
	}
	play(map[string]any{})
	expect(t, "mix: member a", a.call, []float64{toneB, toneOver}, nil)
	expect(t, "mix: member b", b.call, []float64{toneA}, []float64{toneOver})
	play(map[string]any{"mix": false, "legs": "both"}) // both: the member only
	expect(t, "mix=false: member a", a.call, []float64{toneOver}, []float64{toneB})
	expect(t, "mix=false: member b", b.call, []float64{toneA}, []float64{toneOver})
	st, body := p.REST(t, "POST", kit.AccountPath("/Call/"+aID+"/Play/"), map[string]any{"urls": w.URL("/over.wav"), "legs": "bleg"})
	assertError(t, "bleg on a member", st, body, 400, "invalid value for parameter: legs")
	if st, _ := p.REST(t, "DELETE", kit.AccountPath("/Call/"+aID+"/Play/"), nil); st != 204 {
		t.Fatalf("stop play: %d", st)
	}

	// A Speak overlay (mix=false, so nothing else is heard while it sounds) keeps sounding
	// after the member is kicked, over the next element.
	st, body = p.REST(t, "POST", kit.AccountPath("/Call/"+aID+"/Speak/"), map[string]any{"text": "This announcement keeps playing while the caller moves on.", "loop": true, "mix": false})
	if st != 202 || body["message"] != "speak started" {
		t.Fatalf("speak: %d %v", st, body)
	}
	time.Sleep(settle)
	if st, body := p.REST(t, "POST", kit.AccountPath("/Conference/Media/Member/"+a.id+"/Kick/"), map[string]any{}); st != 200 && st != 202 {
		t.Fatalf("kick: %d %v", st, body)
	}
	kicked := time.Now()
	time.Sleep(2 * time.Second)
	if n := kit.SpeechFramesSince(a.call, kicked, otherTone, toneB); n < 40 {
		t.Errorf("after the kick a heard %d frames of speech, want the Speak overlay to go on", n)
	}
	if n := kit.ToneFramesSince(a.call, otherTone, kicked); n > 5 {
		t.Errorf("a heard the next element's tone in %d frames under a mix=false Speak", n)
	}
	if st, _ := p.REST(t, "DELETE", kit.AccountPath("/Call/"+aID+"/Speak/"), nil); st != 204 {
		t.Fatalf("stop speak: %d", st)
	}
	time.Sleep(settle)
	expect(t, "after Speak stop: a", a.call, []float64{otherTone}, []float64{toneB})
}
