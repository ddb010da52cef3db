package e2e

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

func TestMakeCallAnswered(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/out-answer", `<Response><Speak>Hello from an outbound call placed through the REST API.</Speak></Response>`)
	w.OK("/out-hangup")
	w.OK("/ring")
	p := suite.Start(t, kit.Options{})
	ph := kit.NewPhone(t, "127.0.0.1")
	contact := ph.Listen(t, siptest.ListenOptions{Username: "bob", AnswerAfter: 300 * time.Millisecond})

	st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), map[string]any{
		"from": "+14155550100", "to": contact, "answer_url": w.URL("/out-answer"),
		"hangup_url": w.URL("/out-hangup"), "ring_url": w.URL("/ring"), "caller_name": "Parley Test",
	})
	if st != 201 {
		t.Fatalf("make call: %d %v", st, body)
	}
	assertKeys(t, "make call", body, "api_id", "message", "request_uuid")
	uuid, _ := body["request_uuid"].(string)
	if body["message"] != "call fired" || !uuidRE.MatchString(uuid) {
		t.Fatalf("make call body %v", body)
	}
	cl := ph.Incoming(t)
	if cl.FromUser() != "+14155550100" && cl.FromUser() != "14155550100" {
		t.Errorf("INVITE From user %q", cl.FromUser())
	}
	if cl.FromDisplay() != "Parley Test" {
		t.Errorf("INVITE From display %q", cl.FromDisplay())
	}
	// Live while it talks.
	st, live := p.REST(t, "GET", kit.AccountPath("/Call/"+uuid+"/?status=live"), nil)
	if st != 200 {
		t.Fatalf("get live call: %d %v", st, live)
	}
	assertKeys(t, "live call", live, "api_id", "call_status", "call_uuid", "caller_name", "direction", "from",
		"request_uuid", "session_start", "stir_attestation", "stir_verification", "to")
	if live["direction"] != "outbound" || live["call_uuid"] != uuid || live["request_uuid"] != uuid {
		t.Errorf("live call %v", live)
	}
	kit.WaitEnd(t, cl, 30*time.Second)
	if got := kit.FractionAbove(kit.Frames(cl), -40); got < 0.3 {
		t.Errorf("callee heard speech in only %.0f%% of frames", got*100)
	}
	a := w.WaitFor(t, "/out-answer", 1, 5*time.Second)[0]
	kit.AssertParams(t, "StartApp", a.Form, map[string]string{"Event": "StartApp", "Direction": "outbound",
		"CallUUID": uuid, "RequestUUID": uuid, "ALegUUID": uuid, "CallStatus": "in-progress", "From": "14155550100"})
	r := w.WaitFor(t, "/ring", 1, 5*time.Second)[0]
	kit.AssertParams(t, "Ring", r.Form, map[string]string{"Event": "Ring", "CallUUID": uuid, "CallStatus": "ringing"})
	h := w.WaitFor(t, "/out-hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"CallUUID": uuid, "HangupCauseCode": "4010",
		"CallStatus": "completed", "Direction": "outbound"})
	if st, _ := p.REST(t, "GET", kit.AccountPath("/Call/"+uuid+"/?status=live"), nil); st != 404 {
		t.Errorf("ended call answers %d as live, want 404", st)
	}
}

func TestMakeCallNotAnswered(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       siptest.ListenOptions
		ringTO     int
		wantCode   string
		wantStatus string
		wantSource string
	}{
		{"busy", siptest.ListenOptions{Username: "b", Reject: 486}, 0, "3010", "busy", "Callee"},
		{"rejected", siptest.ListenOptions{Username: "b", Reject: 603}, 0, "3020", "busy", "Callee"},
		{"no answer", siptest.ListenOptions{Username: "b", NeverAnswer: true}, 2, "6010", "no-answer", "Vobiz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := kit.NewApp(t)
			w.OK("/out-hangup")
			w.XML("/out-answer", `<Response/>`)
			p := suite.Start(t, kit.Options{})
			contact := kit.NewPhone(t, "127.0.0.1").Listen(t, tc.opts)
			req := map[string]any{"from": "14155550100", "to": contact, "answer_url": w.URL("/out-answer"), "hangup_url": w.URL("/out-hangup")}
			if tc.ringTO > 0 {
				req["ring_timeout"] = tc.ringTO
			}
			st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), req)
			if st != 201 {
				t.Fatalf("%d %v", st, body)
			}
			h := w.WaitFor(t, "/out-hangup", 1, 15*time.Second)[0]
			kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": tc.wantCode,
				"CallStatus": tc.wantStatus, "HangupSource": tc.wantSource, "AnswerTime": "", "Duration": "0"})
			if n := len(w.Requests("/out-answer")); n != 0 {
				t.Errorf("answer_url requested %d times for an unanswered call", n)
			}
		})
	}
}

func TestGatherDigitsOverRTP(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Gather action="/digits" numDigits="5" executionTimeout="10"><Speak loop="0">Please enter your code.</Speak></Gather>
  <Speak>We did not get your code.</Speak>
</Response>`)
	w.XML("/digits", `<Response><Hangup/></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "not answered")
	time.Sleep(800 * time.Millisecond)
	// The server may hang up as soon as it has the '#', before our last end packets: the
	// outcome is checked on the application side.
	_ = cl.SendDTMF("42#", siptest.DTMFOptions{FirstDurationZero: true})
	d := w.WaitFor(t, "/digits", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Gather action", d.Form, map[string]string{"Digits": "42", "InputType": "dtmf", "Speech": ""})
	kit.WaitEnd(t, cl, 10*time.Second)
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4000", "HangupSource": "Answer XML"})
}

func TestGatherTimeoutContinues(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Gather action="/digits" executionTimeout="5"/><Speak>Goodbye.</Speak></Response>`)
	w.OK("/digits")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitEnd(t, cl, 20*time.Second)
	d := w.WaitFor(t, "/digits", 1, 5*time.Second)[0]
	kit.AssertParams(t, "Gather timeout", d.Form, map[string]string{"Digits": ""})
	h := w.WaitFor(t, "/hangup", 1, 5*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4010"})
}

// createEndpoint makes an endpoint (and its application when answerURL is set) over REST.
func createEndpoint(t *testing.T, p *kit.Server, username, password, answerURL string) {
	t.Helper()
	req := map[string]any{"username": username, "password": password, "alias": username}
	if answerURL != "" {
		st, app := p.REST(t, "POST", kit.AccountPath("/Application/"), map[string]any{"app_name": username + " app", "answer_url": answerURL})
		if st != 201 {
			t.Fatalf("create application: %d %v", st, app)
		}
		req["app_id"] = app["app_id"]
	}
	st, body := p.REST(t, "POST", kit.AccountPath("/Endpoint/"), req)
	if st != 201 {
		t.Fatalf("create endpoint: %d %v", st, body)
	}
	assertKeys(t, "create endpoint", body, "alias", "endpoint_id", "username")
}

func TestDialRegisteredEndpoint(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	w.XML("/answer", `<Response>
  <Dial redirect="false" action="/dial-done" callbackUrl="/dial-events"><User>sip:bob@`+strings.Split(p.SIP, ":")[0]+`</User></Dial>
  <Speak>The other party hung up.</Speak>
</Response>`)
	w.OK("/dial-done")
	w.OK("/dial-events")
	w.OK("/hangup")
	createEndpoint(t, p, "bob", "bob-secret-1", "")
	bob := kit.NewPhone(t, "127.0.0.2")
	bob.Listen(t, siptest.ListenOptions{Username: "bob", Send: media.Tone(700, time.Minute, -10)})
	if err := bob.Register(t, p, "bob", "bob-secret-1"); err != nil {
		t.Fatalf("register: %v", err)
	}
	a := kit.Dial(t, p, "14155550199", siptest.DialOptions{Send: media.Tone(400, time.Minute, -10)})
	b := bob.Incoming(t)
	kit.WaitAnswered(t, b, "B not answered")
	time.Sleep(2 * time.Second)
	la := kit.ToneLevels(a, time.Second, 400, 700)
	lb := kit.ToneLevels(b, time.Second, 400, 700)
	if la[700] < -30 || la[700]-la[400] < 20 {
		t.Errorf("A hears B at %.1f dBFS (own %.1f)", la[700], la[400])
	}
	if lb[400] < -30 || lb[400]-lb[700] < 20 {
		t.Errorf("B hears A at %.1f dBFS (own %.1f)", lb[400], lb[700])
	}
	hung := time.Now()
	if err := b.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	d := w.WaitFor(t, "/dial-done", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Dial action", d.Form, map[string]string{"DialStatus": "completed", "DialRingStatus": "true",
		"DialALegUUID": "*", "DialBLegUUID": "*", "DialHangupCause": "NORMAL_CLEARING"})
	// A's next element runs: it hears the Speak, then BYE.
	kit.WaitEnd(t, a, 20*time.Second)
	speech := 0
	for _, f := range kit.Frames(a) {
		if f.At.After(hung.Add(200*time.Millisecond)) && f.Level > -40 && !f.IsTone(700) {
			speech++
		}
	}
	if speech < 30 {
		t.Errorf("A heard only %d frames of its next element", speech)
	}
	events := map[string]bool{}
	for _, r := range w.Requests("/dial-events") {
		events[r.Form.Get("Event")] = true
	}
	for _, ev := range []string{"DialAnswer", "DialConnected", "DialHangup"} {
		if !events[ev] {
			t.Errorf("no %s callback", ev)
		}
	}
	if n := len(w.Requests("/hangup")); n > 1 {
		t.Errorf("%d hangup webhooks: B legs must send none", n)
	}
}

func TestRecordCallerTone(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Record action="/kit.Request" fileFormat="wav" finishOnKey="#" maxLength="20" callbackUrl="/rec-done"/><Hangup/></Response>`)
	w.OK("/kit.Request")
	w.OK("/rec-done")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{Send: media.Tone(600, time.Minute, -10)})
	kit.WaitAnswered(t, cl, "not answered")
	time.Sleep(3 * time.Second)
	_ = cl.SendDTMF("#", siptest.DTMFOptions{}) // the server may hang up before the last end packet
	r := w.WaitFor(t, "/kit.Request", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Record action", r.Form, map[string]string{"RecordingEndReason": "FinishedOnKey",
		"RecordingID": "*", "RecordUrl": "*", "RecordFile": "*", "RecordingDuration": "*", "RecordingDurationMs": "*",
		"RecordingStartMs": "*", "RecordingEndMs": "*"})
	id := r.Form.Get("RecordingID")
	done := w.WaitFor(t, "/rec-done", 1, 10*time.Second)[0]
	kit.AssertParams(t, "RecordStop", done.Form, map[string]string{"Event": "RecordStop", "RecordingID": id,
		"RecordUrl": r.Form.Get("RecordUrl"), "RecordingEndReason": "FinishedOnKey", "RecordingDurationMs": "*",
		"RecordingStartMs": "*", "RecordingEndMs": "*", "CallUUID": r.Form.Get("CallUUID")})
	if ms, _ := strconv.Atoi(done.Form.Get("RecordingDurationMs")); ms < 2000 {
		t.Errorf("RecordingDurationMs %d, want at least 2 s of the caller", ms)
	}
	st, list := p.REST(t, "GET", kit.AccountPath("/Recording/?call_uuid="+r.Form.Get("CallUUID")), nil)
	if st != 200 {
		t.Fatalf("list recordings: %d %v", st, list)
	}
	objs, _ := list["objects"].([]any)
	if len(objs) != 1 || objs[0].(map[string]any)["recording_id"] != id {
		t.Fatalf("recording list %v", list)
	}
	pcm := recordingAudio(t, p, r.Form.Get("RecordUrl"))
	if d := time.Duration(len(pcm)) * time.Second / media.SampleRate; d < 2*time.Second {
		t.Errorf("recording lasts %v", d)
	}
	if lv := media.ToneDBFS(pcm, 600); lv < -25 {
		t.Errorf("the caller's 600 Hz tone is at %.1f dBFS in the recording", lv)
	}
}

func TestTransferAndRESTHangup(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak loop="0">Waiting to be transferred.</Speak></Response>`)
	w.XML("/transferred", `<Response><Play>/tone.wav</Play><Speak loop="0">Transferred.</Speak></Response>`)
	w.File("/tone.wav", "audio/wav", kit.ToneWAV(1000, 8000, 2*time.Second, -6))
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cl := kit.Dial(t, p, "14155550199", siptest.DialOptions{})
	kit.WaitAnswered(t, cl, "not answered")
	st, list := p.REST(t, "GET", kit.AccountPath("/Call/?status=live"), nil)
	calls, _ := list["calls"].([]any)
	if st != 200 || len(calls) != 1 {
		t.Fatalf("live calls: %d %v", st, list)
	}
	assertKeys(t, "live calls", list, "api_id", "calls")
	uuid := calls[0].(string)
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	st, body := p.REST(t, "POST", kit.AccountPath("/Call/"+uuid+"/"), map[string]any{"aleg_url": w.URL("/transferred")})
	if st != 202 {
		t.Fatalf("transfer: %d %v", st, body)
	}
	assertKeys(t, "transfer", body, "api_id", "message", "call_uuid")
	tr := w.WaitFor(t, "/transferred", 1, 5*time.Second)[0]
	kit.AssertParams(t, "Transfer", tr.Form, map[string]string{"Event": "Transfer", "CallUUID": uuid})
	// The new document runs at once: its tone arrives within a second.
	var toneAt time.Time
	deadline := time.Now().Add(5 * time.Second)
	for toneAt.IsZero() && time.Now().Before(deadline) {
		for _, f := range kit.Frames(cl) {
			if f.At.After(sent) && f.IsTone(1000) {
				toneAt = f.At
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if toneAt.IsZero() || toneAt.Sub(sent) > time.Second {
		t.Fatalf("transferred document's audio not heard within 1 s (at %v)", toneAt.Sub(sent))
	}
	if st, _ := p.REST(t, "DELETE", kit.AccountPath("/Call/"+uuid+"/"), nil); st != 204 {
		t.Fatalf("hang up: %d", st)
	}
	kit.WaitEnd(t, cl, 5*time.Second)
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4000", "HangupSource": "API Request"})
}

func TestEndpointsRegisterAndCall(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Speak>Gateway call.</Speak></Response>`)
	w.XML("/ep-answer", `<Response><Speak>Hello endpoint, this is your own application.</Speak></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "127.0.0.1/32"}})
	createEndpoint(t, p, "alice", "alice-secret-1", w.URL("/ep-answer"))

	bad := kit.NewPhone(t, "127.0.0.2")
	bad.Listen(t, siptest.ListenOptions{Username: "alice"})
	err := bad.Register(t, p, "alice", "wrong-password")
	var re *siptest.RegisterError
	if !errors.As(err, &re) || (re.Status != 401 && re.Status != 403) {
		t.Fatalf("wrong password: %v, want 401/403", err)
	}
	if !p.WaitLog("alice", 3*time.Second) {
		t.Error("the refused registration was not logged")
	}
	good := kit.NewPhone(t, "127.0.0.2")
	good.Listen(t, siptest.ListenOptions{Username: "alice"})
	if err := good.Register(t, p, "alice", "alice-secret-1"); err != nil {
		t.Fatalf("register: %v", err)
	}
	st, eps := p.REST(t, "GET", kit.AccountPath("/Endpoint/"), nil)
	objs, _ := eps["objects"].([]any)
	if st != 200 || len(objs) != 1 || objs[0].(map[string]any)["sip_registered"] != "true" {
		t.Errorf("endpoint list %v", eps)
	}

	// An INVITE without credentials from the phone's address is challenged and refused.
	c, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var anon *siptest.Call
	for attempt := 0; attempt < 2; attempt++ {
		anon, err = c.Dial(kit.Context(t, 10*time.Second), p.URI("14155550199"), siptest.DialOptions{From: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-anon.Settled():
		case <-time.After(10 * time.Second):
			t.Fatal("unauthenticated INVITE not answered")
		}
		if anon.FinalStatus() != 0 {
			break
		}
		// Status 0: the test client itself failed before the server answered (seen once under
		// load); say why and try once more.
		t.Logf("test client failed to place the INVITE: %v; retrying", anon.Err())
	}
	if st := anon.FinalStatus(); st != 407 && st != 403 {
		t.Errorf("unauthenticated INVITE got %d, want 407 (or 403 after the challenge)", st)
	}
	if resp := anon.Responses(); !containsInt(resp, 407) {
		t.Errorf("no 407 challenge: responses %v", resp)
	}
	// With credentials it runs the endpoint's application.
	cl, err := c.Dial(kit.Context(t, 10*time.Second), p.URI("14155550199"), siptest.DialOptions{From: "alice", Username: "alice", Password: "alice-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	kit.WaitEnd(t, cl, 20*time.Second)
	a := w.WaitFor(t, "/ep-answer", 1, 5*time.Second)[0]
	kit.AssertParams(t, "endpoint StartApp", a.Form, map[string]string{"From": "sip:alice@" + strings.Split(p.SIP, ":")[0]})
	if n := len(w.Requests("/answer")); n != 0 {
		t.Errorf("the gateway application ran %d times for an endpoint call", n)
	}
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func TestDialNumberThroughGatewayWithConfirmKey(t *testing.T) {
	gw := kit.NewPhone(t, "127.0.0.1")
	contact := gw.Listen(t, siptest.ListenOptions{Username: "gw", Send: media.Tone(700, time.Minute, -10)})
	gateway := strings.TrimPrefix(contact, "sip:gw@")
	w := kit.NewApp(t)
	w.XML("/answer", `<Response>
  <Dial action="/dial-done" redirect="false" confirmSound="/confirm" confirmKey="1" callbackUrl="/dial-events" digitsMatch="99">
    <Number>+14155550123</Number>
  </Dial>
</Response>`)
	w.XML("/confirm", `<Response><Speak>Press one to accept this call.</Speak></Response>`)
	w.OK("/dial-done")
	w.OK("/dial-events")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w, Env: map[string]string{"PARLEY_SIP_GATEWAY": gateway}})
	a := kit.Dial(t, p, "14155550199", siptest.DialOptions{Send: media.Tone(400, time.Minute, -10)})
	b := gw.Incoming(t)
	if !strings.Contains(b.Header("To"), "14155550123") {
		t.Errorf("gateway INVITE To %q, want the dialled number", b.Header("To"))
	}
	kit.WaitAnswered(t, b, "gateway leg not answered")
	// B hears the confirm prompt, not A, until it presses 1.
	time.Sleep(1500 * time.Millisecond)
	lb := kit.ToneLevels(b, time.Second, 400)
	if got := kit.FractionAbove(kit.Frames(b), -40); got < 0.3 {
		t.Errorf("B heard the confirm prompt in only %.0f%% of frames", got*100)
	}
	if lb[400] > -35 {
		t.Errorf("B hears A (%.1f dBFS) before confirming", lb[400])
	}
	if err := b.SendDTMF("1", siptest.DTMFOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	la := kit.ToneLevels(a, time.Second, 700)
	lb = kit.ToneLevels(b, time.Second, 400)
	if la[700] < -30 || lb[400] < -30 {
		t.Errorf("after confirming: A hears B at %.1f dBFS, B hears A at %.1f dBFS", la[700], lb[400])
	}
	_ = a.SendDTMF("99", siptest.DTMFOptions{})
	time.Sleep(500 * time.Millisecond)
	if err := a.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	kit.WaitEnd(t, b, 10*time.Second)
	d := w.WaitFor(t, "/dial-done", 1, 10*time.Second)[0]
	kit.AssertParams(t, "Dial action", d.Form, map[string]string{"DialStatus": "completed", "DialBLegUUID": "*"})
	var digits bool
	for _, r := range w.Requests("/dial-events") {
		if r.Form.Get("Event") == "DialDigitsMatch" && r.Form.Get("DialDigitsMatch") == "99" {
			digits = true
		}
	}
	if !digits {
		t.Error("no DialDigitsMatch event for 99")
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "A hangup", h.Form, map[string]string{"HangupSource": "Caller"})
}
