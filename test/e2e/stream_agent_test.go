package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// TestStreamAgentProfiles is the acceptance test of issue 8 for the two bots Parley must serve
// as Vobiz does: Pipecat's own serializer (μ-law both ways) and Vobiz's pipecat-vobiz (L16
// 16 kHz in, 24 kHz out, big-endian). One blocking bidirectional stream per profile carries
// the whole conversation: the caller's audio reaches the agent without a gap (silence
// included), the agent's audio reaches the caller and its checkpoint is acknowledged when it
// has played, a barge-in cuts the audio at once, a key press reaches the agent, and when the
// agent ends the stream the next element runs and the call ends with 4010.
func TestStreamAgentProfiles(t *testing.T) {
	for _, prof := range []kit.AgentProfile{kit.PipecatSerializer, kit.VobizPipecat} {
		t.Run(prof.Name, func(t *testing.T) { testAgentProfile(t, prof) })
	}
}

func testAgentProfile(t *testing.T, prof kit.AgentProfile) {
	agent := kit.NewAgent(t, prof)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": prof.ContentType, "extraHeaders": "session=abc123,user_id=42"},
		`<Speak>The stream has ended. Thank you for calling, goodbye.</Speak>`, nil)
	cl := sc.cl
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	uuid := sc.callUUID(t)
	serviceURL := agent.URL("/ws/secret?lang=hi&dir=in")

	// The handshake (§2.1, §2.3): the URL as written, the extra headers on the upgrade, no
	// subprotocol, no compression.
	if c.Path != "/ws/secret?lang=hi&dir=in" {
		t.Errorf("upgrade request for %q, want the path and query of the document", c.Path)
	}
	if c.Header.Get("session") != "abc123" || c.Header.Get("user_id") != "42" {
		t.Errorf("upgrade headers session=%q user_id=%q, want the extraHeaders", c.Header.Get("session"), c.Header.Get("user_id"))
	}
	if h := c.Header.Get("Sec-WebSocket-Protocol") + c.Header.Get("Sec-WebSocket-Extensions"); h != "" {
		t.Errorf("upgrade offers a subprotocol or extension: %q", h)
	}

	// start (§3.1).
	wantEnc, wantRate := kit.EncodingMulaw, 8000
	if prof.ContentType == kit.VobizPipecat.ContentType {
		wantEnc, wantRate = kit.EncodingL16, 16000
	}
	if st.CallID != uuid || !uuidRE.MatchString(st.StreamID) || strings.Join(st.Tracks, ",") != "inbound" ||
		st.MediaFormat.Encoding != wantEnc || st.MediaFormat.SampleRate != wantRate {
		t.Errorf("start = %+v, want callId %s, a UUID streamId, tracks [inbound], %s at %d", st, uuid, wantEnc, wantRate)
	}
	m0 := c.Messages()[0]
	var extra map[string]string
	if err := json.Unmarshal([]byte(m0.ExtraHeaders), &extra); err != nil || extra["session"] != "abc123" || extra["user_id"] != "42" {
		t.Errorf("start.extra_headers = %q, want a JSON object string of the extraHeaders", m0.ExtraHeaders)
	}
	if m0.StreamID != st.StreamID || m0.SequenceNumber != 0 {
		t.Errorf("start: top-level streamId %q sequenceNumber %d", m0.StreamID, m0.SequenceNumber)
	}
	if strings.Contains(string(m0.Raw), "streamSid") || strings.Contains(string(m0.Raw), "callSid") || strings.Contains(string(m0.Raw), `"stream_id"`) {
		t.Errorf("start carries another provider's keys: %s", m0.Raw)
	}

	// The caller's tone reaches the agent, 20 ms a message, in the stream's format.
	fs := c.WaitMedia(t, "inbound", 75, 5*time.Second)
	frameBytes := wantRate / 50
	if wantEnc == kit.EncodingL16 {
		frameBytes *= 2
	}
	for i, f := range fs {
		if len(f.Payload) != frameBytes {
			t.Fatalf("media frame %d has %d bytes, want %d", i, len(f.Payload), frameBytes)
		}
	}
	var pcm []int16
	for _, f := range fs[25:75] {
		pcm = append(pcm, f.PCM...)
	}
	if lv := media.ToneDBFS(pcm, callerTone); lv < -20 {
		t.Errorf("caller's %v Hz reaches the agent at %.1f dBFS, want about -10", callerTone, lv)
	}

	// The agent speaks: 2 s of tone at twice real time, then a checkpoint. The caller goes
	// quiet meanwhile, and the media must go on (silence included).
	cl.SetSource(nil)
	first, err := c.PlayTone(agentTone, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Checkpoint("cp1"); err != nil {
		t.Fatal(err)
	}
	sentAll := time.Now()
	played := c.WaitEvent(t, "playedStream", 5*time.Second, func(m kit.Message) bool { return m.Name == "cp1" })
	cl.SetSource(kit.ToneSource(callerTone))
	if d := played.At.Sub(first); d < 1800*time.Millisecond || d > 2700*time.Millisecond {
		t.Errorf("playedStream %v after the first chunk (all sent after %v), want when the 2 s had played", d, sentAll.Sub(first))
	}
	if played.StreamID != st.StreamID {
		t.Errorf("playedStream streamId %q, want %q", played.StreamID, st.StreamID)
	}
	time.Sleep(100 * time.Millisecond)
	tf, tl, n := toneSpan(cl, agentTone, first)
	if n < 85 {
		t.Errorf("caller heard %d frames of the agent's tone, want about 100", n)
	} else {
		if d := tf.Sub(first); d > 300*time.Millisecond {
			t.Errorf("the agent's tone reached the caller %v after the first chunk", d)
		}
		if d := tl.Sub(played.At); d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("the caller's last tone frame came %v from playedStream, want together", d)
		}
	}
	t.Logf("playedStream %v after the first chunk (all sent after %v); caller heard %d tone frames, first %v after the first chunk, last %v from playedStream",
		played.At.Sub(first), sentAll.Sub(first), n, tf.Sub(first), tl.Sub(played.At))
	quiet := 0
	for _, f := range c.Media("inbound") {
		if f.At.After(first.Add(300*time.Millisecond)) && f.At.Before(played.At.Add(-300*time.Millisecond)) {
			quiet++
			if lv := media.LevelDBFS(f.PCM); lv > -50 {
				t.Errorf("media frame %d at %.0f dBFS while the caller was silent", f.Chunk, lv)
				break
			}
		}
	}
	if want := int(played.At.Sub(first.Add(600*time.Millisecond)) / media.FrameDuration); quiet < want-5 {
		t.Errorf("%d media frames while the caller was silent, want about %d", quiet, want)
	}

	// Barge-in: a long answer is cut by clearAudio within a frame or two, its pending
	// checkpoint is voided, and clearedAudio follows.
	first2, err := c.PlayTone(agentTone2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Checkpoint("voided"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(first2.Add(600 * time.Millisecond)))
	clearAt := time.Now()
	if err := c.ClearAudio(); err != nil {
		t.Fatal(err)
	}
	cleared := c.WaitEvent(t, "clearedAudio", 2*time.Second, nil)
	if d := cleared.At.Sub(clearAt); d > 500*time.Millisecond {
		t.Errorf("clearedAudio %v after clearAudio", d)
	}
	time.Sleep(600 * time.Millisecond)
	// The cut is measured from when Parley acted on clearAudio (its clearedAudio follows the
	// flush at once): under load the message itself may wait a few frames to be read.
	_, _, before := toneSpan(cl, agentTone2, first2)
	_, _, afterSent := toneSpan(cl, agentTone2, clearAt)
	_, last, after := toneSpan(cl, agentTone2, cleared.At)
	t.Logf("barge-in: %d frames of the answer before clearAudio, %d after it was sent, %d after clearedAudio (%v after clearAudio)",
		before-afterSent, afterSent, after, cleared.At.Sub(clearAt))
	if before-afterSent < 15 {
		t.Errorf("caller heard %d frames of the answer before the barge-in, want about 30", before-afterSent)
	}
	if after > 3 {
		t.Errorf("caller heard %d frames of the answer after clearedAudio (the last %v after), want at most 2-3", after, last.Sub(cleared.At))
	}

	// A key press reaches the agent.
	if err := cl.SendDTMF("5", siptest.DTMFOptions{}); err != nil {
		t.Fatal(err)
	}
	d := c.WaitEvent(t, "dtmf", 3*time.Second, nil)
	if d.DTMF.Digit != "5" || d.DTMF.Track != "inbound" || d.StreamID != st.StreamID {
		t.Errorf("dtmf message %s", d.Raw)
	}

	// The agent ends the conversation as its client does; the next element speaks and the
	// document's end hangs up with 4010.
	endAt := time.Now()
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	if prof.EndWithStop {
		if code := c.WaitClosed(t, 3*time.Second); code != websocket.StatusNormalClosure {
			t.Errorf("Parley closed after stop with %d, want 1000", code)
		}
	}
	kit.WaitEnd(t, cl, 20*time.Second)
	if n := kit.SpeechFramesSince(cl, endAt, callerTone, agentTone, agentTone2); n < 40 {
		t.Errorf("only %d frames of the next element's speech after the stream ended", n)
	}
	h := sc.hangup(t, 10*time.Second)
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4010", "HangupSource": "Vobiz"})

	assertNoStreamProblems(t, c)
	// 20 ms a frame, in arrival and in media.timestamp, over the whole stream (a late last
	// frame moves the mean, so the bounds are not tight: gaps are the chunks' business).
	all := c.Media("inbound")
	mean, longest := kit.Cadence(all)
	ts0, _ := strconv.ParseInt(all[0].Timestamp, 10, 64)
	ts1, _ := strconv.ParseInt(all[len(all)-1].Timestamp, 10, 64)
	tsMean := time.Duration(ts1-ts0) * time.Millisecond / time.Duration(len(all)-1)
	t.Logf("%d media frames: arrival every %v on average (longest gap %v), timestamps every %v", len(all), mean, longest, tsMean)
	if mean < 19*time.Millisecond || mean > 21500*time.Microsecond || tsMean < 19*time.Millisecond || tsMean > 21500*time.Microsecond {
		t.Errorf("media cadence %v by arrival, %v by timestamp; want 20 ms", mean, tsMean)
	}
	if longest > 250*time.Millisecond {
		t.Errorf("media frames paused for %v", longest)
	}
	if ms := c.Events("playedStream"); len(ms) != 1 {
		t.Errorf("%d playedStream messages, want 1 (cp1; the voided checkpoint is never acknowledged)", len(ms))
	}

	// The status callbacks: signed, in order, the extra headers as X-VH-*, one end event.
	wantEnd, wantErr := "DroppedStream", errDropped // the app closed the socket
	if prof.EndWithStop {
		wantEnd, wantErr = "StopStream", "" // the app's stop
	}
	waitStreamEvent(t, sc.w, "/stream-status", wantEnd, st.StreamID, 5*time.Second)
	rs := streamEvents(t, sc.w, "/stream-status")
	got := eventNames(rs)
	want := []string{"StartStream", "PlayedStream", "ClearedAudio", wantEnd}
	if len(got) != len(want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}
	for i, r := range rs {
		if r.Form.Get("Event") != want[i] || r.Form.Get("StreamID") != st.StreamID {
			t.Errorf("callback %d: %s for %s, want %s for %s", i, r.Form.Get("Event"), r.Form.Get("StreamID"), want[i], st.StreamID)
		}
		assertCallbackParams(t, r, uuid, serviceURL)
		kit.AssertParams(t, r.Form.Get("Event"), r.Form, map[string]string{"X-VH-session": "abc123", "X-VH-user_id": "42",
			"extraHeaders": "session=abc123,user_id=42"})
	}
	if rs[1].Form.Get("Name") != "cp1" {
		t.Errorf("PlayedStream Name %q, want cp1", rs[1].Form.Get("Name"))
	}
	if e := rs[3].Form.Get("Error"); e != wantErr {
		t.Errorf("%s Error %q, want %q", wantEnd, e, wantErr)
	}
	for _, r := range rs[:3] {
		if e := r.Form.Get("Error"); e != "" {
			t.Errorf("%s Error %q, want empty", r.Form.Get("Event"), e)
		}
	}
	if h.At.Before(rs[3].At) {
		t.Errorf("hangup webhook came before the stream's end callback")
	}
}
