package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// The Audio Stream REST resource on live calls (spec/streams.md §5), live: the bodies' exact
// shapes are the golden files of internal/api; here the routes drive real streams.

// silentDoc answers the call and keeps it up, silent, for 30 s.
func silentDoc(w *kit.App) {
	w.File("/silence.wav", "audio/wav", kit.WAV(make([]int16, 30*media.SampleRate), media.SampleRate))
	w.XML("/answer", `<Response><Play>/silence.wav</Play></Response>`)
}

// startREST posts a stream start and returns its stream_id, checking the 202 body.
func startREST(t *testing.T, p *kit.Server, path string, params map[string]any) string {
	t.Helper()
	code, body := p.REST(t, "POST", path, params)
	if code != 202 {
		t.Fatalf("POST %s: %d %v, want 202", path, code, body)
	}
	assertKeys(t, "stream start", body, "api_id", "message", "stream_id")
	id := fmt.Sprint(body["stream_id"])
	if body["message"] != "audio streaming started" || !uuidRE.MatchString(id) {
		t.Errorf("stream start body %v", body)
	}
	return id
}

// TestStreamRESTLive: start two streams on a live call, one per agent profile (μ-law 8 kHz
// with a JSON string bidirectional, L16 16 kHz with a JSON bool); each agent gets its start
// and the caller's audio, both agents' audio reaches the caller mixed; list and get show
// both, and an agent's sendDTMF reaches the caller; stop one (204, then 404), stop all (204,
// twice); unknown ids and calls are 404.
func TestStreamRESTLive(t *testing.T) {
	w := kit.NewApp(t)
	w.OK("/hangup")
	w.OK("/rest-status")
	silentDoc(w)
	p := suite.Start(t, kit.Options{App: w})
	// Without telephone-event the phone records the digits Parley sends (SIP INFO).
	cl := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{Send: kit.ToneSource(callerTone), NoTelephoneEvent: true})
	uuid := w.WaitFor(t, "/answer", 1, 5*time.Second)[0].Form.Get("CallUUID")
	// Parley counts the call answered once its 200 OK is acknowledged, a moment after the
	// phone sees it; its first audio frame says it is.
	if !waitFor(5*time.Second, func() bool { return len(cl.Received()) > 0 }) {
		t.Fatal("no audio from Parley after the answer")
	}
	base := kit.AccountPath("/Call/" + uuid + "/Stream/")

	mu := kit.NewAgent(t, kit.PipecatSerializer)
	l16 := kit.NewAgent(t, kit.VobizPipecat)
	muURL := mu.URL("/m?tenant=acme")
	id1 := startREST(t, p, base, map[string]any{"service_url": muURL, "bidirectional": "true",
		"content_type": "audio/x-mulaw;rate=8000", "status_callback_url": w.URL("/rest-status"), "extra_headers": "tenant:acme"})
	id2 := startREST(t, p, base, map[string]any{"service_url": l16.URL("/l"), "bidirectional": true,
		"content_type": "audio/x-l16;rate=16000", "status_callback_url": w.URL("/rest-status")})

	c1, c2 := mu.WaitConn(t, 1, 5*time.Second), l16.WaitConn(t, 1, 5*time.Second)
	st1, st2 := c1.WaitStart(t, 5*time.Second), c2.WaitStart(t, 5*time.Second)
	if st1.StreamID != id1 || st1.CallID != uuid || st1.MediaFormat.Encoding != kit.EncodingMulaw || st1.MediaFormat.SampleRate != 8000 {
		t.Errorf("μ-law stream start %+v, want streamId %s on call %s in μ-law", st1, id1, uuid)
	}
	if st2.StreamID != id2 || st2.MediaFormat.Encoding != kit.EncodingL16 || st2.MediaFormat.SampleRate != 16000 {
		t.Errorf("L16 stream start %+v, want streamId %s in L16 16 kHz", st2, id2)
	}
	if c1.Header.Get("tenant") != "acme" {
		t.Errorf("upgrade header tenant %q, want the extra_headers", c1.Header.Get("tenant"))
	}
	for _, c := range []*kit.AgentConn{c1, c2} {
		fs := c.WaitMedia(t, "inbound", 40, 5*time.Second)
		if lv := media.ToneDBFS(kit.Concat(kitFrames(fs[10:40])), callerTone); lv < -20 {
			t.Errorf("%s: the caller's tone reaches the agent at %.1f dBFS", c.Profile.Name, lv)
		}
	}

	// A second start at a URL in use is refused.
	if code, body := p.REST(t, "POST", base, map[string]any{"service_url": muURL}); code != 400 {
		t.Errorf("start at a URL in use: %d %v, want 400", code, body)
	}

	// Both agents play at once: the caller hears the two tones mixed.
	done := make(chan error, 2)
	go func() { _, err := c1.PlayTone(agentTone, 1500*time.Millisecond); done <- err }()
	go func() { _, err := c2.PlayTone(agentTone2, 1500*time.Millisecond); done <- err }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the first half of the queued second
	lv := kit.ToneLevels(cl, 500*time.Millisecond, agentTone, agentTone2)
	if lv[agentTone] < -25 || lv[agentTone2] < -25 {
		t.Errorf("caller hears %.1f dBFS of the μ-law agent and %.1f of the L16 agent, want both about -16", lv[agentTone], lv[agentTone2])
	}

	// The agent's sendDTMF is played on the call.
	if err := c2.SendDTMF("1#"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return string(cl.InfoDigits()) == "1#" }) {
		t.Errorf("the caller received digits %q, want the agent's 1#", string(cl.InfoDigits()))
	}

	// List and get.
	code, list := p.REST(t, "GET", base, nil)
	if code != 200 {
		t.Fatalf("GET list: %d %v", code, list)
	}
	objs, _ := list["objects"].([]any)
	meta, _ := list["meta"].(map[string]any)
	if len(objs) != 2 || list["total"] != float64(2) || meta["total_count"] != float64(2) || list["page"] != float64(1) {
		t.Fatalf("list: %v, want the 2 streams in the union shape", list)
	}
	for i, want := range []struct {
		id, url, ct string
		rate        float64
	}{{id1, muURL, "audio/x-mulaw;rate=8000", 8000}, {id2, l16.URL("/l"), "audio/x-l16;rate=16000", 16000}} {
		o := objs[i].(map[string]any)
		if o["stream_id"] != want.id || o["service_url"] != want.url || o["content_type"] != want.ct || o["sampling_rate"] != want.rate ||
			o["bidirectional"] != true || o["status"] != "in-progress" || o["end_time"] != nil || o["call_uuid"] != uuid {
			t.Errorf("list object %d: %v", i, o)
		}
		code, g := p.REST(t, "GET", base+want.id+"/", nil)
		if code != 200 || g["stream_id"] != want.id || g["content_type"] != want.ct || g["status"] != "in-progress" {
			t.Errorf("GET %s: %d %v", want.id, code, g)
		}
	}
	if code, body := p.REST(t, "GET", base+"00000000-0000-4000-8000-000000000000/", nil); code != 404 || body["error"] != "stream not found" {
		t.Errorf("GET an unknown stream: %d %v", code, body)
	}

	// Stop one: the other keeps streaming.
	if code, body := p.REST(t, "DELETE", base+id1+"/", nil); code != 204 || body != nil {
		t.Errorf("DELETE %s: %d %v, want 204", id1, code, body)
	}
	if code := c1.WaitClosed(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("the stopped stream closed with %d, want 1000", code)
	}
	waitStreamEvent(t, w, "/rest-status", "StopStream", id1, 5*time.Second)
	n := len(c2.Media("inbound"))
	time.Sleep(300 * time.Millisecond)
	if got := len(c2.Media("inbound")); got < n+10 {
		t.Errorf("the other stream got %d frames in 300 ms after the first stopped, want about 15", got-n)
	}
	if code, g := p.REST(t, "GET", base+id1+"/", nil); code != 200 || g["status"] != "completed" || g["end_time"] == nil {
		t.Errorf("GET the stopped stream: %d %v", code, g)
	}
	if code, body := p.REST(t, "DELETE", base+id1+"/", nil); code != 404 || body["error"] != "stream not found" {
		t.Errorf("DELETE the stopped stream again: %d %v, want 404", code, body)
	}

	// Stop all, twice.
	for i := range 2 {
		if code, body := p.REST(t, "DELETE", base, nil); code != 204 || body != nil {
			t.Errorf("DELETE all (%d): %d %v, want 204", i+1, code, body)
		}
	}
	if code := c2.WaitClosed(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("stop all closed the stream with %d, want 1000", code)
	}
	waitStreamEvent(t, w, "/rest-status", "StopStream", id2, 5*time.Second)
	_, list = p.REST(t, "GET", base, nil)
	for i, o := range list["objects"].([]any) {
		if s := o.(map[string]any)["status"]; s != "completed" {
			t.Errorf("after stop all, stream %d is %v", i, s)
		}
	}
	select {
	case <-cl.Ended():
		t.Error("stopping REST streams ended the call")
	default:
	}

	// Unknown calls.
	other := kit.AccountPath("/Call/00000000-0000-4000-8000-000000000000/Stream/")
	for _, method := range []string{"POST", "GET", "DELETE"} {
		var params map[string]any
		if method == "POST" {
			params = map[string]any{"service_url": muURL}
		}
		if code, body := p.REST(t, method, other, params); code != 404 || body["error"] != "call not found" {
			t.Errorf("%s on an unknown call: %d %v, want 404 call not found", method, code, body)
		}
	}

	assertNoStreamProblems(t, c1)
	assertNoStreamProblems(t, c2)
	rs := streamEvents(t, w, "/rest-status")
	assertOneEndEach(t, rs)
	for _, r := range rs {
		if r.Form.Get("StreamID") == id1 && r.Form.Get("X-VH-tenant") != "acme" {
			t.Errorf("%s of the first stream without X-VH-tenant", r.Form.Get("Event"))
		}
	}
	if err := cl.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestStreamConferenceMember: a stream started on a conference member over REST hears what
// that member says, not the room, and its playAudio is heard by that member alone.
func TestStreamConferenceMember(t *testing.T) {
	w := kit.NewApp(t)
	w.OK("/hangup")
	w.XML("/answer", `<Response><Conference beep="false" startConferenceOnEnter="true">stream-room</Conference></Response>`)
	p := suite.Start(t, kit.Options{App: w})
	cs := newCallers(500, 700)
	for _, c := range cs {
		c.join(t, p)
	}
	a, b := cs[0], cs[1]
	members(t, p, "stream-room", a, b)
	aUUID := w.WaitReq(t, "/answer", 5*time.Second, "a's answer", func(r kit.Request) bool { return r.Form.Get("From") == a.number() }).Form.Get("CallUUID")

	agent := kit.NewAgent(t, kit.PipecatSerializer)
	code, body := p.REST(t, "POST", kit.AccountPath("/Conference/stream-room/Member/"+a.id+"/Stream/"),
		map[string]any{"service_url": agent.URL("/member"), "bidirectional": "true", "content_type": "audio/x-mulaw;rate=8000"})
	if code != 202 || body["call_uuid"] != aUUID || !uuidRE.MatchString(fmt.Sprint(body["stream_id"])) {
		t.Fatalf("member stream start: %d %v, want 202 with a's call_uuid %s", code, body, aUUID)
	}
	c := agent.WaitConn(t, 1, 5*time.Second)
	if st := c.WaitStart(t, 5*time.Second); st.CallID != aUUID || st.StreamID != body["stream_id"] {
		t.Errorf("start %+v, want a's call and the stream_id", st)
	}
	fs := c.WaitMedia(t, "inbound", 50, 5*time.Second)
	pcm := kit.Concat(kitFrames(fs[10:50]))
	own, room := media.ToneDBFS(pcm, a.tone), media.ToneDBFS(pcm, b.tone)
	if own < -20 || own-room < 20 {
		t.Errorf("the member's stream hears a's tone at %.1f dBFS and b's at %.1f: want a's alone", own, room)
	}

	// The agent speaks to a: a hears it, b does not.
	if _, err := c.PlayTone(agentTone, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	la := kit.ToneLevels(a.call, 800*time.Millisecond, agentTone, b.tone)
	lb := kit.ToneLevels(b.call, 800*time.Millisecond, agentTone, a.tone)
	if la[agentTone] < heardDBFS {
		t.Errorf("a hears the agent at %.1f dBFS, want above %.0f", la[agentTone], heardDBFS)
	}
	if la[b.tone] < heardDBFS {
		t.Errorf("a hears b at %.1f dBFS while the agent speaks: the room must go on", la[b.tone])
	}
	if lb[agentTone] > la[agentTone]-dropDB {
		t.Errorf("b hears the agent at %.1f dBFS (a at %.1f): the member's stream must play to a alone", lb[agentTone], la[agentTone])
	}
	if lb[a.tone] < heardDBFS {
		t.Errorf("b hears a at %.1f dBFS, want above %.0f", lb[a.tone], heardDBFS)
	}
	assertNoStreamProblems(t, c)
}
