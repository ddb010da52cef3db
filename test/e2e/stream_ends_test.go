package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/test/kit"
)

// TestStreamBackgroundBothTracks: a background stream (no keepCallAlive) with the default
// format (L16 8 kHz, big-endian) and both tracks: the document goes on at once, the inbound
// track carries what the caller says and the outbound track what the caller hears (the next
// element's Play); when the document ends the call hangs up, the stream closes with 1000 and
// sends StopStream before the hangup webhook.
func TestStreamBackgroundBothTracks(t *testing.T) {
	agent := kit.NewAgent(t, kit.AgentProfile{Name: "L16 8 kHz", InboundBigEndian: true})
	sc := startStreamCall(t, agent, map[string]string{"audioTrack": "both"}, nextPlayed, nil)
	answered := time.Now()
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	if strings.Join(st.Tracks, ",") != "inbound,outbound" || st.MediaFormat.Encoding != kit.EncodingL16 || st.MediaFormat.SampleRate != 8000 {
		t.Errorf("start %+v, want both tracks in the default L16 8 kHz", st)
	}
	if code := c.WaitClosed(t, 10*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("the call's end closed the stream with %d, want 1000", code)
	}
	kit.WaitEnd(t, sc.cl, 5*time.Second)
	h := sc.hangup(t, 10*time.Second)
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupCauseCode": "4010", "HangupSource": "Vobiz"})
	if first, _, n := toneSpan(sc.cl, otherTone, answered); n < 35 || first.Sub(answered) > time.Second {
		t.Errorf("the element after a background stream began %v after the answer (%d frames): want at once", first.Sub(answered), n)
	}

	assertNoStreamProblems(t, c)
	in, out := c.Media("inbound"), c.Media("outbound")
	t0 := c.Messages()[0].At
	_, inGap := kit.Cadence(in)
	_, outGap := kit.Cadence(out)
	t.Logf("inbound: %d frames %v..%v, longest gap %v; outbound: %d frames %v..%v, longest gap %v", len(in), in[0].At.Sub(t0), in[len(in)-1].At.Sub(t0), inGap,
		len(out), out[0].At.Sub(t0), out[len(out)-1].At.Sub(t0), outGap)
	// Each track follows its own clock (the caller's packets, Parley's output), and under load
	// the two drift apart by a few frames; a track that stops or thins out is a failure.
	if len(in) < 40 || len(out) < 40 || len(in)-len(out) > 10 || len(out)-len(in) > 10 {
		t.Fatalf("%d inbound and %d outbound frames, want about as many of each", len(in), len(out))
	}
	if lv := media.ToneDBFS(kit.Concat(kitFrames(in[5:len(in)-5])), callerTone); lv < -20 {
		t.Errorf("the caller's tone on the inbound track at %.1f dBFS", lv)
	}
	outPCM := kit.Concat(kitFrames(out[5 : len(out)-5]))
	if lv, leak := media.ToneDBFS(outPCM, otherTone), media.ToneDBFS(outPCM, callerTone); lv < -20 || leak > lv-20 {
		t.Errorf("outbound track: the Play's tone at %.1f dBFS, the caller's at %.1f; want the Play alone", lv, leak)
	}
	stop := waitStreamEvent(t, sc.w, "/stream-status", "StopStream", st.StreamID, 5*time.Second)
	assertOneEndEach(t, streamEvents(t, sc.w, "/stream-status"))
	if h.At.Before(stop.At) {
		t.Error("the hangup webhook came before the stream's StopStream")
	}
}

// TestStreamCallerHangsUp: the caller hangs up during a blocking stream: Parley closes the
// socket with 1000 and sends StopStream, once.
func TestStreamCallerHangsUp(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType}, nextPlayed, nil)
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	c.WaitMedia(t, "inbound", 25, 5*time.Second)
	if err := sc.cl.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := c.WaitClosed(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("the caller's hangup closed the stream with %d, want 1000", code)
	}
	h := sc.hangup(t, 10*time.Second)
	kit.AssertParams(t, "Hangup", h.Form, map[string]string{"HangupSource": "Caller", "HangupCauseCode": "4000"})
	stop := waitStreamEvent(t, sc.w, "/stream-status", "StopStream", st.StreamID, 5*time.Second)
	if e := stop.Form.Get("Error"); e != "" {
		t.Errorf("StopStream Error %q", e)
	}
	assertOneEndEach(t, streamEvents(t, sc.w, "/stream-status"))
	assertNoStreamProblems(t, c)
}

// TestStreamTransfer: a REST transfer of a call held by a blocking stream stops the stream
// (1000, StopStream) and runs the new document.
func TestStreamTransfer(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer)
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType}, `<Speak>never</Speak>`, nil)
	sc.w.XML("/transferred", `<Response>`+nextPlayed+`</Response>`)
	c := agent.WaitConn(t, 1, 10*time.Second)
	st := c.WaitStart(t, 5*time.Second)
	c.WaitMedia(t, "inbound", 25, 5*time.Second)
	sent := time.Now()
	if code, body := sc.p.REST(t, "POST", kit.AccountPath("/Call/"+st.CallID+"/"), map[string]any{"aleg_url": sc.w.URL("/transferred")}); code != 202 {
		t.Fatalf("transfer: %d %v", code, body)
	}
	if code := c.WaitClosed(t, 5*time.Second); code != websocket.StatusNormalClosure {
		t.Errorf("the transfer closed the stream with %d, want 1000", code)
	}
	waitStreamEvent(t, sc.w, "/stream-status", "StopStream", st.StreamID, 5*time.Second)
	sc.assertNextRan(t, sent)
	if n := kit.SpeechFramesSince(sc.cl, sent, otherTone); n > 10 {
		t.Errorf("%d frames of speech after the transfer: the old document went on", n)
	}
	assertOneEndEach(t, streamEvents(t, sc.w, "/stream-status"))
}

// TestStreamLenientClient: a Plivo-style client leaves streamId out, gives sampleRate as a
// string and no contentType, and sends messages Parley does not know or cannot parse: the
// bad ones are ignored, the socket stays up, and the rest works.
func TestStreamLenientClient(t *testing.T) {
	agent := kit.NewAgent(t, kit.PipecatSerializer, kit.WithoutStreamID())
	sc := startStreamCall(t, agent, map[string]string{"bidirectional": "true", "keepCallAlive": "true",
		"contentType": kit.PipecatSerializer.ContentType}, nextPlayed, nil)
	c := agent.WaitConn(t, 1, 10*time.Second)
	c.WaitStart(t, 5*time.Second)
	for _, junk := range []string{`not json`, `{"no":"event"}`, `{"event":"mark","mark":{"name":"x"}}`,
		`{"event":"playAudio","media":{"payload":"%%%"}}`} {
		if err := c.Send([]byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	tone := kit.EncodeAudio(kit.TonePCM(agentTone, 8000, time.Second, -10), kit.EncodingMulaw, false)
	first := time.Now()
	for i := 0; i < len(tone); i += 1600 { // 200 ms a message, all at once
		msg := `{"event":"playAudio","media":{"sampleRate":"8000","payload":"` + base64.StdEncoding.EncodeToString(tone[i:i+1600]) + `"}}`
		if err := c.Send([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Checkpoint("lenient"); err != nil {
		t.Fatal(err)
	}
	played := c.WaitEvent(t, "playedStream", 4*time.Second, nil)
	if played.Name != "lenient" || played.At.Sub(first) < 900*time.Millisecond {
		t.Errorf("playedStream %q %v after the audio was sent, want lenient after about 1 s", played.Name, played.At.Sub(first))
	}
	if _, _, n := toneSpan(sc.cl, agentTone, first); n < 40 {
		t.Errorf("the caller heard %d frames of the lenient client's audio, want about 50", n)
	}
	select {
	case <-c.Closed():
		t.Fatalf("Parley closed the socket over bad messages: %v", c.CloseErr())
	default:
	}
	endAt := time.Now()
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	sc.assertNextRan(t, endAt)
	assertNoStreamProblems(t, c)
}
