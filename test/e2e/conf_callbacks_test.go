package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/parley-voice/parley/test/kit"
)

// TestConfRecordingCallbackAndTimeLimit: a REST recording with callback_url and time_limit stops
// by itself and notifies the callback with the fields of §9.6.5; every member's exit callback
// comes before its hangup webhook.
func TestConfRecordingCallbackAndTimeLimit(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true" callbackUrl="/events">CB</Conference></Response>`)
	w.OK("/rec-cb")
	w.OK("/events")
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{App: w})
	cs := newCallers(400, 700)
	for _, c := range cs {
		c.join(t, p)
	}
	members(t, p, "CB", cs...)

	st, body := p.REST(t, "POST", kit.AccountPath("/Conference/CB/Record/"), map[string]any{
		"file_format": "wav", "callback_url": w.URL("/rec-cb"), "time_limit": 2,
	})
	if st != 200 {
		t.Fatalf("start recording: %d %v", st, body)
	}
	started := time.Now()
	cb := w.WaitFor(t, "/rec-cb", 1, 10*time.Second)[0]
	if el := cb.At.Sub(started); el < 1500*time.Millisecond || el > 5*time.Second {
		t.Errorf("time_limit=2 recording reported %v after the start", el)
	}
	kit.AssertParams(t, "recording callback", cb.Form, map[string]string{
		"api_id": body["api_id"].(string), "conference_name": "CB", "recording_id": body["recording_id"].(string),
		"record_url": body["url"].(string), "recording_duration": "*", "recording_duration_ms": "*",
		"recording_start_ms": "*", "recording_end_ms": "*",
	})
	if ms, _ := strconv.Atoi(cb.Form.Get("recording_duration_ms")); ms < 1800 || ms > 2300 {
		t.Errorf("recording_duration_ms %d, want about 2000", ms)
	}
	if err := cb.VerifySignature(kit.AuthToken); err != nil {
		t.Error(err)
	}

	// Hang up the room: each member's ConferenceExit is queued before its hangup webhook.
	if st, _ := p.REST(t, "DELETE", kit.AccountPath("/Conference/CB/"), nil); st != 204 {
		t.Fatalf("hang up room: %d", st)
	}
	hangups := w.WaitFor(t, "/hangup", 2, 10*time.Second)
	for _, h := range hangups {
		var exitAt time.Time
		for _, e := range w.Requests("/events") {
			if e.Form.Get("Event") == "ConferenceExit" && e.Form.Get("CallUUID") == h.Form.Get("CallUUID") {
				exitAt = e.At
			}
		}
		if exitAt.IsZero() {
			t.Errorf("no ConferenceExit for %s", h.Form.Get("CallUUID"))
		} else if exitAt.After(h.At) {
			t.Errorf("ConferenceExit of %s arrived after its hangup webhook", h.Form.Get("CallUUID"))
		}
	}
}
