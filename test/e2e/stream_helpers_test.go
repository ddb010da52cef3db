package e2e

// Helpers of the stream acceptance tests (stream_*_test.go): a call whose document streams to
// a test agent (test/kit's Agent), and checks of the stream status callbacks.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// Tones of the stream tests: what the caller says, what the agent plays.
const (
	callerTone = 440.0
	agentTone  = 1000.0
	agentTone2 = 1500.0
)

// Values of the status callbacks (spec/streams.md §6.3).
const (
	errDropped  = "connection disconnected with the remote service"
	errDegraded = "connection degraded"
)

// streamCall is one call whose answer document streams to an agent.
type streamCall struct {
	w     *kit.App
	p     *kit.Server
	agent *kit.Agent
	cl    *siptest.Call
}

// streamAttrs renders the attributes of a <Stream> element, in a stable order.
func streamAttrs(attrs map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"bidirectional", "keepCallAlive", "audioTrack", "contentType", "streamTimeout",
		"maxRetries", "extraHeaders", "statusCallbackUrl", "statusCallbackMethod"} {
		if v, ok := attrs[k]; ok {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	return b.String()
}

// startStreamCall starts Parley with an app whose answer document is a <Stream> to agent
// path /ws (with attrs; statusCallbackUrl is the app's /stream-status unless given) followed
// by after, and dials it with the caller sending callerTone. env is added to the server's. The
// app serves /next.wav, a second of otherTone, for the element after the stream.
func startStreamCall(t *testing.T, agent *kit.Agent, attrs map[string]string, after string, env map[string]string) *streamCall {
	t.Helper()
	w := kit.NewApp(t)
	w.OK("/hangup")
	w.OK("/stream-status")
	w.Tone("/next.wav", otherTone, time.Second)
	if _, ok := attrs["statusCallbackUrl"]; !ok {
		attrs["statusCallbackUrl"] = w.URL("/stream-status")
	}
	// The URL is on its own indented line, as real bots write it, with a query to keep.
	w.XML("/answer", `<Response>
  <Stream`+streamAttrs(attrs)+`>
      `+strings.ReplaceAll(agent.URL("/ws/secret?lang=hi&dir=in"), "&", "&amp;")+`
  </Stream>`+after+`
</Response>`)
	p := suite.Start(t, kit.Options{App: w, Env: env})
	cl := kit.NewPhone(t, "127.0.0.1").CallAnswered(t, p, "14155550199", siptest.DialOptions{Send: kit.ToneSource(callerTone)})
	return &streamCall{w: w, p: p, agent: agent, cl: cl}
}

// callUUID is the CallUUID of the call's answer request.
func (sc *streamCall) callUUID(t *testing.T) string {
	t.Helper()
	return sc.w.WaitFor(t, "/answer", 1, 5*time.Second)[0].Form.Get("CallUUID")
}

// hangup waits for the call's hangup webhook.
func (sc *streamCall) hangup(t *testing.T, timeout time.Duration) kit.Request {
	t.Helper()
	return sc.w.WaitFor(t, "/hangup", 1, timeout)[0]
}

// streamEvents returns the status callbacks at path so far, checking that each is signed.
func streamEvents(t *testing.T, w *kit.App, path string) []kit.Request {
	t.Helper()
	rs := w.Requests(path)
	for _, r := range rs {
		if err := r.VerifySignature(kit.AuthToken); err != nil {
			t.Errorf("%s callback for %s: %v", r.Form.Get("Event"), r.Form.Get("StreamID"), err)
		}
	}
	return rs
}

// waitStreamEvent waits for a status callback of event (and stream id, when not "") at path.
func waitStreamEvent(t *testing.T, w *kit.App, path, event, streamID string, timeout time.Duration) kit.Request {
	t.Helper()
	return w.WaitReq(t, path, timeout, event+" callback", func(r kit.Request) bool {
		return r.Form.Get("Event") == event && (streamID == "" || r.Form.Get("StreamID") == streamID)
	})
}

// eventNames lists the Event of each callback, "Event(StreamID prefix)".
func eventNames(rs []kit.Request) []string {
	var out []string
	for _, r := range rs {
		id := r.Form.Get("StreamID")
		out = append(out, fmt.Sprintf("%s(%.8s)", r.Form.Get("Event"), id))
	}
	return out
}

// assertOneEndEach checks that every streamId of the callbacks has exactly one end event
// (StopStream or DroppedStream) and that it is the last of that id's events; it returns the
// end event by streamId.
func assertOneEndEach(t *testing.T, rs []kit.Request) map[string]kit.Request {
	t.Helper()
	ends := map[string]kit.Request{}
	count := map[string]int{}
	for _, r := range rs {
		id := r.Form.Get("StreamID")
		if _, done := ends[id]; done && count[id] > 0 {
			t.Errorf("%s for %s after its end event (%v)", r.Form.Get("Event"), id, eventNames(rs))
		}
		switch r.Form.Get("Event") {
		case "StopStream", "DroppedStream":
			count[id]++
			ends[id] = r
		}
	}
	for _, r := range rs {
		if id := r.Form.Get("StreamID"); count[id] != 1 {
			t.Errorf("stream %s has %d end events, want exactly 1 (%v)", id, count[id], eventNames(rs))
			count[id] = 1 // report once
		}
	}
	return ends
}

// assertCallbackParams checks the parameters every stream callback carries (§6.2).
func assertCallbackParams(t *testing.T, r kit.Request, callUUID, serviceURL string) {
	t.Helper()
	what := r.Form.Get("Event") + " callback"
	kit.AssertParams(t, what, r.Form, map[string]string{
		"CallUUID": callUUID, "From": "14155550100", "To": "14155550199", "ParentAuthID": kit.AuthID,
		"StreamID": "*", "Timestamp": "*", "ServiceURL": serviceURL, "status_callback_url": "*",
	})
	if _, ok := r.Form["Error"]; !ok {
		t.Errorf("%s: parameter Error missing", what)
	}
	if _, err := time.Parse("2006-01-02 15:04:05", r.Form.Get("Timestamp")); err != nil {
		t.Errorf("%s: Timestamp %q: %v", what, r.Form.Get("Timestamp"), err)
	}
}

// toneSpan returns the arrival times of the first and last frames the caller received at or
// after since in which freq dominates, and how many there were.
func toneSpan(cl *siptest.Call, freq float64, since time.Time) (first, last time.Time, n int) {
	for _, f := range kit.Frames(cl) {
		if f.At.Before(since) || !f.IsTone(freq) {
			continue
		}
		if n == 0 {
			first = f.At
		}
		last = f.At
		n++
	}
	return first, last, n
}

// nextPlayed is the element after the stream: the app's /next.wav.
const nextPlayed = `<Play>/next.wav</Play>`

// assertNextRan checks that the caller heard /next.wav after since, and that the document's
// end then hung up the call with 4010.
func (sc *streamCall) assertNextRan(t *testing.T, since time.Time) {
	t.Helper()
	kit.WaitEnd(t, sc.cl, 20*time.Second)
	if first, _, n := toneSpan(sc.cl, otherTone, since); n < 35 {
		t.Errorf("caller heard %d frames of the next element's tone after the stream ended, want about 50", n)
	} else if d := first.Sub(since); d > 3*time.Second {
		t.Errorf("the next element began %v after the stream ended", d)
	}
	h := sc.hangup(t, 10*time.Second)
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4010", "HangupSource": "Vobiz"})
}

// waitFor polls cond every 10 ms until it holds or timeout passes, and reports which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// assertNoStreamProblems fails on anything the agent found malformed or out of sequence.
func assertNoStreamProblems(t *testing.T, c *kit.AgentConn) {
	t.Helper()
	if ps := c.Problems(); len(ps) > 0 {
		t.Errorf("agent found problems in Parley's messages: %v", ps)
	}
	if err := c.CheckContinuity(); err != nil {
		t.Errorf("media not continuous: %v", err)
	}
}
