package e2e

import (
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// voicemail is an answering machine's greeting (espeak-ng, several seconds) and its beep.
func voicemail(t *testing.T) media.Source {
	greeting := spokenPCM(t, "Hello, you have reached the voicemail of John Smith. I am not available to take your call right now. Please leave your name and number after the tone.")
	return media.Concat(media.NewPCMSource(greeting), media.Tone(1000, 600*time.Millisecond, -10), media.Silence(time.Minute))
}

// person answers with "hello?" and then waits.
func person(t *testing.T) media.Source {
	return media.Concat(media.NewPCMSource(spokenPCM(t, "hello?")), media.Silence(time.Minute))
}

// TestMachineDetection places API calls to a voicemail and to a person and checks that both
// modes of calls-more.md §D tell them apart: synchronous (Machine on answer_url; hangup mode
// ends with 9100 without fetching answer_url) and asynchronous (machine_detection_url).
func TestMachineDetection(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{})
	cases := []struct {
		name     string
		callee   func(*testing.T) media.Source
		mode     string
		async    bool
		machine  string // Machine on the requests
		cause    string // HangupCauseCode of the hangup webhook
		answered bool   // answer_url requested
	}{
		{"sync-person", person, "true", false, "false", "4010", true},
		{"sync-machine", voicemail, "true", false, "true", "4010", true},
		{"sync-machine-hangup", voicemail, "hangup", false, "true", "9100", false},
		{"async-person", person, "hangup", true, "false", "4010", true},
		{"async-machine-hangup", voicemail, "hangup", true, "true", "9100", true},
	}
	for _, tc := range cases {
		wait := "3"
		if tc.async {
			wait = "10" // the document still runs when the detector decides
		}
		w.XML("/answer-"+tc.name, `<Response><Wait length="`+wait+`"/></Response>`)
		w.OK("/hangup-" + tc.name)
		w.OK("/amd-" + tc.name)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ph := kit.NewPhone(t, "127.0.0.1")
			contact := ph.Listen(t, siptest.ListenOptions{Username: "callee", AnswerAfter: 200 * time.Millisecond, Send: tc.callee(t)})
			req := map[string]any{"from": "14155550100", "to": contact, "answer_url": w.URL("/answer-" + tc.name),
				"hangup_url": w.URL("/hangup-" + tc.name), "machine_detection": tc.mode}
			if tc.async {
				req["machine_detection_url"] = w.URL("/amd-" + tc.name)
			}
			st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), req)
			if st != 201 {
				t.Fatalf("make call: %d %v", st, body)
			}
			uuid, _ := body["request_uuid"].(string)
			cl := ph.Incoming(t)
			kit.WaitEnd(t, cl, 30*time.Second)

			h := w.WaitFor(t, "/hangup-"+tc.name, 1, 10*time.Second)[0]
			kit.AssertParams(t, "hangup", h.Form, map[string]string{"CallUUID": uuid, "Machine": tc.machine,
				"HangupCauseCode": tc.cause, "CallStatus": "completed"})
			if tc.cause == "9100" {
				kit.AssertParams(t, "hangup", h.Form, map[string]string{"HangupCauseName": "Machine Detected", "HangupSource": "Vobiz"})
			}
			answers := w.Requests("/answer-" + tc.name)
			if tc.answered != (len(answers) == 1) {
				t.Fatalf("answer_url requested %d times", len(answers))
			}
			if tc.async {
				if answers[0].Form.Has("Machine") {
					t.Errorf("asynchronous answer_url carries Machine=%s before any decision", answers[0].Form.Get("Machine"))
				}
				n := w.WaitFor(t, "/amd-"+tc.name, 1, 5*time.Second)[0]
				kit.AssertParams(t, "machine_detection_url", n.Form, map[string]string{"Event": "MachineDetection", "CallUUID": uuid,
					"Machine": tc.machine, "IfMachine": "hangup", "CallStatus": "in-progress", "Direction": "outbound"})
			} else if tc.answered {
				kit.AssertParams(t, "answer_url", answers[0].Form, map[string]string{"Event": "StartApp", "Machine": tc.machine})
			}
		})
	}
}
