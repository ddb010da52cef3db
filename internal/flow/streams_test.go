package flow

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/stream"
	"github.com/parley-voice/parley/internal/webhook"
)

// wsAgent is a WebSocket app for stream tests: every connection it accepts is handed to the
// test, which reads its messages and answers.
type wsAgent struct {
	srv   *httptest.Server
	conns chan *agentConn
}

type agentConn struct {
	ws     *websocket.Conn
	msgs   chan map[string]any
	closed chan websocket.StatusCode // the close status Parley sent (-1: no close frame)
}

func newWSAgent(t *testing.T) *wsAgent { return startWSAgent(t, httptest.NewServer) }

func startWSAgent(t *testing.T, serve func(http.Handler) *httptest.Server) *wsAgent {
	t.Helper()
	a := &wsAgent{conns: make(chan *agentConn, 8)}
	a.srv = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := &agentConn{ws: ws, msgs: make(chan map[string]any, 10000), closed: make(chan websocket.StatusCode, 1)}
		a.conns <- c
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				c.closed <- websocket.CloseStatus(err)
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				c.msgs <- m
			}
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *wsAgent) url() string {
	u := strings.Replace(a.srv.URL, "http", "ws", 1) // http -> ws, https -> wss
	return u + "/ws?k=secret"
}

func (a *wsAgent) accept(t *testing.T) *agentConn {
	t.Helper()
	select {
	case c := <-a.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no WebSocket connection")
		return nil
	}
}

// next returns the next message of the event, skipping the others.
func (c *agentConn) next(t *testing.T, event string) map[string]any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["event"] == event {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s message", event)
		}
	}
}

func (c *agentConn) send(t *testing.T, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	if err := c.ws.Write(context.Background(), websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
}

func (c *agentConn) waitClosed(t *testing.T) websocket.StatusCode {
	t.Helper()
	select {
	case code := <-c.closed:
		return code
	case <-time.After(5 * time.Second):
		t.Fatal("Parley did not close the socket")
		return 0
	}
}

// toneMedia counts the media messages whose μ-law payload carries freq, until want of them
// have come or within has passed.
func toneMedia(t *testing.T, c *agentConn, freq float64, want int, within time.Duration) int {
	t.Helper()
	n := 0
	deadline := time.After(within)
	for n < want {
		select {
		case m := <-c.msgs:
			if m["event"] != "media" {
				continue
			}
			md, _ := m["media"].(map[string]any)
			payload, _ := base64.StdEncoding.DecodeString(fmt.Sprint(md["payload"]))
			pcm := make([]int16, len(payload))
			media.PCMU.Decode(pcm, payload)
			if media.ToneDBFS(pcm, freq) > -30 {
				n++
			}
		case <-deadline:
			return n
		}
	}
	return n
}

func playAudio(freq float64, d time.Duration) map[string]any {
	pcm := media.ReadAll(media.Tone(freq, d, -10), 0)
	payload := make([]byte, len(pcm))
	media.PCMU.Encode(payload, pcm)
	return map[string]any{"event": "playAudio", "media": map[string]any{"contentType": "audio/x-mulaw", "sampleRate": 8000,
		"payload": base64.StdEncoding.EncodeToString(payload)}}
}

// streamNotes returns the stream callbacks queued so far.
func (f *fakeWeb) streamNotes(path string) []webhook.Notification {
	var out []webhook.Notification
	for _, n := range f.notifications() {
		if strings.HasSuffix(n.URL, path) {
			out = append(out, n)
		}
	}
	return out
}

func events(ns []webhook.Notification) string {
	var e []string
	for _, n := range ns {
		e = append(e, n.Params.Get("Event"))
	}
	return strings.Join(e, ",")
}

func waitEvents(t *testing.T, web *fakeWeb, path, want string) []webhook.Notification {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns := web.streamNotes(path)
		if events(ns) == want {
			return ns
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream callbacks %q, want %q", events(ns), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func toneWritten(leg *calltest.Leg, freq float64) int {
	n := 0
	for _, p := range leg.RTP.Written() {
		if p.PayloadType != 0 {
			continue
		}
		f := make([]int16, len(p.Payload))
		media.PCMU.Decode(f, p.Payload)
		if media.ToneDBFS(f, freq) > -30 {
			n++
		}
	}
	return n
}

// A blocking bidirectional <Stream> answers the call, carries audio and DTMF both ways, sends
// its callbacks through the Notifier, and when the app closes, the next element runs.
func TestStreamElementBlocking(t *testing.T) {
	agent := newWSAgent(t)
	h := newHarness(t, map[string]string{"/answer": `<Response><Stream bidirectional="true" keepCallAlive="true" ` +
		`contentType="audio/x-mulaw;rate=8000" statusCallbackUrl="/status" extraHeaders="session_id=abc,bad key=x">` +
		strings.ReplaceAll(agent.url(), "&", "&amp;") + `</Stream><Speak>after</Speak></Response>`})
	h.runner.Streams = &Streams{Notifier: h.web}
	h.start("")
	c := agent.accept(t)
	start := c.next(t, "start")
	if answered, _, _, _ := h.leg.State(); !answered {
		t.Fatal("the stream started on an unanswered call")
	}
	streamID := start["streamId"].(string)

	// The caller's audio in 30 ms packets reaches the app as 20 ms frames, none lost.
	tone := media.ReadAll(media.Tone(400, 300*time.Millisecond, -10), 0)
	for f := range slices.Chunk(tone, 240) {
		h.leg.RTP.ReceiveAudio(f)
	}
	if n := toneMedia(t, c, 400, 15, 3*time.Second); n != 15 {
		t.Errorf("the app got %d media frames of the caller's tone, want all 15", n)
	}

	// DTMF both ways: a key the caller presses, digits the app sends.
	h.leg.RTP.ReceiveDigit('5', 1000)
	if d := c.next(t, "dtmf")["dtmf"].(map[string]any)["digit"]; d != "5" {
		t.Errorf("dtmf digit %v, want 5", d)
	}
	c.send(t, map[string]any{"event": "sendDTMF", "dtmf": "1"})
	waitFor(t, "the app's sendDTMF on the leg", func() bool {
		for _, p := range h.leg.RTP.Written() {
			if p.PayloadType == calltest.TelephoneEventPT {
				return true
			}
		}
		return false
	})

	// The app's audio reaches the caller, and the checkpoint is acknowledged once played.
	c.send(t, playAudio(1000, 400*time.Millisecond))
	c.send(t, map[string]any{"event": "checkpoint", "name": "cp"})
	if name := c.next(t, "playedStream")["name"]; name != "cp" {
		t.Errorf("playedStream name %v", name)
	}
	if n := toneWritten(h.leg, 1000); n < 18 {
		t.Errorf("the caller got %d frames of the app's tone, want 20", n)
	}

	// The app closes: the document goes on with Speak, then ends with 4010.
	_ = c.ws.Close(websocket.StatusNormalClosure, "done")
	before := toneWritten(h.leg, 500)
	o := h.wait(t)
	if o.Cause.Code != call.CauseEndOfXML.Code {
		t.Errorf("outcome %d, want 4010", o.Cause.Code)
	}
	if toneWritten(h.leg, 500) < before+10 {
		t.Error("the Speak after the stream did not play")
	}

	ns := waitEvents(t, h.web, "/status", "StartStream,PlayedStream,DroppedStream")
	for _, n := range ns {
		p := n.Params
		want := map[string]string{"StreamID": streamID, "CallUUID": h.call.UUID(), "From": "14155550100", "To": "14155550199",
			"ParentAuthID": "MA_T", "ServiceURL": agent.url(), "status_callback_url": base + "/status", "status_callback_method": "POST",
			"X-VH-session_id": "abc", "extraHeaders": "session_id=abc,bad key=x", "contentType": "audio/x-mulaw;rate=8000",
			"bidirectional": "true", "keepCallAlive": "true", "audioTrack": "inbound"}
		for k, v := range want {
			if p.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", p.Get("Event"), k, p.Get(k), v)
			}
		}
		if _, err := time.Parse(streamTimeLayout, p.Get("Timestamp")); err != nil {
			t.Errorf("%s: Timestamp %q", p.Get("Event"), p.Get("Timestamp"))
		}
		if _, ok := p["Error"]; !ok {
			t.Errorf("%s: no Error parameter", p.Get("Event"))
		}
		if n.OrderKey != h.call.UUID() || n.AuthID != "MA_T" || n.Method != "POST" {
			t.Errorf("%s: notification %+v", p.Get("Event"), n)
		}
	}
	if ns[1].Params.Get("Name") != "cp" || ns[2].Params.Get("Error") != stream.ErrorDropped || ns[0].Params.Get("Error") != "" {
		t.Errorf("PlayedStream %v, DroppedStream %v", ns[1].Params, ns[2].Params)
	}
}

// A background <Stream> lets the document go on at once; the call's end stops it
// (StopStream, close 1000), and the call's streams are forgotten once they have ended.
func TestStreamElementBackgroundEndsWithCall(t *testing.T) {
	agent := newWSAgent(t)
	h := newHarness(t, map[string]string{"/answer": `<Response><Stream statusCallbackUrl="` + base + `/status" statusCallbackMethod="GET">` +
		strings.ReplaceAll(agent.url(), "&", "&amp;") + `</Stream><Wait length="1"/></Response>`})
	streams := &Streams{Notifier: h.web}
	h.runner.Streams = streams
	h.start("")
	c := agent.accept(t)
	c.next(t, "start")
	if len(streams.List(h.call.UUID())) != 1 {
		t.Fatal("the element's stream is not listed")
	}
	o := h.wait(t)
	if o.Cause.Code != call.CauseEndOfXML.Code {
		t.Errorf("outcome %d, want 4010: the background stream must not hold the document", o.Cause.Code)
	}
	if code := c.waitClosed(t); code != websocket.StatusNormalClosure {
		t.Errorf("close status %d, want 1000", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	streams.AwaitCallEnd(ctx, h.call.UUID())
	if ctx.Err() != nil {
		t.Fatal("AwaitCallEnd did not return")
	}
	// AwaitCallEnd returns only after the end event is queued: no waiting needed here.
	ns := h.web.streamNotes("/status")
	if events(ns) != "StartStream,StopStream" || ns[1].Method != "GET" {
		t.Fatalf("callbacks %q (method %s), want StartStream,StopStream by GET", events(ns), ns[len(ns)-1].Method)
	}
	if l := streams.List(h.call.UUID()); len(l) != 0 {
		t.Errorf("the ended call still lists %d streams", len(l))
	}
	if _, err := streams.Start(h.call, StreamRequest{URL: agent.url()}); !errors.Is(err, ErrStreamCallEnded) {
		t.Errorf("start on an ended call: %v", err)
	}
}

// A transfer stops a blocking stream (StopStream) and runs the new document.
func TestStreamElementStoppedByTransfer(t *testing.T) {
	agent := newWSAgent(t)
	h := newHarness(t, map[string]string{
		"/answer": `<Response><Stream keepCallAlive="true" statusCallbackUrl="/status">` + strings.ReplaceAll(agent.url(), "&", "&amp;") + `</Stream></Response>`,
		"/t":      `<Response><Hangup/></Response>`,
	})
	h.runner.Streams = &Streams{Notifier: h.web}
	h.start("")
	c := agent.accept(t)
	c.next(t, "start")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.runner.Transfer(ctx, h.call.UUID(), base+"/t", "POST"); err != nil {
		t.Fatal(err)
	}
	if o := h.wait(t); o.Cause.Code != call.CauseNormalHangup.Code {
		t.Errorf("outcome %d: the transfer document did not run", o.Cause.Code)
	}
	if code := c.waitClosed(t); code != websocket.StatusNormalClosure {
		t.Errorf("close status %d, want 1000", code)
	}
	waitEvents(t, h.web, "/status", "StartStream,StopStream")
}

// REST-style use: several streams per call, the URL rule, list, get, stop, stop all.
func TestStreamsRegistry(t *testing.T) {
	agent := newWSAgent(t)
	h := newHarness(t, nil)
	_ = h.call.Answer(context.Background())
	m := &Streams{Notifier: h.web}
	one, err := m.Start(h.call, StreamRequest{URL: agent.url(), UniqueURL: true, ContentType: "audio/x-foo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(h.call, StreamRequest{URL: agent.url(), UniqueURL: true}); !errors.Is(err, ErrStreamURLInUse) {
		t.Fatalf("second stream on the same URL: %v, want ErrStreamURLInUse", err)
	}
	other := agent.url() + "&two"
	two, err := m.Start(h.call, StreamRequest{URL: other, UniqueURL: true, AudioTrack: stream.TrackBoth})
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := agent.accept(t), agent.accept(t)
	c1.next(t, "start")
	c2.next(t, "start")

	list := m.List(h.call.UUID())
	if len(list) != 2 || list[0].ID != one.ID() || list[1].ID != two.ID() || list[0].Status != StreamInProgress {
		t.Fatalf("list %+v", list)
	}
	if list[0].Format != stream.DefaultFormat {
		t.Errorf("an unknown contentType gives %v, want the default", list[0].Format)
	}
	if err := m.Stop(context.Background(), h.call.UUID(), one.ID()); err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(h.call.UUID(), one.ID())
	if err != nil || got.Status != StreamCompleted || got.End.IsZero() {
		t.Fatalf("stopped stream %+v, %v", got, err)
	}
	if err := m.Stop(context.Background(), h.call.UUID(), one.ID()); !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("second stop: %v", err)
	}
	if _, err := m.Get("other-call", two.ID()); !errors.Is(err, ErrStreamNotFound) {
		t.Errorf("stream of another call: %v", err)
	}
	// The URL is free again once its stream has ended.
	three, err := m.Start(h.call, StreamRequest{URL: agent.url(), UniqueURL: true})
	if err != nil {
		t.Fatalf("restart on a freed URL: %v", err)
	}
	agent.accept(t).next(t, "start")
	m.StopAll(context.Background(), h.call.UUID())
	for _, s := range []*stream.Session{one, two, three} {
		if s.EndReason() != stream.EndStopped {
			t.Errorf("stream %s ended with %v after StopAll", s.ID(), s.EndReason())
		}
	}
}

// A stream on a call whose output another owner holds (a conference room, a Dial bridge with
// 30 ms packets): the outbound track is what that owner sends, the app's audio is mixed into
// it, and neither loses samples to the frame sizes.
func TestStreamOnTakenOutput(t *testing.T) {
	agent := newWSAgent(t)
	h := newHarness(t, nil)
	_ = h.call.Answer(context.Background())
	out, err := h.call.TakeOutput()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	before := len(h.leg.RTP.Written())
	m := &Streams{}
	listen, err := m.Start(h.call, StreamRequest{URL: agent.url(), AudioTrack: stream.TrackOutbound, ContentType: "audio/x-mulaw"})
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Stop()
	talk, err := m.Start(h.call, StreamRequest{URL: agent.url() + "&talk", Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer talk.Stop()
	cl, ct := agent.accept(t), agent.accept(t)
	first := cl.next(t, "start")["start"].(map[string]any)
	ct.next(t, "start")
	if fmt.Sprint(first["tracks"]) != "[outbound]" {
		cl, ct = ct, cl
	}
	ct.send(t, playAudio(1000, 600*time.Millisecond))
	waitFor(t, "the playout to fill", func() bool { return talk.Stats().Playout > 500*time.Millisecond })

	// The owner sends 300 ms of 700 Hz in 30 ms packets.
	tone := media.ReadAll(media.Tone(700, 300*time.Millisecond, -10), 0)
	payload := make([]byte, 240)
	for f := range slices.Chunk(tone, 240) {
		media.PCMU.Encode(payload, f)
		if err := out.WriteFrame(payload); err != nil {
			t.Fatal(err)
		}
	}
	if n := toneMedia(t, cl, 700, 15, 3*time.Second); n != 15 {
		t.Errorf("the outbound track carried %d frames of the owner's tone, want all 15", n)
	}
	var written []int16
	for _, p := range h.leg.RTP.Written()[before:] {
		f := make([]int16, len(p.Payload))
		media.PCMU.Decode(f, p.Payload)
		written = append(written, f...)
	}
	if len(written) != len(tone) {
		t.Fatalf("%d samples written, want %d", len(written), len(tone))
	}
	if lvl := media.ToneDBFS(written, 1000); lvl < -20 {
		t.Errorf("the app's 1 kHz is at %.1f dBFS in what the owner sent, want it mixed in", lvl)
	}
	// 300 ms of 600 ms was pulled in 240-sample steps: the rest is still queued, whole.
	if p := talk.Stats().Playout; p < 280*time.Millisecond || p > 320*time.Millisecond {
		t.Errorf("%v of playout left, want 300 ms", p)
	}
}

func TestFrameChunker(t *testing.T) {
	var got [][]int16
	ch := &frameChunker{push: func(f []int16) { got = append(got, slices.Clone(f)) }}
	var in []int16
	for i := range 1000 {
		in = append(in, int16(i))
	}
	for _, n := range []int{240, 80, 240, 7, 273, 160} {
		ch.write(in[:n])
		in = in[n:]
	}
	if len(got) != 6 {
		t.Fatalf("%d frames from 1000 samples, want 6", len(got))
	}
	for i, f := range got {
		if len(f) != media.FrameSamples || f[0] != int16(i*160) || f[159] != int16(i*160+159) {
			t.Fatalf("frame %d = %v…, want samples from %d in order", i, f[:3], i*160)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Configure adjusts every session: here, the app's opt-out of certificate checks lets a stream
// reach a wss:// app with a self-signed certificate.
func TestStreamsConfigureReachesSessions(t *testing.T) {
	agent := startWSAgent(t, httptest.NewTLSServer)
	h := newHarness(t, nil)
	_ = h.call.Answer(context.Background())
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	m := &Streams{Configure: func(_ *call.Call, c *stream.Config) { c.HTTPClient = insecure }}
	s, err := m.Start(h.call, StreamRequest{URL: agent.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(agent.url(), "wss://") {
		t.Fatalf("agent URL %s", agent.url())
	}
	agent.accept(t).next(t, "start")
}
