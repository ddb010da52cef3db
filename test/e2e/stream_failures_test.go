package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/test/kit"
)

// The ends of a blocking stream other than the agent's own (spec/streams.md §1.5): each sends
// exactly one end callback per streamId, and the document goes on with the next element.

// TestStreamRefusedUpgrade: the app's server refuses the WebSocket (503). Without retries the
// stream fails at once: one DroppedStream, no StartStream, the next element runs.
func TestStreamRefusedUpgrade(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer, kit.RefuseUpgrade(http.StatusServiceUnavailable))
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType}, nextPlayed, nil)
	answered := time.Now()
	dropped := waitStreamEvent(t, sc.w, "/stream-status", "DroppedStream", "", 10*time.Second)
	sc.assertNextRan(t, answered)

	if rs := agent.Requests(); len(rs) != 1 || !rs[0].Refused {
		t.Errorf("%d upgrade requests, want 1 refused", len(rs))
	}
	rs := streamEvents(t, sc.w, "/stream-status")
	if got := eventNames(rs); len(got) != 1 {
		t.Errorf("callbacks %v, want one DroppedStream", got)
	}
	assertCallbackParams(t, dropped, sc.callUUID(t), agent.URL("/ws/secret?lang=hi&dir=in"))
	if e := dropped.Form.Get("Error"); e != errDropped {
		t.Errorf("DroppedStream Error %q, want %q", e, errDropped)
	}
	if !uuidRE.MatchString(dropped.Form.Get("StreamID")) {
		t.Errorf("DroppedStream StreamID %q is not a UUID", dropped.Form.Get("StreamID"))
	}
}

// dropAfter makes an agent drop every connection abruptly (no close frame) once it has
// carried media for d.
func dropAfter(d time.Duration) kit.AgentOption {
	return kit.OnConnect(func(c *kit.AgentConn) {
		if waitFor(10*time.Second, func() bool { return c.Start() != nil }) {
			time.Sleep(d)
		}
		c.Drop()
	})
}

// TestStreamMaxRetries: the agent drops every socket abruptly. With maxRetries=2 Parley opens
// three sockets, each with a new streamId and the same callId, each streamId with its own
// StartStream and exactly one DroppedStream; then the document goes on.
func TestStreamMaxRetries(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer, dropAfter(200*time.Millisecond))
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType, "maxRetries": "2"}, nextPlayed, nil)
	c3 := agent.WaitConn(t, 3, 15*time.Second)
	c3.WaitClosed(t, 5*time.Second)
	sc.assertNextRan(t, time.Now())

	uuid := sc.callUUID(t)
	conns := agent.Conns()
	if len(conns) != 3 {
		t.Fatalf("%d sockets, want 3 (1 + maxRetries)", len(conns))
	}
	ids := map[string]bool{}
	for i, c := range conns {
		st := c.Start()
		if st == nil {
			t.Fatalf("socket %d had no start", i)
		}
		if st.CallID != uuid {
			t.Errorf("socket %d: callId %s, want %s", i, st.CallID, uuid)
		}
		ids[st.StreamID] = true
		if len(c.Media("inbound")) == 0 {
			t.Errorf("socket %d carried no media", i)
		}
		assertNoStreamProblems(t, c)
	}
	if len(ids) != 3 {
		t.Errorf("%d distinct streamIds over 3 sockets, want 3", len(ids))
	}
	rs := streamEvents(t, sc.w, "/stream-status")
	ends := assertOneEndEach(t, rs)
	starts := map[string]bool{}
	for _, r := range rs {
		if r.Form.Get("Event") == "StartStream" {
			starts[r.Form.Get("StreamID")] = true
		}
	}
	for id := range ids {
		if !starts[id] || ends[id].Form.Get("Event") != "DroppedStream" {
			t.Errorf("stream %s: StartStream %v, end %q; want StartStream and DroppedStream (%v)", id, starts[id], ends[id].Form.Get("Event"), eventNames(rs))
		}
	}
	if len(rs) != 6 {
		t.Errorf("callbacks %v, want StartStream and DroppedStream for each of 3 streamIds", eventNames(rs))
	}
}

// TestStreamDropMidCall: the socket drops abnormally in the middle of a conversation; with a
// retry left Parley reconnects with a new streamId, the new socket starts its own sequence
// and chunks, audio flows both ways again, and the call stays up until the agent closes.
func TestStreamDropMidCall(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType, "maxRetries": "1"}, nextPlayed, nil)
	c1 := agent.WaitConn(t, 1, 10*time.Second)
	st1 := c1.WaitStart(t, 5*time.Second)
	c1.WaitMedia(t, "inbound", 50, 5*time.Second)
	dropAt := time.Now()
	c1.Drop()

	c2 := agent.WaitConn(t, 2, 10*time.Second)
	st2 := c2.WaitStart(t, 5*time.Second)
	if d := time.Since(dropAt); d < 800*time.Millisecond {
		t.Errorf("reconnected %v after the drop, want after the 1 s backoff", d)
	}
	if st2.StreamID == st1.StreamID || st2.CallID != st1.CallID {
		t.Errorf("reconnect: streamId %s (was %s), callId %s (was %s); want a new streamId, the same callId", st2.StreamID, st1.StreamID, st2.CallID, st1.CallID)
	}
	select {
	case <-sc.cl.Ended():
		t.Fatal("the call ended while the stream reconnected")
	default:
	}
	fs := c2.WaitMedia(t, "inbound", 50, 5*time.Second)
	if lv := media.ToneDBFS(kit.Concat(kitFrames(fs[10:50])), callerTone); lv < -20 {
		t.Errorf("after the reconnect the caller's tone reaches the agent at %.1f dBFS", lv)
	}
	first, err := c2.PlayTone(agentTone, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Checkpoint("after-reconnect"); err != nil {
		t.Fatal(err)
	}
	c2.WaitEvent(t, "playedStream", 4*time.Second, nil)
	if _, _, n := toneSpan(sc.cl, agentTone, first); n < 40 {
		t.Errorf("after the reconnect the caller heard %d frames of the agent's tone, want about 50", n)
	}
	endAt := time.Now()
	if err := c2.End(); err != nil {
		t.Fatal(err)
	}
	sc.assertNextRan(t, endAt)
	assertNoStreamProblems(t, c1)
	assertNoStreamProblems(t, c2)

	rs := streamEvents(t, sc.w, "/stream-status")
	ends := assertOneEndEach(t, rs)
	if ends[st1.StreamID].Form.Get("Event") != "DroppedStream" || ends[st2.StreamID].Form.Get("Event") != "DroppedStream" {
		t.Errorf("callbacks %v, want DroppedStream for the dropped socket and for the agent's close", eventNames(rs))
	}
}

// kitFrames turns media frames into kit frames for the analysis helpers.
func kitFrames(fs []kit.MediaFrame) []kit.Frame {
	out := make([]kit.Frame, len(fs))
	for i, f := range fs {
		out[i] = kit.Frame{At: f.At, PCM: f.PCM, Level: media.LevelDBFS(f.PCM)}
	}
	return out
}

// TestStreamTimeout: streamTimeout ends a blocking stream from Parley's side: a close with
// 1000 about that long after the connect, StopStream, and the next element.
func TestStreamTimeout(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType, "streamTimeout": "2"}, nextPlayed, nil)
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	started := c.Messages()[0].At
	if code := c.WaitClosed(t, 6*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("Parley closed with %d at the timeout, want 1000", code)
	}
	closedAt := time.Now()
	if d := closedAt.Sub(started); d < 1800*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed %v after start, want about 2 s", d)
	}
	sc.assertNextRan(t, closedAt)
	assertNoStreamProblems(t, c)
	stop := waitStreamEvent(t, sc.w, "/stream-status", "StopStream", st.StreamID, 5*time.Second)
	if e := stop.Form.Get("Error"); e != "" {
		t.Errorf("StopStream Error %q, want empty", e)
	}
	assertOneEndEach(t, streamEvents(t, sc.w, "/stream-status"))
}

// TestStreamRESTStopBlocking: DELETE of a blocking stream over REST ends it like streamTimeout
// (close 1000, StopStream) and the document goes on; the stream then reads completed, and a
// second DELETE is 404.
func TestStreamRESTStopBlocking(t *testing.T) {
	agent := kit.NewAgent(t, kit.VobizPipecat)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.VobizPipecat.ContentType}, nextPlayed, nil)
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	c.WaitMedia(t, "inbound", 25, 5*time.Second)
	path := kit.AccountPath("/Call/" + sc.callUUID(t) + "/Stream/" + st.StreamID + "/")

	if code, body := sc.p.REST(t, "GET", path, nil); code != 200 || body["status"] != "in-progress" || body["end_time"] != nil {
		t.Errorf("GET a running stream: %d %v", code, body)
	}
	stopAt := time.Now()
	if code, body := sc.p.REST(t, "DELETE", path, nil); code != 204 || body != nil {
		t.Errorf("DELETE: %d %v, want 204 and no body", code, body)
	}
	if code := c.WaitClosed(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("Parley closed with %d after the REST stop, want 1000", code)
	}
	stop := waitStreamEvent(t, sc.w, "/stream-status", "StopStream", st.StreamID, 5*time.Second)
	if e := stop.Form.Get("Error"); e != "" {
		t.Errorf("StopStream Error %q, want empty", e)
	}
	// The next element plays for a second: the call is still up to be asked.
	code, body := sc.p.REST(t, "GET", path, nil)
	if code != 200 || body["status"] != "completed" || body["end_time"] == nil {
		t.Errorf("GET the stopped stream: %d %v, want completed with an end_time", code, body)
	}
	if code, body := sc.p.REST(t, "DELETE", path, nil); code != 404 || body["error"] != "stream not found" {
		t.Errorf("DELETE again: %d %v, want 404 stream not found (the house spelling, as the golden files)", code, body)
	}
	sc.assertNextRan(t, stopAt)
	assertNoStreamProblems(t, c)
	assertOneEndEach(t, streamEvents(t, sc.w, "/stream-status"))
}

// TestStreamConnectRetry: the first upgrade is refused, the retry (maxRetries=1, after the
// 1 s backoff) connects; the streamId that never reached a socket is the one the retry uses,
// and it gets one StartStream and one end event; no DroppedStream for the failed attempt.
func TestStreamConnectRetry(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer, kit.RefuseUpgrade(http.StatusServiceUnavailable))
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType, "maxRetries": "1"}, nextPlayed, nil)
	first := agent.WaitRequests(t, 1, 10*time.Second)[0]
	agent.SetRefuse(0)
	c := agent.WaitConn(t, 1, 5*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	if rs := agent.Requests(); len(rs) != 2 || rs[1].At.Sub(first.At) < 800*time.Millisecond {
		t.Errorf("%d upgrade requests, the retry %v after the first; want 2, after the 1 s backoff", len(rs), rs[len(rs)-1].At.Sub(first.At))
	}
	c.WaitMedia(t, "inbound", 10, 5*time.Second)
	endAt := time.Now()
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	sc.assertNextRan(t, endAt)
	rs := streamEvents(t, sc.w, "/stream-status")
	if got := eventNames(rs); len(got) != 2 || rs[0].Form.Get("Event") != "StartStream" || rs[1].Form.Get("Event") != "DroppedStream" ||
		rs[0].Form.Get("StreamID") != st.StreamID || rs[1].Form.Get("StreamID") != st.StreamID {
		t.Errorf("callbacks %v, want StartStream and DroppedStream of %s", got, st.StreamID)
	}
}
